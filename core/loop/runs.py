"""Run directories: the contract between a worker and anything that watches it.

    runs/<run-id>/
      config.json         the frozen config (kind: loop | train | findings) — never changes after creation
      status.json         state, round, stage, progress, pid, heartbeat (rewritten atomically)
      metrics.jsonl       one JSON object per line, appended and flushed: {"event": "train", ...} per
                          logging step, {"event": "eval", ...} per evaluation, {"event": "select", ...}
      log.txt             the worker's log
      rounds/<r>/         per round: selection.json, taskmap.parquet (the pool's scores when it was
                          chosen), eval.parquet (per-task scores), stages.json, checkpoint/
      cancel              present = cancel requested (the worker stops at the next clean point)
      launch.json         pid and host of the worker launched for it (launch_worker writes it)
      worker.lock         held by the one worker allowed to run this directory

States: queued, running, done, failed, cancelled, and interrupted — which no one writes: it is
what a reader sees when the state says running but the heartbeat is stale (a worker killed with
kill -9, a machine that went down). Torch-free, so the dashboard can read runs and start workers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.io import REPO_ROOT, atomic_write_json


class Cancelled(Exception):
    """Raised at a clean point when a run was asked to stop (cancel file, SIGTERM, Ctrl-C)."""


STATES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
FINAL_STATES = ("done", "failed", "cancelled", "interrupted")
HEARTBEAT_SECONDS = 5.0
STALE_AFTER_SECONDS = 30.0


def pid_alive(pid: int | None) -> bool:
    """Whether a process exists. A child of this process that has exited but was not reaped
    (a zombie) still answers os.kill, so reap it first: it counts as gone."""
    if not pid:
        return False
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except OSError:  # not our child, or already reaped
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class RunDir:
    path: Path

    # --- files --------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def status_path(self) -> Path:
        return self.path / "status.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def log_path(self) -> Path:
        return self.path / "log.txt"

    @property
    def cancel_path(self) -> Path:
        return self.path / "cancel"

    @property
    def lock_path(self) -> Path:
        return self.path / "worker.lock"

    def round_dir(self, round_index: int) -> Path:
        return self.path / "rounds" / f"{round_index:02d}"

    def exists(self) -> bool:
        return self.config_path.is_file()

    # --- config and status ---------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return json.loads(self.config_path.read_text())

    def raw_status(self) -> dict[str, Any]:
        try:
            return json.loads(self.status_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {"state": "queued"}

    @property
    def launch_path(self) -> Path:
        return self.path / "launch.json"

    def record_launch(self, pid: int) -> None:
        atomic_write_json(self.launch_path, {"pid": pid, "host": os.uname().nodename, "time": time.time()})

    def launch(self) -> dict[str, Any]:
        try:
            return json.loads(self.launch_path.read_text())
        except (OSError, json.JSONDecodeError):
            return {}

    def status(self, now: float | None = None) -> dict[str, Any]:
        """The status as a watcher should see it: a running state with a stale heartbeat, or
        whose worker process is gone, reads as interrupted; a queued run whose launched worker
        is gone reads as failed."""
        status = self.raw_status()
        if status.get("state") == "queued":
            launch = self.launch()
            if launch.get("host") == os.uname().nodename and launch.get("pid") and not pid_alive(launch["pid"]):
                # the worker may have started and finished between the two reads: look again
                status = self.raw_status()
                if status.get("state") == "queued":
                    status = {**status, "state": "failed",
                              "error": "the worker exited before it started; see log.txt"}
        if status.get("state") == "running":
            now = time.time() if now is None else now
            stale = now - float(status.get("heartbeat", 0)) > STALE_AFTER_SECONDS
            gone = status.get("host") == os.uname().nodename and not pid_alive(status.get("pid"))
            if stale or gone:
                status = {**status, "state": "interrupted",
                          "message": "the worker stopped without finishing (killed or crashed); resume it"}
        return status

    def update_status(self, **fields: Any) -> dict[str, Any]:
        status = {**self.raw_status(), **fields, "updated": time.time()}
        atomic_write_json(self.status_path, status)
        return status

    # --- metrics ----------------------------------------------------------------------------
    def append_metric(self, event: str, **fields: Any) -> dict[str, Any]:
        record = {"event": event, "time": round(time.time(), 3), **fields}
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(record, default=float) + "\n")
            f.flush()
        return record

    def metrics(self, event: str | None = None) -> list[dict[str, Any]]:
        """All complete metric lines (a line still being written is skipped, not an error)."""
        if not self.metrics_path.is_file():
            return []
        out = []
        for line in self.metrics_path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if event is None or record.get("event") == event:
                out.append(record)
        return out

    # --- cancel -----------------------------------------------------------------------------
    def request_cancel(self) -> None:
        self.cancel_path.write_text(str(time.time()))

    def cancel_requested(self) -> bool:
        return self.cancel_path.exists()

    # --- stages -----------------------------------------------------------------------------
    def stages(self, round_index: int) -> dict[str, Any]:
        path = self.round_dir(round_index) / "stages.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def mark_stage(self, round_index: int, stage: str, **info: Any) -> None:
        stages = self.stages(round_index)
        stages[stage] = {"done": time.time(), **info}
        atomic_write_json(self.round_dir(round_index) / "stages.json", stages)

    def stage_done(self, round_index: int, stage: str) -> bool:
        return stage in self.stages(round_index)

    def rounds(self) -> list[int]:
        root = self.path / "rounds"
        return sorted(int(p.name) for p in root.iterdir() if p.name.isdigit()) if root.is_dir() else []


def create_run(root: Path, run_id: str, config: dict[str, Any]) -> RunDir:
    """A new run directory in state queued. Refuses to overwrite an existing run."""
    run = RunDir(Path(root) / run_id)
    if run.exists():
        raise FileExistsError(f"run {run.path} already exists; resume it or choose another name")
    run.path.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run.config_path, config)
    run.update_status(state="queued", created=time.time(), round=None, stage=None, progress=None)
    return run


def list_runs(root: Path) -> list[RunDir]:
    root = Path(root)
    if not root.is_dir():
        return []
    runs = [RunDir(p) for p in root.iterdir() if p.is_dir() and (p / "config.json").is_file()]
    return sorted(runs, key=lambda r: r.raw_status().get("created", 0), reverse=True)


def launch_worker(run: RunDir, python: str | None = None, extra_env: dict[str, str] | None = None) -> int:
    """Start `python -m core.worker RUN_DIR` in its own session, detached from the caller, so a
    closed terminal, a Streamlit rerun or a closed browser tab never stops it."""
    repo = REPO_ROOT
    log = open(run.log_path, "a")
    env = {**os.environ, **(extra_env or {})}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repo), env.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([python or sys.executable, "-m", "core.worker", str(run.path)], cwd=repo,
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, env=env)
    log.close()
    run.record_launch(proc.pid)
    return proc.pid

