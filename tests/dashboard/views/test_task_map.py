"""AppTest of the Task map page (dashboard/views/task_map.py): regions, the rule controls, filters,
selections and their hand-off to Curate."""

from __future__ import annotations

import pandas as pd

from core.config import RegionRule
from core.taskmap.regions import assign_regions, region_counts
from tests.dashboard.helpers import assert_clean, chart_points, charts, metric_values, shown, texts


def test_map_shows_regions_counts_and_points(app, home):
    app.run()
    assert_clean(app)
    expected = region_counts(home.tasks["region"])
    assert metric_values(app) == {name: str(n) for name, n in expected.items()}
    (spec,) = charts(app)
    points = chart_points(spec)
    assert sorted(t for ids in points.values() for t in ids) == sorted(home.tasks["task_id"])
    labels = {a["text"] for a in spec["layout"]["annotations"]}
    assert {"<b>ambiguous</b>", "<b>easy</b>", "<b>difficult</b>"} <= labels
    assert spec["layout"]["dragmode"] == "select"
    assert "0 selected tasks" in texts(app)



def test_rule_controls_recolour_the_map(app, home):
    app.run()
    app.slider(key="rule_ambiguous_frac__widget").set_value(0.4).run()
    assert_clean(app)
    assert metric_values(app)["ambiguous"] == str(round(0.4 * len(home.tasks)))
    points = chart_points(charts(app)[0])
    assert len(points[f"ambiguous ({round(0.4 * len(home.tasks))})"]) == round(0.4 * len(home.tasks))
    # the rule is shared: Policies sees the same regions
    app.switch_page("views/policies.py").run()
    assert app.session_state["rule_ambiguous_frac"] == 0.4
    assert app.slider(key="rule_ambiguous_frac__widget").value == 0.4



def test_threshold_rule_and_invalid_rule(app, home):
    app.run()
    app.radio(key="rule_method__widget").set_value("threshold").run()
    assert_clean(app)
    assert len(app.number_input) == 4
    expected = region_counts(assign_regions(home.tasks, RegionRule(method="threshold")))
    assert metric_values(app) == {k: str(v) for k, v in expected.items()}
    app.radio(key="rule_method__widget").set_value("rank").run()
    app.slider(key="rule_ambiguous_frac__widget").set_value(0.6).run()
    app.slider(key="rule_easy_frac__widget").set_value(0.6).run()
    assert any("Region rule not applied" in shown(e.value) for e in app.error)
    assert metric_values(app)["ambiguous"] == str(region_counts(home.tasks["region"])["ambiguous"])



def test_filters_hide_tasks_but_keep_counts(app, home):
    app.run()
    app.multiselect(key="map_kinds__widget").set_value(["classification"]).run()
    assert_clean(app)
    n_cls = int((home.tasks["kind"] == "classification").sum())
    points = chart_points(charts(app)[0])
    assert sum(len(v) for v in points.values()) == n_cls
    assert f"showing {n_cls} of {len(home.tasks)} tasks" in texts(app)
    app.text_input(key="map_search__widget").input("parity").run()
    points = chart_points(charts(app)[0])
    assert [t for ids in points.values() for t in ids] == ["taskmap006_number_parity"]
    app.multiselect(key="map_kinds__widget").set_value([]).run()
    app.text_input(key="map_search__widget").input("").run()
    category = "Mathematics"
    app.multiselect(key="map_categories__widget").set_value([category]).run()
    shown = [t for ids in chart_points(charts(app)[0]).values() for t in ids]
    assert sorted(shown) == sorted(home.tasks[home.tasks["category"] == category]["task_id"])



def test_selection_fills_table_and_goes_to_curate(app, home):
    chosen = list(home.tasks.nlargest(3, "pu")["task_id"])
    app.session_state["map_selection"] = chosen
    app.run()
    assert_clean(app)
    assert "3 selected tasks" in texts(app)
    table = app.dataframe[0].value
    assert list(table["task_id"]) == chosen
    assert list(table["region"]) == list(home.tasks.set_index("task_id").loc[chosen, "region"])
    app.button(key="send_selection").click().run()
    assert_clean(app)
    assert app.title[0].value == "Curate"
    assert "3 task(s) added from the map" in texts(app)
    (editor,) = app.data_editor
    assert list(editor.value["task_id"]) == chosen
    assert editor.value["include"].all()



def test_map_of_a_loop_round(app, home):
    app.run()
    option = "loop-uncertainty-s0 · round 2"
    app.selectbox(key="map_round__widget").set_value(option).run()
    assert_clean(app)
    assert option in texts(app)
    round_table = pd.read_parquet(home.loop_runs[0].round_dir(2) / "taskmap.parquet")
    points = chart_points(charts(app)[0])
    assert sorted(t for ids in points.values() for t in ids) == sorted(round_table["task_id"])



def test_broken_table_shows_a_message_not_a_traceback(app, home):
    (home.scored_set / "tasks.parquet").write_bytes(b"not parquet")
    app.run()
    assert not app.exception
    assert any("Could not show the task map" in shown(e.value) for e in app.error)



def test_no_scored_set_explains_what_to_do(app, home, tmp_path, monkeypatch):
    empty = tmp_path / "empty-home"
    empty.mkdir()
    monkeypatch.setenv("TASKMAP_HOME", str(empty))
    app.run()
    assert_clean(app)
    assert "No scored set yet" in texts(app)



def test_clear_selection_resets_table_and_chart(app, home):
    app.session_state["map_selection"] = list(home.tasks["task_id"].iloc[:2])
    app.run()
    assert "2 selected tasks" in texts(app)
    app.button(key="clear_selection").click().run()
    assert_clean(app)
    assert "0 selected tasks" in texts(app)
    assert app.session_state["map_version"] == 1  # the chart is drawn fresh, without the old selection

