"""Starting and watching workers (dashboard/jobs.py)."""

from __future__ import annotations

import json
import os

from core.config import ScoreRunConfig
from dashboard import jobs


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

