"""The task map (core.figures.map): cube-root PU axis, one trace per region, task ids for selections,
the filtered view of the dashboard and the drift animation."""

import numpy as np
import pandas as pd
import pytest

from core.config import RegionRule
from core.figures.map import WEBGL_ABOVE, drift_figure, map_figure, task_map_figure
from core.loop.compare import drift_summary
from core.taskmap.regions import REGIONS, assign_regions
from tests.dashboard.fixtures import make_scored_set


def random_tasks(n=60, seed=0):
    rng = np.random.default_rng(seed)
    tasks = pd.DataFrame({"task_id": [f"task{i}" for i in range(n)], "pu": rng.uniform(0, 0.3, n),
                          "pp": rng.uniform(0, 1, n), "perplexity": rng.uniform(1, 5, n),
                          "kind": ["classification", "generation"] * (n // 2),
                          "categories": [["Cat A", "Cat B"]] * n, "category": ["Cat A"] * n})
    tasks["region"] = assign_regions(tasks)
    return tasks


def test_regions_axis_and_hover():
    tasks = random_tasks()
    fig = task_map_figure(tasks)
    scatter = [t for t in fig.data if t.type in ("scatter", "scattergl")]
    names = {t.name.split(" ")[0] for t in scatter}
    assert names == {"ambiguous", "easy", "difficult", "other"}
    # cube-root x axis: x values are cbrt(PU), tick labels show PU
    for trace in scatter:
        ids = [row[0] for row in trace.customdata]
        pu = tasks.set_index("task_id").loc[ids, "pu"].to_numpy()
        np.testing.assert_allclose(trace.x, np.cbrt(pu))
    ticks = dict(zip(fig.layout.xaxis.ticktext, fig.layout.xaxis.tickvals))
    assert abs(ticks["0.1"] - 0.1 ** (1 / 3)) < 1e-9
    assert "cube-root" in fig.layout.xaxis.title.text
    labels = {a.text for a in fig.layout.annotations}
    assert {"<b>ambiguous</b>", "<b>easy</b>", "<b>difficult</b>"} <= labels
    hover = scatter[0].hovertext[0]
    assert "PU" in hover and "PP" in hover and "region" in hover and "perplexity" in hover
    assert "Cat A, Cat B" in hover and scatter[0].customdata[0][0] in hover
    assert any(t.type == "heatmap" for t in fig.data)  # the rule's regions shaded behind the points


def test_highlight_marks_tasks():
    tasks = random_tasks()
    fig = task_map_figure(tasks, highlight={"task0", "task1"})
    widths = [w for t in fig.data if t.type == "scatter" for w in t.marker.line.width]
    assert sum(1 for w in widths if w > 0) == 2


def test_large_maps_use_webgl():
    tasks = random_tasks(WEBGL_ABOVE + 10)
    fig = task_map_figure(tasks, shade=False)
    assert all(t.type == "scattergl" for t in fig.data)
    assert sum(len(t.x) for t in fig.data) == len(tasks)


def test_threshold_rule_shading():
    tasks = random_tasks()
    fig = task_map_figure(tasks, RegionRule(method="threshold"))
    assert fig.data[0].type == "heatmap"


def points_of(fig):
    return [t for t in fig.data if t.type in ("scatter", "scattergl")]


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    path = make_scored_set(tmp_path_factory.mktemp("results"))
    return path, pd.read_parquet(path / "tasks.parquet"), pd.read_parquet(path / "sequences.parquet")


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
    for t in traces:  # each point's hover names its task, its scores and its region
        row = by_id.loc[t.customdata[0][0]]
        hover = t.hovertext[0]
        assert f"<b>{t.customdata[0][0]}</b>" in hover and f"PU {row['pu']:.4f}" in hover
        assert f"PP {row['pp']:.3f}" in hover and f"region: {row['region']}" in hover


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


HOSTILE = ['<b>bold</b>', '<a href="https://inj.example">link</a>', "$x^2$", "a & b", "<br>"]


def test_task_text_is_escaped_in_hover_legend_and_title_but_raw_in_customdata():
    """Plotly draws a subset of HTML (and whole-string LaTeX): task ids, categories and kinds reach
    hover text and titles only through plotly_text; customdata[0] keeps the raw id for selections."""
    from core.figures.text import plotly_text

    tasks = random_tasks(len(HOSTILE) * 2)
    tasks["task_id"] = [f"{h} {i}" for i, h in enumerate(HOSTILE * 2)]
    tasks["categories"] = [[h] for h in HOSTILE * 2]
    tasks["kind"] = HOSTILE * 2
    fig = task_map_figure(tasks, title="<i>run</i> $y$")
    assert fig.layout.title.text == "&lt;i&gt;run&lt;/i&gt; &#36;y&#36;"
    for t in points_of(fig):
        for (raw, _), hover in zip(t.customdata, t.hovertext):
            assert raw in set(tasks["task_id"])  # raw, for selections
            assert raw not in hover and plotly_text(raw) in hover
            assert "<a" not in hover and "<i>" not in hover and "$" not in hover
            assert hover.count("<b>") == 1  # only the builder's own markup
    assert plotly_text('<a href="x">&</a>') == '&lt;a href="x"&gt;&amp;&lt;/a&gt;'


def test_large_maps_send_a_short_hover_and_single_precision_points():
    tasks = random_tasks(WEBGL_ABOVE + 10)
    fig = task_map_figure(tasks, shade=False)
    for t in points_of(fig):
        assert t.x.dtype == np.float32 and t.y.dtype == np.float32
        assert t.hovertext is None  # plain ids: the hover shows customdata[0] itself
        assert "%{customdata[0]}" in t.hovertemplate and "%{customdata[1]:.4f}" in t.hovertemplate
        np.testing.assert_allclose([row[1] for row in t.customdata],
                                   tasks.set_index("task_id").loc[[row[0] for row in t.customdata], "pu"], atol=1e-6)
    tasks["task_id"] = [f"<b>{i}</b>" for i in range(len(tasks))]
    for t in points_of(task_map_figure(tasks, shade=False)):
        assert "%{hovertext}" in t.hovertemplate
        assert all(h == f"&lt;b&gt;{row[0][3:-4]}&lt;/b&gt;" for h, row in zip(t.hovertext, t.customdata))
