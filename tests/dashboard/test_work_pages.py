"""AppTest of the pages that write or start things: Curate, Score, Train, Compare and findings.

Workers are never started here: `dashboard.jobs.launch_worker` is replaced by a stub that
records the run, so the tests check what the pages write (config.json) and show, not the engine.
"""

from __future__ import annotations

import json
import os
import time

import pandas as pd
import pytest

from core.config import ScoreConfig, ScoreRunConfig, run_config_to_dict
from core.loop.runs import create_run
from tests.conftest import MALFORMED
from tests.dashboard.fixtures import make_scored_set
from tests.dashboard.helpers import assert_clean, charts, shown, texts


@pytest.fixture
def launched(monkeypatch):
    """Replace the worker launch: record the runs instead of starting processes."""
    runs = []

    def fake_launch(run, python=None, extra_env=None):
        runs.append(run)
        return os.getpid()

    monkeypatch.setattr("dashboard.jobs.launch_worker", fake_launch)
    return runs


def curate_with(app, home, ids):
    app.session_state["map_selection"] = ids
    app.run()
    app.button(key="send_selection").click().run()
    assert app.title[0].value == "Curate"
    return app


# --- Curate -----------------------------------------------------------------------------------

def test_curate_edit_save_and_reload(app, home):
    ids = list(home.tasks["task_id"].iloc[:4])
    curate_with(app, home, ids)
    version = app.session_state["curate_version"]
    app.session_state[f"curate_editor_{version}"] = {
        "edited_rows": {1: {"include": False}, 2: {"notes": "label names are arbitrary"}},
        "added_rows": [], "deleted_rows": []}
    app.run()
    assert "4 tasks in the table, **3 included**" in texts(app)
    app.text_input(key="subset_name").input("my-pick").run()
    app.button(key="save_subset").click().run()
    assert_clean(app)
    path = home.root / "curated" / "my-pick.json"
    saved = json.loads(path.read_text())
    assert saved["name"] == "my-pick"
    assert saved["task_ids"] == [ids[0], ids[2], ids[3]]
    assert saved["notes"][ids[2]] == "label names are arbitrary"
    assert saved["scored_set"] == str(home.scored_set)
    assert saved["created"]
    assert f"Saved 3 tasks to {path}." in texts(app)

    # reload into an empty table
    app.button(key="clear_table").click().run()
    assert app.session_state["curate_table"].empty
    app.button(key="load_replace").click().run()
    table = app.data_editor[0].value
    assert list(table["task_id"]) == saved["task_ids"]
    assert table.set_index("task_id").loc[ids[2], "notes"] == "label names are arbitrary"


def test_curate_rejects_bad_names(app, home):
    curate_with(app, home, list(home.tasks["task_id"].iloc[:2]))
    app.text_input(key="subset_name").input("../escape").run()
    app.button(key="save_subset").click().run()
    assert any("must start with a letter or digit" in shown(e.value) for e in app.error)
    assert not list((home.root / "curated").glob("*.json"))


def test_curate_exports(app, home):
    ids = list(home.tasks["task_id"].iloc[:3])
    curate_with(app, home, ids)
    app.text_input(key="subset_name").input("three").run()
    downloads = {b.label for b in app.get("download_button")} if app.get("download_button") else set()
    assert {"NIV2 split list (.txt)", "table (.csv)"} <= {b.proto.label for b in app.get("download_button")} | downloads
    app.button(key="export_dir").click().run()
    assert_clean(app)
    out = home.root / "curated" / "three"
    files = sorted(p.name for p in (out / "tasks").glob("*.json"))
    assert files == sorted(f"{t}.json" for t in ids)
    niv2 = json.loads((out / "tasks" / f"{ids[0]}.json").read_text())
    assert niv2["Definition"] and niv2["Instances"]
    assert (out / "split.txt").read_text() == "".join(f"{t}\n" for t in ids)
    assert any(b.proto.label == "download three.zip" for b in app.get("download_button"))


def test_curate_adds_policy_picks(app, home):
    app.run()
    app.switch_page("views/policies.py").run()
    picks = app.session_state["policy_picks"]["task_ids"]
    app.switch_page("views/curate.py").run()
    app.button(key="add_picks").click().run()
    assert list(app.data_editor[0].value["task_id"]) == picks
    assert set(app.data_editor[0].value["added_from"]) == {"policy uncertainty"}


# --- Score ------------------------------------------------------------------------------------

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


# --- Train ------------------------------------------------------------------------------------

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


# --- Compare and findings --------------------------------------------------------------------------

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


def test_compare_findings_report_and_bars(app, home):
    compare_page(app)
    # the report is shown as its Markdown text (it names models and pools), never rendered as markup
    assert any("# Findings: ambiguous vs difficult" in c.value for c in app.code)
    bars = [c for c in charts(app) if c["data"] and c["data"][0]["type"] == "bar"][0]
    assert bars["data"][0]["x"] == ["ambiguous", "easy", "difficult", "random"]
    results = pd.read_parquet(home.findings.path / "findings" / "results.parquet")
    means = results.groupby("subset")["rougeL"].mean()
    assert bars["data"][0]["y"] == pytest.approx([means[s] for s in ["ambiguous", "easy", "difficult", "random"]])
    assert bars["data"][0]["error_y"]["array"] == pytest.approx([0.9] * 4)


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
