"""The dashboard's plain modules: path confinement, job starting, the Curate table."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from core.config import ScoreRunConfig
from core.io import cache_root
from dashboard import curation, jobs
from dashboard.paths import PathNotAllowed, allowed_roots, check_name, confine


@pytest.fixture
def project(tmp_path, monkeypatch):
    home = tmp_path / "home"
    for name in ("data", "results", "runs", "curated"):
        (home / name).mkdir(parents=True)
    monkeypatch.setenv("TASKMAP_HOME", str(home))
    monkeypatch.delenv("TASKMAP_ALLOWED_DIRS", raising=False)
    return home


def test_confine_accepts_the_project_folders_and_the_cache(project):
    assert confine("data") == project / "data"
    assert confine(str(project / "results" / "x")) == project / "results" / "x"
    assert confine(cache_root() / "models") == (cache_root() / "models").resolve()
    assert set(allowed_roots()) >= {project / "data", project / "runs", project / "curated", cache_root().resolve()}


@pytest.mark.parametrize("typed", ["/etc/passwd", "..", "data/../..", "data/../../home/x", "~"])
def test_confine_refuses_everything_else(project, typed):
    with pytest.raises(PathNotAllowed, match="outside the folders"):
        confine(typed)


def test_confine_resolves_symlinks(project, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (project / "data" / "link").symlink_to(outside)
    with pytest.raises(PathNotAllowed):
        confine("data/link")
    (project / "data" / "real").mkdir()
    (project / "runs" / "inside-link").symlink_to(project / "data" / "real")
    assert confine("runs/inside-link") == project / "data" / "real"


def test_extra_allowed_dirs(project, tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    monkeypatch.setenv("TASKMAP_ALLOWED_DIRS", f"{a}{os.pathsep}{b}")
    assert confine(a / "x") == a / "x" and confine(b) == b
    with pytest.raises(PathNotAllowed):
        confine(tmp_path / "c")


def test_names():
    assert check_name(" good-name_1.v2 ") == "good-name_1.v2"
    for bad in ("", "../x", "a/b", ".hidden", "x" * 81, "spaces here"):
        with pytest.raises(ValueError):
            check_name(bad)


def test_start_run_writes_config_and_launch_record(project, monkeypatch):
    started = []
    monkeypatch.setattr("dashboard.jobs.launch_worker",
                        lambda run: started.append(run) or run.record_launch(os.getpid()) or os.getpid())
    run = jobs.start_run(ScoreRunConfig(tasks=("builtin",), out=str(project / "results" / "s")), label="my set")
    assert run.path.parent == project / "runs" and run.name.startswith("score-my-set-")
    assert json.loads(run.config_path.read_text())["kind"] == "score"
    assert run.launch()["pid"] == os.getpid()
    assert jobs.watched_status(run)["state"] == "queued"  # launched and alive
    second = jobs.start_run(ScoreRunConfig(), label="my set")
    assert second.name != run.name
    assert started == [run, second]


def test_a_worker_that_dies_before_starting_reads_failed(project, monkeypatch):
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(1)"])
    proc.wait()
    monkeypatch.setattr("dashboard.jobs.launch_worker", lambda run: run.record_launch(proc.pid) or proc.pid)
    run = jobs.start_run(ScoreRunConfig())
    status = jobs.watched_status(run)
    assert status["state"] == "failed" and "exited before it started" in status["error"]
    assert jobs.is_final(status) and not jobs.can_cancel(status)


def test_curate_table_merge_and_editor_state():
    tasks = pd.DataFrame({"task_id": ["a", "b", "c"], "kind": ["classification", "generation", "generation"],
                          "region": ["ambiguous", "easy", "other"], "pu": [0.2, 0.01, 0.05], "pp": [0.5, 0.9, 0.6]})
    table = curation.curate_rows(tasks, ["b", "a", "b"], "map")
    assert list(table["task_id"]) == ["b", "a"] and table["include"].all()
    table.loc[1, "notes"] = "keep"
    merged = curation.merge_rows(table, curation.curate_rows(tasks, ["a", "c", "zzz"], "policy"))
    assert list(merged["task_id"]) == ["b", "a", "c", "zzz"]
    assert merged.loc[1, "notes"] == "keep" and merged.loc[1, "added_from"] == "map"
    assert pd.isna(merged.loc[3, "pu"])  # unknown ids stay, without scores
    edited = curation.apply_editor_state(merged, {"edited_rows": {"0": {"include": False, "notes": "no"}},
                                                  "deleted_rows": [3], "added_rows": []})
    assert list(edited["task_id"]) == ["b", "a", "c"]
    assert not edited.loc[0, "include"] and edited.loc[0, "notes"] == "no"
    record = curation.subset_record("s", edited, "/r/set")
    assert record["task_ids"] == ["a", "c"] and record["notes"] == {"a": "keep", "c": ""}
    assert curation.split_bytes(record["task_ids"]) == b"a\nc\n"
