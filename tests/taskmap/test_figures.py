"""The task-map figure: cube-root PU axis, one trace per region, task ids for selections."""

import numpy as np
import pandas as pd

from core.taskmap.figures import WEBGL_ABOVE, task_map_figure
from core.taskmap.regions import RegionRule, assign_regions


def scored(n=60, seed=0):
    rng = np.random.default_rng(seed)
    tasks = pd.DataFrame({"task_id": [f"task{i}" for i in range(n)], "pu": rng.uniform(0, 0.3, n),
                          "pp": rng.uniform(0, 1, n), "perplexity": rng.uniform(1, 5, n),
                          "kind": ["classification", "generation"] * (n // 2),
                          "categories": [["Cat A", "Cat B"]] * n, "category": ["Cat A"] * n})
    tasks["region"] = assign_regions(tasks)
    return tasks


def test_regions_axis_and_hover():
    tasks = scored()
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
    hover = scatter[0].hovertemplate
    assert "PU" in hover and "PP" in hover and "region" in hover
    assert scatter[0].customdata[0][1] == "Cat A, Cat B"
    assert any(t.type == "heatmap" for t in fig.data)  # the rule's regions shaded behind the points


def test_highlight_marks_tasks():
    tasks = scored()
    fig = task_map_figure(tasks, highlight={"task0", "task1"})
    widths = [w for t in fig.data if t.type == "scatter" for w in t.marker.line.width]
    assert sum(1 for w in widths if w > 0) == 2


def test_large_maps_use_webgl():
    tasks = scored(WEBGL_ABOVE + 10)
    fig = task_map_figure(tasks, shade=False)
    assert all(t.type == "scattergl" for t in fig.data)
    assert sum(len(t.x) for t in fig.data) == len(tasks)


def test_threshold_rule_shading():
    tasks = scored()
    fig = task_map_figure(tasks, RegionRule(method="threshold"))
    assert fig.data[0].type == "heatmap"
