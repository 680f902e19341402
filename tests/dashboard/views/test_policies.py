"""AppTest of the Policies page (dashboard/views/policies.py)."""

from __future__ import annotations

from core.loop.policies import SelectionRequest, select
from tests.dashboard.helpers import assert_clean, charts, metric_values, shown


def test_policies_pick_highlight_and_compare(app, home):
    app.run()
    app.switch_page("views/policies.py").run()
    assert_clean(app)
    expected = select(home.tasks, SelectionRequest("uncertainty", 8))
    picks = app.dataframe[0].value
    assert list(picks["task_id"]) == expected.task_ids
    spec = charts(app)[0]
    outlined = {row[0] for t in spec["data"] if t["type"] == "scatter"
                for row, w in zip(t["customdata"], t["marker"]["line"]["width"]) if w > 0}
    assert outlined == set(expected.task_ids)
    assert app.session_state["policy_picks"]["task_ids"] == expected.task_ids

    app.toggle(key="compare_policies").set_value(True).run()
    app.selectbox(key="pb_policy").set_value("ambiguous").run()
    assert_clean(app)
    other = select(home.tasks, SelectionRequest("ambiguous", 8)).task_ids
    overlap = len(set(expected.task_ids) & set(other))
    metrics = metric_values(app)
    assert metrics["overlap"] == f"{overlap} tasks"
    assert metrics["Jaccard"] == f"{overlap / len(set(expected.task_ids) | set(other)):.2f}"
    mix_b = [s for s in charts(app) if s["layout"].get("title", {}).get("text") == "region mix of ambiguous"][0]
    counts = dict(zip(mix_b["data"][0]["x"], mix_b["data"][0]["y"]))
    assert counts == {"ambiguous": len(other), "easy": 0, "difficult": 0, "other": 0}

    app.button(key="send_B").click().run()
    assert app.title[0].value == "Curate"
    assert list(app.data_editor[0].value["task_id"]) == other



def test_policy_quota_and_shortfall(app, home):
    app.run()
    app.switch_page("views/policies.py").run()
    app.selectbox(key="pa_policy").set_value("difficult").run()
    app.number_input(key="pa_n").set_value(20).run()
    assert_clean(app)
    expected = select(home.tasks, SelectionRequest("difficult", 20))
    assert expected.shortfall > 0
    assert any("fewer task(s) than asked" in shown(w.value) for w in app.warning)
    app.radio(key="pa_quota").set_value("fixed share").run()
    app.slider(key="pa_share").set_value(1.0).run()
    picks = app.dataframe[0].value
    assert set(picks["kind"]) <= {"classification"}

