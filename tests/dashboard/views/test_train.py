"""AppTest of the Train page (dashboard/views/train.py). Workers are never started: the `launched`
fixture (conftest) records the runs instead."""

from __future__ import annotations

import json
import time

import pytest

from tests.dashboard.helpers import assert_clean, charts, shown, texts


def train_page(app):
    app.run()
    app.switch_page("views/train.py").run()
    return app



def test_train_lists_runs_and_watches_the_running_one(app, home):
    train_page(app)
    assert_clean(app)
    table = app.dataframe[0].value
    assert set(table["run"]) == {r.name for r in home.loop_runs} | {"loop-live", "findings-demo"}
    assert table.set_index("run").loc["loop-live", "state"] == "running"
    assert table.set_index("run").loc["loop-uncertainty-s0", "state"] == "done"
    assert app.selectbox(key="train_run").value == "loop-live"
    assert "Run loop-live:" in texts(app) and "**running**" in texts(app)
    loss, rouge = charts(app)
    n_train = len(home.running.metrics("train"))
    assert sum(len(t["x"]) for t in loss["data"]) == n_train
    overall = [t for t in rouge["data"] if t["name"] == "overall"][0]
    evals = home.running.metrics("eval")
    assert overall["x"] == [e["n_tasks"] for e in evals]
    assert overall["y"] == pytest.approx([e["rougeL"] for e in evals])



def test_train_cancel_writes_the_cancel_file(app, home):
    train_page(app)
    assert not home.running.cancel_path.exists()
    app.button(key="cancel-loop-live").click().run()
    assert home.running.cancel_path.exists()
    assert "Cancel requested" in texts(app)
    app.selectbox(key="train_run").set_value("loop-uncertainty-s0").run()
    assert not any(b.key == "cancel-loop-uncertainty-s0" for b in app.button)



def test_train_stale_heartbeat_reads_interrupted(app, home):
    home.running.update_status(heartbeat=time.time() - 600)
    train_page(app)
    assert app.dataframe[0].value.set_index("run").loc["loop-live", "state"] == "interrupted"



def test_train_new_chart_points_appear_on_rerun(app, home):
    train_page(app)
    before = sum(len(t["x"]) for t in charts(app)[0]["data"])
    home.running.append_metric("train", round=1, step=99, loss=0.5, lr=1e-4, epoch=2.0)
    app.run()
    assert sum(len(t["x"]) for t in charts(app)[0]["data"]) == before + 1



def test_train_start_loop(app, home, launched):
    train_page(app)
    app.selectbox(key="loop_policy").set_value("random").run()
    app.number_input(key="loop_rounds").set_value(1).run()
    app.button(key="start_run").click().run()
    assert_clean(app)
    (run,) = launched
    config = json.loads(run.config_path.read_text())
    assert config["kind"] == "loop" and config["policy"] == "random" and config["rounds"] == 1
    assert config["pool"] == ["builtin"] and config["eval_tasks"] == ["builtin"] and config["model"] == "default"
    assert config["rule"]["method"] == "rank"
    assert app.selectbox(key="train_run").value == run.name



def test_train_once_on_a_curated_subset(app, home, launched):
    ids = list(home.tasks["task_id"].iloc[:5])
    (home.root / "curated" / "five.json").write_text(json.dumps(
        {"name": "five", "task_ids": ids, "notes": {}, "scored_set": str(home.scored_set), "created": "now"}))
    train_page(app)
    app.radio(key="train_mode").set_value("Finetune once on chosen tasks").run()
    app.radio(key="once_origin").set_value("a saved Curate subset").run()
    assert_clean(app)
    app.button(key="start_run").click().run()
    (run,) = launched
    config = json.loads(run.config_path.read_text())
    assert config["rounds"] == 0 and config["initial_task_ids"] == ids and config["initial_tasks"] == 5
    assert config["pool"] == ["builtin"]



def test_train_model_path_is_confined(app, home):
    train_page(app)
    app.radio(key="train_model_kind").set_value("a local Hugging Face folder").run()
    app.text_input(key="train_model_path").input("/usr/lib").run()
    assert any("outside the folders" in shown(e.value) for e in app.error)
    assert app.button(key="start_run").disabled

