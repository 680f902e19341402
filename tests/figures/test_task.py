"""One task's chart and a selection's region mix (core.figures.task)."""

import numpy as np
import pandas as pd
import pytest

from core.figures.task import perturbation_figure, region_mix_figure
from core.taskmap.regions import region_counts
from tests.dashboard.fixtures import make_scored_set


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    path = make_scored_set(tmp_path_factory.mktemp("results"))
    return path, pd.read_parquet(path / "tasks.parquet"), pd.read_parquet(path / "sequences.parquet")


def points_of(fig):
    return [t for t in fig.data if t.type in ("scatter", "scattergl")]


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


def test_region_mix():
    counts = region_counts(pd.Series(["ambiguous", "ambiguous", "easy"]))
    assert counts == {"ambiguous": 2, "easy": 1, "difficult": 0, "other": 0}
    assert list(region_mix_figure(counts).data[0].y) == [2, 1, 0, 0]


def test_instance_ids_and_titles_are_escaped():
    """Instance ids are task data: the legend and hover show them as text, never as Plotly markup."""
    seqs = pd.DataFrame({"instance_id": ["<b>i1</b>"] * 3 + ["$x$ & <a href='u'>l</a>"] * 3,
                         "perturbation": [0, 1, 2] * 2, "prob": [0.5, 0.4, 0.6, 0.9, 0.8, 0.7]})
    fig = perturbation_figure(seqs)
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert sorted(t.name for t in lines) == ["&#36;x&#36; &amp; &lt;a href='u'&gt;l&lt;/a&gt;", "&lt;b&gt;i1&lt;/b&gt;"]
    for t in lines:
        assert t.meta == t.name and "%{meta}" in t.hovertemplate and "<a" not in t.hovertemplate
    assert region_mix_figure({}, title="<i>p</i>").layout.title.text == "&lt;i&gt;p&lt;/i&gt;"
