"""Figure builders of the dashboard, tested as plain functions (no Streamlit)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.taskmap.regions import REGIONS, RegionRule, assign_regions
from dashboard.figures import (aggregate_curves, drift_figure, drift_summary, findings_bar_figure, findings_summary,
                               latest_attempt, loss_figure, map_figure, perturbation_figure, policy_curves_figure, region_mix,
                               region_mix_figure, rouge_figure, selected_task_ids)
from dashboard.text import escape, marked_definition, perturbation_lines
from tests.dashboard.fixtures import make_scored_set


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    path = make_scored_set(tmp_path_factory.mktemp("results"))
    return path, pd.read_parquet(path / "tasks.parquet"), pd.read_parquet(path / "sequences.parquet")


def points_of(fig):
    return [t for t in fig.data if t.type in ("scatter", "scattergl")]


def test_map_regions_axis_hover_and_task_ids(scored):
    _, tasks, _ = scored
    fig = map_figure(tasks, RegionRule())
    traces = points_of(fig)
    assert {t.name.split(" ")[0] for t in traces} == {r for r in REGIONS if (tasks["region"] == r).any()}
    # every point carries its task id in customdata[0] and sits at cbrt(PU)
    ids = [row[0] for t in traces for row in t.customdata]
    assert sorted(ids) == sorted(tasks["task_id"])
    by_id = tasks.set_index("task_id")
    for t in traces:
        region = t.name.split(" ")[0]
        ids = [row[0] for row in t.customdata]
        np.testing.assert_allclose(t.x, np.cbrt(by_id.loc[ids, "pu"]))
        assert (by_id.loc[ids, "region"] == region).all()
        assert t.name == f"{region} ({len(ids)})"
    assert fig.data[0].type == "heatmap"  # shading first, behind the points
    assert {"<b>ambiguous</b>", "<b>easy</b>", "<b>difficult</b>"} <= {a.text for a in fig.layout.annotations}
    ticks = dict(zip(fig.layout.xaxis.ticktext, fig.layout.xaxis.tickvals))
    assert ticks["0.1"] == pytest.approx(0.1 ** (1 / 3))
    assert "cube-root" in fig.layout.xaxis.title.text
    hover = traces[0].hovertemplate
    assert "customdata[0]" in hover and "PU" in hover and "PP" in hover and "region" in hover


def test_filtered_map_keeps_whole_set_shading_and_axis(scored):
    _, tasks, _ = scored
    full = map_figure(tasks, RegionRule())
    shown = tasks[tasks["kind"] == "classification"]
    part = map_figure(tasks, RegionRule(), shown=shown)
    assert sum(len(t.x) for t in points_of(part)) == len(shown)
    assert tuple(part.layout.xaxis.range) == tuple(full.layout.xaxis.range)
    np.testing.assert_array_equal(np.asarray(part.data[0].z), np.asarray(full.data[0].z))


def test_map_highlight_outlines_chosen_tasks(scored):
    _, tasks, _ = scored
    chosen = set(tasks.nlargest(5, "pu")["task_id"])
    fig = map_figure(tasks, RegionRule(), highlight=chosen)
    outlined = {row[0] for t in points_of(fig) for row, width in zip(t.customdata, t.marker.line.width) if width > 0}
    assert outlined == chosen


def test_rule_change_recolours(scored):
    _, tasks, _ = scored
    wide = RegionRule(ambiguous_frac=0.4, easy_frac=0.1, difficult_frac=0.1)
    retagged = tasks.assign(region=assign_regions(tasks, wide))
    fig = map_figure(retagged, wide)
    counts = {t.name.split(" ")[0]: len(t.x) for t in points_of(fig)}
    assert counts["ambiguous"] == round(0.4 * len(tasks))


def test_selected_task_ids_come_from_customdata_not_point_index():
    points = [{"curve_number": 2, "point_index": 0, "customdata": ["task_b", "Cat", "generation"]},
              {"curve_number": 1, "point_index": 0, "customdata": ["task_a", "Cat", "classification"]},
              {"curve_number": 2, "point_index": 0, "customdata": ["task_b"]},
              {"curve_number": 0, "point_index": 5}]
    assert selected_task_ids(points) == ["task_b", "task_a"]
    assert selected_task_ids([]) == []


def test_perturbation_figure_one_line_per_instance_and_p0(scored):
    _, tasks, seqs = scored
    task_id = tasks["task_id"].iloc[0]
    rows = seqs[seqs["task_id"] == task_id]
    fig = perturbation_figure(rows)
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert len(lines) == rows["instance_id"].nunique() == 3
    for line in lines:
        mine = rows[rows["instance_id"] == line.name].sort_values("perturbation")
        assert list(line.x) == [0, 1, 2, 3]
        np.testing.assert_allclose(line.y, mine["prob"])
        p0 = mine["prob"].iloc[0]
        np.testing.assert_allclose(np.asarray(line.customdata)[:, 0], (mine["prob"] - p0).abs())
    p0_trace = fig.data[-1]
    assert p0_trace.marker.symbol == "diamond" and list(p0_trace.x) == [0, 0, 0]


def test_marked_definition_strikes_dropped_words_and_escapes():
    html = marked_definition("Answer with <b>yes</b> or *no*", [1, 3])
    assert html.count("line-through") == 2
    assert "<b>" not in html and "&#60;b&#62;" in html and "&#42;no&#42;" in html
    assert html.split(" ")[0] == "Answer"
    lines = perturbation_lines("a b c d", {1: [0], 2: [1, 2]})
    assert "j = 1" in lines and "(1 of 4 words dropped)" in lines and "(2 of 4 words dropped)" in lines
    assert escape("[x](http://e)") == "&#91;x&#93;&#40;http&#58;//e&#41;"


def test_aggregate_curves_mean_and_band():
    points = pd.DataFrame(
        [{"policy": "uncertainty", "n_tasks": n, "value": v} for n, vs in ((8, (40, 42, 44)), (16, (45, 45, 48)))
         for v in vs] + [{"policy": "random", "n_tasks": 8, "value": 41.0}])
    curves = aggregate_curves(points, "std").set_index(["policy", "n_tasks"])
    assert curves.loc[("uncertainty", 8), "mean"] == pytest.approx(42.0)
    assert curves.loc[("uncertainty", 8), "hi"] - curves.loc[("uncertainty", 8), "mean"] == pytest.approx(2.0)
    assert curves.loc[("uncertainty", 16), "n"] == 3
    assert curves.loc[("random", 8), "lo"] == curves.loc[("random", 8), "hi"] == 41.0  # one seed: no band
    minmax = aggregate_curves(points, "minmax").set_index(["policy", "n_tasks"])
    assert (minmax.loc[("uncertainty", 16), "lo"], minmax.loc[("uncertainty", 16), "hi"]) == (45, 48)


def test_policy_curves_figure_draws_band_and_mean_line():
    points = pd.DataFrame([{"policy": "uncertainty", "n_tasks": n, "value": 40 + n / 4 + s}
                           for n in (8, 16, 24) for s in (0, 1, 2)])
    fig = policy_curves_figure(points, "rougeL", "std")
    band, line = fig.data
    assert band.fill == "toself" and len(band.x) == 6
    np.testing.assert_allclose(line.y, [41 + n / 4 for n in (8, 16, 24)])
    np.testing.assert_allclose(band.y[:3], np.asarray(line.y) + 1.0)  # std of (0, 1, 2) is 1
    assert "ROUGE-L" in fig.layout.yaxis.title.text


def test_findings_bar_mean_std_in_paper_order():
    results = pd.DataFrame([{"subset": s, "seed": seed, "rougeL": base + seed}
                            for s, base in (("random", 39), ("difficult", 35), ("ambiguous", 41), ("easy", 38))
                            for seed in (0, 1, 2)])
    summary = findings_summary(results)
    assert list(summary["subset"]) == ["ambiguous", "easy", "difficult", "random"]
    assert summary.set_index("subset").loc["ambiguous", "mean"] == pytest.approx(42.0)
    fig = findings_bar_figure(results)
    np.testing.assert_allclose(fig.data[0].error_y.array, [1.0] * 4)


def test_drift_frames_one_per_round_with_trained_tasks_marked(scored):
    _, tasks, _ = scored
    rounds = {}
    for r in range(3):
        table = tasks.copy()
        table["pu"] = table["pu"] * (1 - 0.2 * r)
        table["selected_before"] = table["task_id"].isin(tasks["task_id"].iloc[: 5 * r])
        table["region"] = assign_regions(table)
        rounds[r] = table
    fig = drift_figure(rounds)
    assert [f.name for f in fig.frames] == ["0", "1", "2"]
    assert [s.label for s in fig.layout.sliders[0].steps] == ["round 0", "round 1", "round 2"]
    for r, frame in zip(range(3), fig.frames):
        trained = frame.data[-1]
        assert len(trained.x) == 5 * r and trained.name == "trained before this round"
        assert sum(len(t.x) for t in frame.data) == len(tasks)
        np.testing.assert_allclose(sorted(np.concatenate([t.x for t in frame.data])), sorted(np.cbrt(rounds[r]["pu"])))
    summary = drift_summary(rounds)
    assert list(summary["trained before"]) == [0, 5, 10]


def test_run_charts_and_region_mix():
    train = pd.DataFrame({"round": [0, 0, 1, 1], "step": [1, 2, 1, 2], "loss": [2.0, 1.5, 1.9, 1.2]})
    fig = loss_figure(train)
    assert [t.name for t in fig.data] == ["round 0", "round 1"]
    evals = pd.DataFrame({"round": [-1, 0, 1], "n_tasks": [0, 8, 16], "rougeL": [20.0, 30.0, 35.0],
                          "rougeL_classification": [25.0, 33.0, 37.0], "rougeL_generation": [18.0, 28.0, 33.0]})
    fig = rouge_figure(evals)
    assert [t.name for t in fig.data] == ["overall", "classification", "generation"]
    assert list(fig.data[0].x) == [0, 8, 16] and list(fig.data[0].y) == [20.0, 30.0, 35.0]
    counts = region_mix(pd.Series(["ambiguous", "ambiguous", "easy"]))
    assert counts == {"ambiguous": 2, "easy": 1, "difficult": 0, "other": 0}
    assert list(region_mix_figure(counts).data[0].y) == [2, 1, 0, 0]


def test_resumed_rounds_show_only_the_latest_attempt():
    evals = pd.DataFrame({"round": [0, 1, 1, 2], "n_tasks": [8, 16, 16, 24], "rougeL": [30.0, 31.0, 33.0, 35.0],
                          "attempt": [1, 1, 2, 2]})
    kept = latest_attempt(evals, ["round"])
    assert list(kept["rougeL"]) == [30.0, 33.0, 35.0]
    assert list(rouge_figure(evals).data[0].y) == [30.0, 33.0, 35.0]
    train = pd.DataFrame({"round": [1, 1, 1], "step": [1, 2, 1], "loss": [2.0, 1.8, 1.9], "attempt": [1, 1, 2]})
    assert list(loss_figure(train).data[0].y) == [1.9]
