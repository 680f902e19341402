"""Cached reads of scored sets, run directories and curated subsets.

Every cached reader takes the file's modification time (and size, for files that grow) as an
argument, so a rerun after the file changes reads it again and an unchanged file is read once.
The public helpers below look the mtime up themselves; pages call those.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import streamlit as st

from core.config import RegionRule
from core.loop.runs import RunDir, list_runs
from core.taskmap.regions import assign_regions
from core.taskmap.results import find_scored_sets, is_scored_set

from .paths import curated_dir, results_dir, runs_dir


def stamp(path: Path) -> tuple[float, int]:
    """(mtime, size) of a file, (0, 0) when it does not exist: the cache key of its contents."""
    try:
        st_ = os.stat(path)
    except OSError:
        return 0.0, 0
    return st_.st_mtime, st_.st_size


# --- scored sets --------------------------------------------------------------------------

@st.cache_data(max_entries=32, show_spinner=False)
def _read_parquet(path: str, mtime: float, size: int, columns: tuple[str, ...] | None = None) -> pd.DataFrame:
    return pd.read_parquet(path, columns=list(columns) if columns else None)


@st.cache_data(max_entries=64, show_spinner=False)
def _read_json(path: str, mtime: float, size: int) -> Any:
    return json.loads(Path(path).read_text())


def read_parquet(path: Path, columns: tuple[str, ...] | None = None) -> pd.DataFrame:
    return _read_parquet(str(path), *stamp(path), columns)


def read_json(path: Path) -> Any:
    return _read_json(str(path), *stamp(path))


@dataclass(frozen=True)
class ScoredSetInfo:
    path: Path
    name: str
    model: str
    n_tasks: int
    created: str
    sources: tuple[str, ...]

    @property
    def model_label(self) -> str:
        """The model's name, or the last part of its path for a local folder."""
        return Path(self.model).name if "/" in self.model and Path(self.model).is_absolute() else self.model

    @property
    def label(self) -> str:
        return f"{self.name} · {self.model_label} · {self.n_tasks} tasks"


def scored_set_info(path: Path) -> ScoredSetInfo:
    manifest = read_json(path / "manifest.json")
    model = (manifest.get("model") or {}).get("name") or (manifest.get("config") or {}).get("model") or "?"
    return ScoredSetInfo(path, path.name, str(model), int(manifest.get("n_tasks", 0)),
                         str(manifest.get("created", "")), tuple(manifest.get("sources") or ()))


def list_scored_sets() -> list[ScoredSetInfo]:
    """Scored sets under <home>/results, newest first."""
    return [scored_set_info(p) for p in find_scored_sets(results_dir())]


def manifest(set_path: Path) -> dict[str, Any]:
    return read_json(Path(set_path) / "manifest.json")


def scored_tasks(set_path: Path) -> pd.DataFrame:
    """The per-task table of a scored set as written (regions as the scorer's rule drew them)."""
    return read_parquet(Path(set_path) / "tasks.parquet")


def rule_key(rule: RegionRule) -> tuple:
    """A hashable, cache-friendly form of a rule."""
    return tuple(sorted(vars(rule).items()))


@st.cache_resource(max_entries=16, show_spinner=False)
def _regions(path: str, mtime: float, size: int, key: tuple) -> pd.DataFrame:
    tasks = pd.read_parquet(path)
    if len(tasks):
        tasks["region"] = assign_regions(tasks, RegionRule(**dict(key)))
    return tasks


def tasks_with_rule(table_path: Path, rule: RegionRule) -> pd.DataFrame:
    """A per-task table (a scored set's tasks.parquet or a round's taskmap.parquet) with
    regions recomputed by `rule`, fitted on the whole table.

    Cached as a shared object (no copy per rerun: a 50K-task table costs ~0.3 s to unpickle),
    so callers must treat it as read-only; filtering and set_index make new frames anyway."""
    return _regions(str(table_path), *stamp(table_path), rule_key(rule))


@st.cache_data(max_entries=32, show_spinner=False)
def _categories(path: str, mtime: float, size: int) -> list[str]:
    names = pq.read_schema(path).names
    tasks = pd.read_parquet(path, columns=[c for c in ("categories", "category") if c in names])
    if "categories" in tasks:
        flat = tasks["categories"].explode().dropna()
        if len(flat):
            return sorted(flat.astype(str).unique().tolist())
    return sorted(tasks.get("category", pd.Series(dtype=object)).dropna().astype(str).unique().tolist())


