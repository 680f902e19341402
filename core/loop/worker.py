"""Run one run directory, detached from any UI: `python -m core.worker RUN_DIR` (or `taskmap worker`).

The worker holds the directory's lock (a second worker on the same directory exits at once),
keeps a heartbeat in status.json, and stops at the next clean point when asked: a SIGTERM, a
Ctrl-C, or a `cancel` file (what the dashboard's Cancel button writes) all end in state
"cancelled". A worker killed outright (kill -9) cannot say anything; its stale heartbeat is what
makes readers show the run as interrupted. Starting the worker again on the same directory
resumes it from the first unfinished stage.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

from filelock import FileLock, Timeout

from core.config import run_config_from_dict, run_config_to_dict
from core.io import atomic_write_json
from core.loop.runs import HEARTBEAT_SECONDS, Cancelled, RunDir

EXIT_BUSY = 3


class StatusWriter:
    """status.json owned by this process: updates from the work and the heartbeat thread are
    serialised, each written whole and atomically."""

    def __init__(self, run: RunDir, echo: bool = False):
        self.run = run
        self.lock = threading.Lock()
        self.status = run.raw_status()
        self.echo = echo
        self._bar = None
        self._bar_key = None

    def __call__(self, **fields) -> None:
        with self.lock:
            self.status.update(fields)
            self.status["updated"] = time.time()
            atomic_write_json(self.run.status_path, self.status)
            if self.echo and ("progress" in fields or "stage" in fields):
                self._show()

    def _show(self) -> None:
        """A terminal progress bar per (round, stage), for workers run in the foreground."""
        from tqdm import tqdm

        progress = self.status.get("progress") or {}
        key = (self.status.get("round"), self.status.get("stage"), progress.get("unit"))
        if key != self._bar_key:
            if self._bar is not None:
                self._bar.close()
            self._bar, self._bar_key = None, key
        if progress.get("total"):
            if self._bar is None:
                label = " ".join(str(k) for k in (f"round {key[0]}" if key[0] is not None else "", key[1]) if k)
                self._bar = tqdm(total=progress["total"], unit=f" {progress.get('unit', '')}".rstrip(),
                                 desc=label or "working", dynamic_ncols=True)
            self._bar.total = progress["total"]
            self._bar.n = progress["done"]
            self._bar.refresh()

    def beat(self) -> None:
        self(heartbeat=time.time())


def _heartbeat(writer: StatusWriter, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_SECONDS):
        writer.beat()


def run_worker(run_dir: str | Path, echo: bool = False) -> int:
    run = RunDir(Path(run_dir).resolve())
    if not run.exists():
        print(f"error: {run.path} is not a run directory (no config.json)", file=sys.stderr)
        return 2
    lock = FileLock(str(run.lock_path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"error: another worker is already running {run.path}", file=sys.stderr)
        return EXIT_BUSY

    logger = logging.getLogger(f"taskmap.run.{run.name}")
    handler = logging.FileHandler(run.log_path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False

    def log(message: str) -> None:
        logger.info(message)
        if echo:
            print(message, flush=True)

    stop_requested = threading.Event()

    def on_signal(signum, frame):  # SIGTERM / SIGINT: finish cleanly at the next check
        stop_requested.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def should_stop() -> bool:
        return stop_requested.is_set() or run.cancel_requested()

    writer = StatusWriter(run, echo=echo)
    attempt = int(writer.status.get("attempt") or 0) + 1
    writer(state="running", pid=os.getpid(), host=os.uname().nodename, started=time.time(), heartbeat=time.time(),
           attempt=attempt, message="", error=None)
    beat_stop = threading.Event()
    threading.Thread(target=_heartbeat, args=(writer, beat_stop), daemon=True).start()
    config = run_config_from_dict(run.config())
    kind = run_config_to_dict(config)["kind"]
    log(f"worker {os.getpid()} started ({kind}, attempt {attempt})")
    try:
        if should_stop():
            raise Cancelled()
        if kind == "loop":
            from core.loop.active_loop import LoopRunner
            LoopRunner(run, config, status=writer, log=log, should_stop=should_stop, attempt=attempt).run_all()
        elif kind == "findings":
            from core.loop.findings import FindingsRunner
            FindingsRunner(run, config, status=writer, log=log, should_stop=should_stop, attempt=attempt).run_all()
        else:
            run_score(run, config, writer, log, should_stop)
        if run.cancel_path.exists():
            run.cancel_path.unlink()
        writer(state="done", message="finished", progress=None, stage=None, finished=time.time())
        log("done")
    except Cancelled:
        writer(state="cancelled", message="cancelled on request; resume to continue", stage=None)
        log("cancelled")
        return 0
    except Exception as exc:  # the run failed: record why, keep the traceback in the log
        logger.error(traceback.format_exc())
        writer(state="failed", error=f"{type(exc).__name__}: {exc}", message="failed; see log.txt")
        print(traceback.format_exc(), file=sys.stderr)
        return 1
    finally:
        beat_stop.set()
        lock.release()
    return 0


def run_score(run: RunDir, config, status: StatusWriter, log, should_stop) -> None:
    """A scoring run: the engine's cache makes it resumable for free."""
    from core.data.loaders import load_tasks
    from core.scoring.distributed import run_scoring
    from core.taskmap.results import save_scored

    loaded = load_tasks(list(config.tasks) if len(config.tasks) != 1 else config.tasks[0], split=config.split)
    for problem in loaded.problems:
        log(f"{'skipped' if problem.severity == 'error' else 'warning'}: {problem}")
    if not loaded.tasks:
        raise ValueError("no valid task to score")
    status(stage="score", progress={"done": 0, "total": len(loaded.tasks), "unit": "tasks"})

    def progress(done, total, message):
        status(progress={"done": done, "total": total, "unit": "tasks"})
        if should_stop():
            raise Cancelled()

    out = Path(config.out) if config.out else run.path / "scored"
    result = run_scoring(config.score, loaded.tasks, progress=progress, problems=loaded.problems,
                         sources=list(config.tasks))
    save_scored(out, result)
    status(result=str(out))
    log(f"scored {len(result.tasks)} tasks into {out}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m core.worker RUN_DIR", file=sys.stderr)
        return 2
    return run_worker(argv[0])


if __name__ == "__main__":
    sys.exit(main())
