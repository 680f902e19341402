"""The findings experiment's chart (core.figures.findings)."""

import numpy as np
import pandas as pd
import pytest

from core.figures.findings import findings_bar_figure, findings_summary


def test_findings_bar_mean_std_in_paper_order():
    results = pd.DataFrame([{"subset": s, "seed": seed, "rougeL": base + seed}
                            for s, base in (("random", 39), ("difficult", 35), ("ambiguous", 41), ("easy", 38))
                            for seed in (0, 1, 2)])
    summary = findings_summary(results)
    assert list(summary["subset"]) == ["ambiguous", "easy", "difficult", "random"]
    assert summary.set_index("subset").loc["ambiguous", "mean"] == pytest.approx(42.0)
    fig = findings_bar_figure(results)
    np.testing.assert_allclose(fig.data[0].error_y.array, [1.0] * 4)


def test_subset_intervals_are_asymmetric_error_bars():
    from core.figures.findings import subset_ci_figure

    subsets = pd.DataFrame({"subset": ["base", "ambiguous"], "mean": [20.0, 35.0], "low": [18.0, 30.0],
                            "high": [23.0, 36.0], "n_tasks": [14, 14], "n_seeds": [0, 5]})
    bar = subset_ci_figure(subsets).data[0]
    assert list(bar.x) == ["base", "ambiguous"]
    np.testing.assert_allclose(bar.error_y.array, [3.0, 1.0])
    np.testing.assert_allclose(bar.error_y.arrayminus, [2.0, 5.0])


def test_forest_plot_rows_intervals_zero_line_and_verdict_colours():
    from core.figures.findings import VERDICT_COLORS, forest_figure

    comps = pd.DataFrame({"a": ["ambiguous", "easy"], "b": ["difficult", "base"], "diff": [2.0, -1.5],
                          "low": [0.5, -3.0], "high": [3.5, 0.2], "p_holm": [0.01, 0.3],
                          "verdict": ["ambiguous > difficult", "not separated"]})
    fig = forest_figure(comps)
    points = fig.data[0]
    assert list(points.y) == ["easy − base", "ambiguous − difficult"]  # the first comparison drawn on top
    np.testing.assert_allclose(points.x, [-1.5, 2.0])
    np.testing.assert_allclose(points.error_x.array, [1.7, 1.5])
    np.testing.assert_allclose(points.error_x.arrayminus, [1.5, 1.5])
    assert list(points.marker.color) == [VERDICT_COLORS["not separated"], VERDICT_COLORS["above"]]
    assert any(s.x0 == 0 == s.x1 for s in fig.layout.shapes)  # the line at zero
    assert [a.text for a in fig.layout.annotations] == ["not separated", "ambiguous > difficult"]


def test_category_heatmap_and_subset_map_marks():
    from core.config import RegionRule
    from core.figures.findings import category_figure, subsets_map_figure

    cats = pd.DataFrame({"category": ["QA", "NLI"], "n_tasks": [3, 1], "base": [10.0, 20.0], "ambiguous": [15.0, np.nan]})
    heat = category_figure(cats).data[0]
    assert list(heat.y) == ["QA (3)", "NLI (1)"] and list(heat.x) == ["base", "ambiguous"]
    assert heat.text[1][1] == ""  # no score: an empty cell, not "nan"
    scores = pd.DataFrame({"task_id": list("abcdef"), "pu": [0.2, 0.1, 0.01, 0.02, 0.005, 0.05],
                           "pp": [0.5, 0.6, 0.9, 0.2, 0.3, 0.7], "region": ["ambiguous", "ambiguous", "easy",
                                                                             "difficult", "difficult", "other"]})
    fig = subsets_map_figure(scores, RegionRule(), {"ambiguous": {"a", "b"}, "random": {"b", "f", "zz"}})
    marks = {t.name: [row[0] for row in t.customdata] for t in fig.data if t.name and t.name.startswith("trained:")}
    assert marks == {"trained: ambiguous (2)": ["a", "b"], "trained: random (2)": ["b", "f"]}
