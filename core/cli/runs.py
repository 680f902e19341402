"""`taskmap runs | worker | resume | cancel`: run directories and the workers that run them."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from core.cli.training import run_foreground_or_detached


def cmd_worker(a: argparse.Namespace) -> int:
    from core.loop.worker import run_worker
    return run_worker(a.run, echo=True)


def cmd_resume(a: argparse.Namespace) -> int:
    from core.loop.runs import RunDir

    run = RunDir(Path(a.run))
    if not run.exists():
        raise FileNotFoundError(f"{run.path} is not a run directory")
    state = run.status()["state"]
    if state == "running":
        print(f"error: {run.path} is running (pid {run.raw_status().get('pid')}); nothing to resume", file=sys.stderr)
        return 2
    if state == "done":
        print(f"{run.path} is already done")
        return 0
    if run.cancel_path.exists():
        run.cancel_path.unlink()
    print(f"resuming {run.path} (was {state})")
    return run_foreground_or_detached([run], a.detach)


def cmd_runs(a: argparse.Namespace) -> int:
    from core.loop.runs import list_runs

    runs = list_runs(Path(a.runs_dir))
    if not runs:
        print(f"no runs in {a.runs_dir}")
    for run in runs:
        st = run.status()
        progress = st.get("progress") or {}
        where = f"round {st.get('round')} {st.get('stage') or ''}".strip() if st.get("round") is not None else (st.get("stage") or "")
        prog = f"{progress.get('done')}/{progress.get('total')} {progress.get('unit', '')}" if progress else ""
        print(f"{run.name:<48} {st['state']:<12} {where:<24} {prog}")
    return 0


def cmd_cancel(a: argparse.Namespace) -> int:
    from core.loop.runs import RunDir, pid_alive

    run = RunDir(Path(a.run))
    run.request_cancel()
    status = run.raw_status()
    if status.get("host") == os.uname().nodename and pid_alive(status.get("pid")):
        os.kill(int(status["pid"]), signal.SIGTERM)
    print(f"cancel requested for {run.path}; the worker stops at the next clean point")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("worker", help="run a run directory in this process (what background workers run)")
    p.add_argument("run", help="run directory")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("resume", help="continue an interrupted, cancelled or failed run from its last finished stage")
    p.add_argument("run", help="run directory")
    p.add_argument("--detach", action="store_true", help="resume in a background worker")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("runs", help="list runs with their state, round, stage and progress")
    p.add_argument("--runs-dir", default="runs", help="directory holding run directories")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("cancel", help="ask a run's worker to stop at the next clean point")
    p.add_argument("run", help="run directory")
    p.set_defaults(func=cmd_cancel)
