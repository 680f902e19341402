"""What a round does — score the pool, train, evaluate — each cached by content.

Training and evaluation results are keyed like scores are: by everything that changes them
(model weights, the tasks' content, the config, the engine version). So round 0 of every policy
with the same seed (the same random initial set) is trained and evaluated once, a findings
experiment rerun with the same settings is a cache read, and a run resumed after a crash
redoes only what was never finished.

Checkpoints live in the run directories that produced them; the cache keeps an index from
training key to checkpoint, and a reuse hard-links the files (copies across filesystems), so
deleting one run's checkpoint never breaks another's.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from core import ENGINE_VERSION
from core.config import EvalConfig, ScoreConfig, TrainConfig, to_dict
from core.data.loaders import load_tasks
from core.data.tasks import Task
from core.io import atomic_write_json, cache_root, content_key

Log = Callable[[str], None]


def load_task_set(sources: Sequence[str], split: str | None, what: str, log: Log) -> list[Task]:
    result = load_tasks(list(sources) if len(sources) != 1 else sources[0], split=split)
    for problem in result.problems:
        log(f"{what}: {'skipped' if problem.severity == 'error' else 'warning'}: {problem}")
    if not result.tasks:
        raise ValueError(f"no valid {what} tasks in {list(sources)}")
    return result.tasks


def resolve_model_dir(spec: str) -> Path:
    """A directory for the model (training needs files): the converted default, or a local dir."""
    if spec == "default":
        from core.scoring.models import default_model_dir
        return default_model_dir()
    path = Path(spec).expanduser()
    if not path.is_dir():
        raise ValueError(f"training needs a local model directory; {spec!r} is not one "
                         "(download Hub models first, e.g. with `huggingface-cli download`)")
    return path


def model_fingerprint(path: Path) -> str:
    from core.scoring.models import weights_hash
    return weights_hash(path)


def tasks_fingerprint(tasks: Sequence[Task]) -> list[list[str]]:
    return [[t.id, t.content_hash] for t in sorted(tasks, key=lambda t: t.id)]


# --- scoring ------------------------------------------------------------------------------

def score_pool(model_dir: Path, tasks: Sequence[Task], cfg: ScoreConfig, rule,
               progress: Callable[[int, int, str], None] | None = None) -> pd.DataFrame:
    from core.scoring.distributed import run_scoring
    from core.taskmap.results import with_regions

    result = run_scoring(replace(cfg, model=str(model_dir)), tasks, progress=progress)
    return with_regions(result.tasks, rule)


# --- training -----------------------------------------------------------------------------

def train_key(base: Path, init: Path | None, tasks: Sequence[Task], cfg: TrainConfig) -> str:
    return content_key({"engine": ENGINE_VERSION, "base": model_fingerprint(base),
                        "init": model_fingerprint(init) if init else None,
                        "tasks": tasks_fingerprint(tasks), "train": to_dict(cfg)})[:32]


def _index_path(key: str) -> Path:
    return cache_root() / "checkpoints" / f"{key}.json"


def _complete(checkpoint: Path) -> bool:
    return (checkpoint / "taskmap_checkpoint.json").is_file() and any(checkpoint.glob("*.safetensors"))


def _link_tree(src: Path, dst: Path) -> None:
    tmp = dst.with_name(dst.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for f in src.iterdir():
        try:
            os.link(f, tmp / f.name)
        except OSError:
            shutil.copy2(f, tmp / f.name)
    shutil.rmtree(dst, ignore_errors=True)
    os.replace(tmp, dst)


def train_cached(base: Path, tasks: Sequence[Task], cfg: TrainConfig, out: Path, *, init: Path | None = None,
                 on_log=None, should_stop=lambda: False, log: Log = print,
                 job: dict | None = None) -> tuple[Path, bool]:
    """Train (or reuse an identical earlier training); returns (checkpoint, reused).

    `job` (task sources, run directory, metric fields) is what a multi-process training job
    needs to load the tasks and log by itself."""
    from core.loop.training import finetune

    key = train_key(base, init, tasks, cfg)
    if _complete(out):
        return out, True
    index = _index_path(key)
    if index.is_file():
        earlier = Path(json.loads(index.read_text())["path"])
        if _complete(earlier):
            log(f"training reused: identical to {earlier}")
            _link_tree(earlier, out)
            return out, True
    info = {"train_key": key, "init": str(init) if init else None}
    if cfg.processes > 1:
        if job is None:
            raise ValueError("training with several processes needs the tasks' sources (run it from a loop)")
        _launch_training(init or base, tasks, cfg, out, info, job, on_log, should_stop)
    else:
        finetune(init or base, tasks, cfg, out, on_log=on_log, should_stop=should_stop, extra_info=info)
    atomic_write_json(index, {"path": str(out.resolve()), "key": key})
    return out, False


def _launch_training(model_path: Path, tasks: Sequence[Task], cfg: TrainConfig, out: Path, info: dict,
                     job: dict, on_log, should_stop) -> None:
    """Run the training step as `accelerate launch -m core.loop.training SPEC` and wait for it,
    forwarding its progress and stopping it (SIGTERM to its group) when the run is cancelled."""
    import signal
    import subprocess
    import time

    from core.loop.runs import Cancelled
    from core.loop.training import launch_command

    spec_path = out.with_name(out.name + ".spec.json")
    progress = out.with_name(out.name + ".progress.json")
    progress.unlink(missing_ok=True)
    atomic_write_json(spec_path, {"model_path": str(model_path), "task_ids": [t.id for t in tasks], "out": str(out),
                                  "train": to_dict(cfg), "extra_info": info, "progress_file": str(progress), **job})
    proc = subprocess.Popen(launch_command(spec_path, cfg.processes), start_new_session=True)
    seen = None
    while proc.poll() is None:
        time.sleep(1.0)
        if should_stop():
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
            raise Cancelled()
        if on_log and progress.is_file() and progress.stat().st_mtime != seen:
            seen = progress.stat().st_mtime
            try:
                on_log({**json.loads(progress.read_text()), "forwarded": True})
            except json.JSONDecodeError:
                pass
    if proc.returncode != 0 or not _complete(out):
        raise RuntimeError(f"the training job failed (exit {proc.returncode}); see the run log")


# --- evaluation ---------------------------------------------------------------------------

def evaluate_cached(model_dir: Path, tasks: Sequence[Task], cfg: EvalConfig, dtype: str = "auto",
                    progress=None, should_stop=lambda: False) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """(summary, per-task table, predictions) for a checkpoint on held-out tasks."""
    from core.loop.evaluation import evaluate, summarize
    from core.scoring.models import load_model, resolve_device
    from core.scoring.precision import resolve_precision

    # evaluation only decodes, in the weights' own precision (int8 products are for scoring)
    device = resolve_device("auto")
    weights = resolve_precision("float32" if dtype == "int8" else dtype, device, packed=False).torch_dtype
    key = content_key({"engine": ENGINE_VERSION, "model": model_fingerprint(model_dir),
                       "tasks": tasks_fingerprint(tasks), "eval": to_dict(cfg),
                       "dtype": str(weights), "device": device.type})[:32]
    path = cache_root() / "evals" / f"{key}.parquet"
    if path.is_file():
        predictions = pd.read_parquet(path)
        summary, per_task = summarize(predictions, {t.id: t.kind for t in tasks})
        return summary, per_task, predictions
    loaded = load_model(str(model_dir), dtype=str(weights).replace("torch.", ""))
    result = evaluate(loaded, tasks, cfg, progress=progress, should_stop=should_stop)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    result.predictions.to_parquet(tmp, index=False)
    os.replace(tmp, path)
    return result.summary, result.per_task, result.predictions
