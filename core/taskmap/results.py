"""Scored sets on disk: what `taskmap score` writes and everything downstream reads.

    <dir>/tasks.parquet      one row per task (see README: per-task table)
    <dir>/sequences.parquet  one row per scored sequence (see README: per-sequence table)
    <dir>/manifest.json      config, model fingerprint, cache key, sources, skipped inputs, timings

Torch-free, so the dashboard can read results without loading the engine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from core.config import RegionRule
from core.io import atomic_write_json, atomic_write_table
from core.taskmap.regions import assign_regions


@dataclass
class ScoredSet:
    path: Path
    tasks: pd.DataFrame
    manifest: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path.name

    def sequences(self, columns: list[str] | None = None) -> pd.DataFrame:
        return pd.read_parquet(self.path / "sequences.parquet", columns=columns)

    def with_rule(self, rule: RegionRule) -> pd.DataFrame:
        return with_regions(self.tasks, rule)


def with_regions(tasks: pd.DataFrame, rule: RegionRule) -> pd.DataFrame:
    """A copy of a per-task table with its `region` column assigned by `rule`."""
    tasks = tasks.copy()
    tasks["region"] = assign_regions(tasks, rule) if len(tasks) else pd.Series(dtype=object)
    return tasks


def save_scored(out_dir: str | Path, result, rule: RegionRule = RegionRule()) -> ScoredSet:
    """The engine's ScoreResult as a scored set: regions assigned by `rule` (recorded in the
    manifest), the files written as `write_result` does."""
    tasks = with_regions(result.tasks, rule)
    manifest = {**result.manifest, "region_rule": vars(rule)}
    write_result(Path(out_dir), tasks, result.sequences, manifest)
    return ScoredSet(Path(out_dir), tasks, manifest)


def is_scored_set(path: Path) -> bool:
    return (path / "tasks.parquet").is_file() and (path / "manifest.json").is_file()


def load_scored(path: str | Path) -> ScoredSet:
    path = Path(path)
    if not is_scored_set(path):
        raise FileNotFoundError(f"{path} is not a scored set (needs tasks.parquet and manifest.json; "
                                f"run `taskmap score ... --out {path}`)")
    return ScoredSet(path, pd.read_parquet(path / "tasks.parquet"), json.loads((path / "manifest.json").read_text()))


def write_result(out_dir: Path, tasks: pd.DataFrame, sequences: pd.DataFrame, manifest: dict[str, Any]) -> None:
    """Write a scored set, each file atomically, the manifest last (it marks the set complete)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    seq = sequences.drop(columns=["task_key"], errors="ignore")
    atomic_write_table(out_dir / "sequences.parquet", pa.Table.from_pandas(seq, preserve_index=False))
    atomic_write_table(out_dir / "tasks.parquet", pa.Table.from_pandas(tasks, preserve_index=False))
    atomic_write_json(out_dir / "manifest.json", manifest)


def find_scored_sets(*roots: Path) -> list[Path]:
    """Every scored set directly under the given directories (newest first)."""
    found = []
    for root in roots:
        if root.is_dir():
            found += [p for p in root.iterdir() if p.is_dir() and is_scored_set(p)]
    return sorted(found, key=lambda p: (p / "manifest.json").stat().st_mtime, reverse=True)
