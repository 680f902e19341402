"""The Task map page renders a 50,000-task scored set (no timing asserted: see
benchmarks/dashboard_50k.py for the numbers)."""

from __future__ import annotations

import pandas as pd

from benchmarks.dashboard_50k import build_synthetic_set
from core.taskmap.regions import region_counts
from tests.dashboard.helpers import assert_clean, chart_points, charts, metric_values

N = 50_000


def test_map_page_renders_50k_tasks(app, home):
    scored = build_synthetic_set(home.root / "results" / "alpaca50k__synthetic", N, records_path=None)
    tasks = pd.read_parquet(scored / "tasks.parquet")
    app.session_state["scored_set"] = str(scored)
    app.run(timeout=300)
    assert_clean(app)
    assert metric_values(app) == {k: str(v) for k, v in region_counts(tasks["region"]).items()}
    (spec,) = charts(app)
    assert {t["type"] for t in spec["data"]} == {"heatmap", "scattergl"}
    points = chart_points(spec)
    assert sum(len(ids) for ids in points.values()) == N
    # a selection of a few thousand points maps back through task ids
    chosen = list(tasks["task_id"].iloc[::25])
    app.session_state["map_selection"] = chosen
    app.run(timeout=300)
    assert_clean(app)
    assert list(app.dataframe[0].value["task_id"]) == chosen
