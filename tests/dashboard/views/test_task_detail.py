"""AppTest of the Task detail page (dashboard/views/task_detail.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.dashboard.helpers import assert_clean, charts, metric_values, texts


def test_task_detail_explains_the_task(app, home):
    task_id = home.tasks.nlargest(1, "pu")["task_id"].iloc[0]
    app.session_state["map_selection"] = [task_id]
    app.run()
    app.button(key="open_detail").click().run()
    assert_clean(app)
    assert app.title[0].value == "Task detail"
    row = home.tasks.set_index("task_id").loc[task_id]
    metrics = metric_values(app)
    assert metrics["prompt uncertainty (PU)"] == f"{row['pu']:.4f}"
    assert metrics["prediction probability (PP)"] == f"{row['pp']:.3f}"
    assert metrics["region"] == row["region"]
    seqs = pd.read_parquet(home.scored_set / "sequences.parquet")
    seqs = seqs[seqs["task_id"] == task_id]
    dropped = seqs[seqs["perturbation"] > 0].drop_duplicates("perturbation")["definition_dropped"]
    page = texts(app)
    assert page.count("line-through") == sum(len(d) for d in dropped)
    for j in (1, 2, 3):
        assert f"<b>j = {j}</b>" in page
    instances = app.dataframe[0].value
    assert len(instances) == 3
    assert set(instances["prediction"]) <= set(seqs["prediction"])
    p0 = seqs[seqs["perturbation"] == 0].set_index("instance_id")["prob"]
    for r in instances.itertuples():
        assert r.P_0 == pytest.approx(p0[r.instance_id])
    (spec,) = charts(app)
    assert len([t for t in spec["data"] if t.get("mode") == "lines+markers"]) == 3



def test_task_detail_picks_any_task(app, home):
    app.run()
    app.switch_page("views/task_detail.py").run()
    app.selectbox(key="detail_task__widget").set_value("taskmap028_word_count").run()
    assert_clean(app)
    assert "taskmap028_word_count" in texts(app)