def categories(table_path: Path) -> list[str]:
    """Every category named in a per-task table (computed once per file version)."""
    return _categories(str(table_path), *stamp(Path(table_path)))


@st.cache_data(max_entries=64, show_spinner=False)
def _task_sequences(path: str, mtime: float, size: int, task_id: str) -> pd.DataFrame:
    return pq.read_table(path, filters=[("task_id", "==", task_id)]).to_pandas()


def task_sequences(set_path: Path, task_id: str) -> pd.DataFrame:
    """The scored sequences of one task (reads only that task's rows from sequences.parquet)."""
    path = Path(set_path) / "sequences.parquet"
    if not path.is_file():
        return pd.DataFrame()
    return _task_sequences(str(path), *stamp(path), task_id)


# --- runs ---------------------------------------------------------------------------------

def all_runs() -> list[RunDir]:
    return list_runs(runs_dir())


def run_config(run: RunDir) -> dict[str, Any]:
    try:
        return read_json(run.config_path)
    except (OSError, json.JSONDecodeError):
        return {}


@st.cache_data(max_entries=64, show_spinner=False)
def _metrics(path: str, mtime: float, size: int) -> list[dict[str, Any]]:
    return RunDir(Path(path).parent).metrics()


def run_metrics(run: RunDir, event: str | None = None) -> pd.DataFrame:
    """The run's metrics.jsonl events (one kind, or all) as a table; empty when there are none."""
    records = _metrics(str(run.metrics_path), *stamp(run.metrics_path))
    if event is not None:
        records = [r for r in records if r.get("event") == event]
    return pd.DataFrame.from_records(records)


def run_summary(run: RunDir, status: dict[str, Any] | None = None) -> dict[str, Any]:
    """One row of the runs table: what it is and where it stands."""
    from .jobs import watched_status

    config = run_config(run)
    status = status if status is not None else watched_status(run)
    progress = status.get("progress") or {}
    done, total = progress.get("done"), progress.get("total")
    kind = config.get("kind", "?")
    what = {"loop": config.get("policy", ""), "findings": "+".join(config.get("subsets", []) or []),
            "score": Path(config.get("out", "") or "").name}.get(kind, "")
    return {
        "run": run.name, "kind": kind, "what": what,
        "seed": str(config["seed"]) if "seed" in config else ",".join(str(s) for s in config.get("seeds") or []),
        "state": status.get("state", "queued"),
        "round": "" if status.get("round") is None else str(status["round"]), "stage": status.get("stage") or "",
        "progress": f"{done}/{total} {progress.get('unit', '')}".strip() if total else "",
        "updated": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(status.get("updated") or status.get("created") or 0))),
        "message": status.get("error") or status.get("message") or "",
    }


def runs_table(runs: list[RunDir]) -> pd.DataFrame:
    columns = ["run", "kind", "what", "seed", "state", "round", "stage", "progress", "updated", "message"]
    return pd.DataFrame([run_summary(r) for r in runs], columns=columns)


def round_taskmaps(run: RunDir) -> dict[int, Path]:
    """round -> that round's taskmap.parquet (the pool as scored with the round's starting model)."""
    out = {}
    for r in run.rounds():
        path = run.round_dir(r) / "taskmap.parquet"
        if path.is_file():
            out[r] = path
    return out


def round_selection(run: RunDir, round_index: int) -> dict[str, Any]:
    path = run.round_dir(round_index) / "selection.json"
    try:
        return read_json(path) if path.is_file() else {}
    except (OSError, json.JSONDecodeError):
        return {}


def log_tail(run: RunDir, max_chars: int = 4000) -> str:
    try:
        with open(run.log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_chars))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


# --- curated subsets ------------------------------------------------------------------------

def list_subsets() -> list[Path]:
    root = curated_dir()
    if not root.is_dir():
        return []
    return sorted((p for p in root.glob("*.json") if p.is_file()), key=lambda p: p.stat().st_mtime, reverse=True)


def read_subset(path: Path) -> dict[str, Any]:
    return read_json(path)


def exists_scored_set(path: str | Path | None) -> bool:
    return bool(path) and is_scored_set(Path(path))
