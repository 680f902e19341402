"""AppTest of the Compare page (dashboard/views/compare.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.dashboard.helpers import assert_clean, charts


def compare_page(app):
    app.run()
    app.switch_page("views/compare.py").run()
    return app



def test_compare_curves_mean_over_seeds(app, home):
    compare_page(app)
    assert_clean(app)
    curves = charts(app)[0]
    lines = {t["name"]: t for t in curves["data"] if t.get("mode") == "lines+markers"}
    assert set(lines) == {"random", "uncertainty"}
    expected = {}
    for run in [*home.loop_runs, home.running]:
        policy = run.config()["policy"]
        for e in run.metrics("eval"):
            if e["round"] >= 0:
                expected.setdefault((policy, e["n_tasks"]), []).append(e["rougeL"])
    for policy, line in lines.items():
        for x, y in zip(line["x"], line["y"]):
            assert y == pytest.approx(sum(expected[(policy, x)]) / len(expected[(policy, x)]))
    assert any(t.get("fill") == "toself" for t in curves["data"])  # the spread band



def test_compare_map_drift(app, home):
    compare_page(app)
    app.selectbox(key="drift_run").set_value("loop-uncertainty-s1").run()
    app.select_slider(key="drift_round").set_value(2).run()
    assert_clean(app)
    run = [r for r in home.loop_runs if r.name == "loop-uncertainty-s1"][0]
    table = pd.read_parquet(run.round_dir(2) / "taskmap.parquet")
    drift = [c for c in charts(app) if "start of round 2" in (c["layout"].get("title") or {}).get("text", "")][0]
    outlined = {row[0] for t in drift["data"] if t["type"] == "scatter"
                for row, w in zip(t["customdata"], t["marker"]["line"]["width"]) if w > 0}
    assert outlined == set(table.loc[table["selected_before"], "task_id"])
    app.radio(key="drift_view").set_value("animation").run()
    animation = [c for c in charts(app) if c.get("frames")][0]
    assert [f["name"] for f in animation["frames"]] == ["0", "1", "2"]
    summary = app.dataframe[-1].value
    assert list(summary["trained before"]) == [0, 6, 12]

