"""Starting and watching background jobs (scoring, loops, findings) from the dashboard.

A job is a run directory plus a worker process started by core.loop.runs.launch_worker in its own
session: Streamlit reruns, page reloads and closed tabs never touch it. Nothing here imports
Streamlit.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from core.config import run_config_to_dict
from core.io import slug
from core.loop.runs import FINAL_STATES, RunDir, create_run, launch_worker

from .paths import runs_dir

POLL_SECONDS = 2.0


def new_run_id(kind: str, label: str = "") -> str:
    """`<kind>-<label>-<yyyymmdd-hhmmss>`, with a counter when that name is taken."""
    base = "-".join(p for p in (kind, slug(label, limit=60) if label else "", time.strftime("%Y%m%d-%H%M%S")) if p)
    run_id, n = base, 1
    while (runs_dir() / run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id


def start_run(config: Any, label: str = "", *, launch: bool = True) -> RunDir:
    """Create a run directory for `config` (LoopConfig, FindingsConfig or ScoreRunConfig) and
    start its worker. The run id says what it is: kind, label, time."""
    as_dict = run_config_to_dict(config)
    run = create_run(runs_dir(), new_run_id(as_dict["kind"], label), as_dict)
    if launch:
        launch_worker(run)
    return run


def watched_status(run: RunDir) -> dict[str, Any]:
    return run.status()


def is_final(status: dict[str, Any]) -> bool:
    return status.get("state") in FINAL_STATES


def can_cancel(status: dict[str, Any]) -> bool:
    return status.get("state") in ("queued", "running")


def scored_set_of(run: RunDir) -> Path | None:
    """Where a score run writes its scored set (config `out`)."""
    try:
        out = json.loads(run.config_path.read_text()).get("out")
    except (OSError, json.JSONDecodeError):
        return None
    return Path(out) if out else None
