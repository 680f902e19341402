"""AppTest of the Score page (dashboard/views/score.py). Workers are never started: the `launched`
fixture (conftest) records the runs instead."""

from __future__ import annotations

import json
import os
import time

import pytest

from core.config import ScoreConfig, ScoreRunConfig, run_config_to_dict
from core.loop.runs import create_run
from tests.conftest import MALFORMED
from tests.dashboard.fixtures import make_scored_set
from tests.dashboard.helpers import assert_clean, shown, texts


def score_page(app):
    app.run()
    app.switch_page("views/score.py").run()
    return app



@pytest.mark.parametrize("typed", ["/etc", "data/../../outside", "{home}/../escape"])
def test_score_path_outside_the_roots_is_refused(app, home, typed):
    score_page(app)
    app.radio(key="score_source_kind").set_value("folder or file on this machine").run()
    app.text_input(key="score_source_path").input(typed.format(home=home.root)).run()
    assert not app.exception
    errors = [shown(e.value) for e in app.error]
    assert any("outside the folders this dashboard may read" in e for e in errors), errors
    assert str(home.root / "data") in errors[0]
    assert app.button(key="start_scoring").disabled



def test_score_symlink_out_of_the_roots_is_refused(app, home, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (home.root / "data" / "link").symlink_to(outside)
    score_page(app)
    app.radio(key="score_source_kind").set_value("folder or file on this machine").run()
    app.text_input(key="score_source_path").input("data/link").run()
    assert any("outside the folders" in shown(e.value) for e in app.error)



def test_score_extra_allowed_dir(app, home, tmp_path, monkeypatch):
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "task01_valid.json").write_bytes((MALFORMED / "task01_valid.json").read_bytes())
    monkeypatch.setenv("TASKMAP_ALLOWED_DIRS", str(extra))
    score_page(app)
    app.radio(key="score_source_kind").set_value("folder or file on this machine").run()
    app.text_input(key="score_source_path").input(str(extra)).run()
    assert_clean(app)
    assert "1 tasks" in texts(app)



def test_score_upload_malformed_file_shows_the_loader_message(app, home):
    score_page(app)
    app.radio(key="score_source_kind").set_value("upload a task file").run()
    app.file_uploader(key="score_source_upload").upload(
        "task02_not_json.json", (MALFORMED / "task02_not_json.json").read_bytes(), "application/json").run()
    assert not app.exception
    errors = [shown(e.value) for e in app.error]
    assert any("No valid task" in e and "not valid JSON" in e for e in errors), errors
    assert app.button(key="start_scoring").disabled
    assert not any((home.root / "data" / "uploads").rglob("*.json"))  # unusable uploads are not kept



def test_score_upload_file_without_definition(app, home):
    score_page(app)
    app.radio(key="score_source_kind").set_value("upload a task file").run()
    app.file_uploader(key="score_source_upload").upload(
        "task03_missing_definition.json", (MALFORMED / "task03_missing_definition.json").read_bytes()).run()
    errors = " ".join(shown(e.value) for e in app.error)
    assert "'Definition'" in errors and "missing" in errors



def test_score_upload_and_start(app, home, launched):
    score_page(app)
    app.radio(key="score_source_kind").set_value("upload a task file").run()
    app.file_uploader(key="score_source_upload").upload(
        "task01_valid.json", (MALFORMED / "task01_valid.json").read_bytes(), "application/json").run()
    assert_clean(app)
    assert "1 tasks" in texts(app)
    saved = list((home.root / "data" / "uploads").rglob("task01_valid.json"))
    assert len(saved) == 1
    app.number_input(key="score_n_perturbations").set_value(3).run()
    app.text_input(key="score_name").input("valid-upload").run()
    app.button(key="start_scoring").click().run()
    assert_clean(app)
    (run,) = launched
    config = json.loads(run.config_path.read_text())
    assert config["kind"] == "score"
    assert config["tasks"] == [str(saved[0])]
    assert config["out"] == str(home.root / "results" / "valid-upload")
    assert config["score"]["n_perturbations"] == 3 and config["score"]["model"] == "default"
    assert run.status()["state"] == "queued"
    assert f"Run {run.name}:" in texts(app)



def test_score_on_ray_workers_is_an_advanced_option(app, home, launched):
    """The scale-out fields sit in their own expander and reach the run's config as set."""
    score_page(app)
    app.number_input(key="score_workers").set_value(2).run()
    app.number_input(key="score_threads").set_value(1).run()
    assert_clean(app)
    labels = [e.label for e in app.expander]
    assert "advanced: backend and scale-out" in labels
    app.text_input(key="score_name").input("on-ray").run()
    app.button(key="start_scoring").click().run()
    assert_clean(app)
    (run,) = launched
    score = json.loads(run.config_path.read_text())["score"]
    assert (score["workers"], score["threads"], score["backend"], score["ray_address"]) == (2, 1, "torch", None)


def test_score_oversized_upload_is_refused(app, home, monkeypatch):
    monkeypatch.setattr("dashboard.paths.MAX_UPLOAD_BYTES", 10)
    score_page(app)
    app.radio(key="score_source_kind").set_value("upload a task file").run()
    app.file_uploader(key="score_source_upload").upload("task01_valid.json",
                                                        (MALFORMED / "task01_valid.json").read_bytes()).run()
    assert any("the limit is" in shown(e.value) for e in app.error)



def test_score_progress_and_open_on_map(app, home):
    out = home.root / "results" / "fresh"
    run = create_run(home.root / "runs", "score-fresh", run_config_to_dict(
        ScoreRunConfig(tasks=("builtin",), out=str(out), score=ScoreConfig(n_perturbations=3))))
    run.update_status(state="running", stage="score", progress={"done": 12, "total": 37, "unit": "tasks"},
                      pid=os.getpid(), host=os.uname().nodename, heartbeat=time.time() + 3600, message="taskmap012")
    score_page(app)
    assert_clean(app)
    (bar,) = app.get("progress")
    assert "12 / 37 tasks" in bar.proto.text
    assert "running" in texts(app)
    # the worker finishes: the set exists and the page offers it on the map
    make_scored_set(home.root / "results", "fresh")
    run.update_status(state="done", progress={"done": 37, "total": 37, "unit": "tasks"})
    app.run()
    assert "Scored set ready" in texts(app)
    app.button(key="open_scored").click().run()
    assert app.title[0].value == "Task map"
    assert app.session_state["scored_set"] == str(out.resolve())
    assert "**fresh**" in texts(app)



def test_score_worker_that_died_before_starting(app, home):
    run = create_run(home.root / "runs", "score-dead", run_config_to_dict(ScoreRunConfig(out=str(home.root / "x"))))
    (run.path / "launch.json").write_text(json.dumps({"pid": 2 ** 22 + 12345, "host": os.uname().nodename}))
    run.log_path.write_text("ModuleNotFoundError: No module named 'core.worker'\n")
    score_page(app)
    assert "failed" in texts(app)
    assert any("exited before it started" in shown(e.value) for e in app.error)
    assert "No module named 'core.worker'" in app.code[0].value

