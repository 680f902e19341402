"""Exports of scored sets and task subsets: CSV, Parquet, NIV2 split lists, task directories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from core.config import RegionRule
from core.data.tasks import Task
from core.io import atomic_write_bytes
from core.taskmap.results import load_scored

LIST_COLUMNS = ("categories", "definition_dropped", "example_inputs", "gold", "input_ids", "prediction_ids")


def _flatten_for_csv(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for column in LIST_COLUMNS:
        if column in frame:
            frame[column] = [json.dumps([x.item() if hasattr(x, "item") else x for x in v] if v is not None else [],
                                        ensure_ascii=False) for v in frame[column]]
    return frame


def split_list(task_ids: Iterable[str]) -> str:
    return "".join(f"{t}\n" for t in task_ids)


def export_scored(scored_dir: str | Path, fmt: str, *, out: str | Path | None = None, rule: RegionRule = RegionRule(),
                  regions: Sequence[str] | None = None, kind: str | None = None, sequences: bool = False) -> Path:
    scored = load_scored(scored_dir)
    tasks = scored.with_rule(rule)
    if regions:
        tasks = tasks[tasks["region"].isin(regions)]
    if kind:
        tasks = tasks[tasks["kind"] == kind]
    suffix = "-".join(regions or []) + (f"-{kind}" if kind else "")
    stem = ("sequences" if sequences else "tasks") + (f"-{suffix}" if suffix else "")
    if fmt == "split":
        path = Path(out) if out else scored.path / f"{stem}.txt"
        atomic_write_bytes(path, split_list(tasks["task_id"]).encode())
        return path
    frame = tasks
    if sequences:
        frame = scored.sequences()
        frame = frame[frame["task_id"].isin(set(tasks["task_id"]))]
    path = Path(out) if out else scored.path / f"{stem}.{fmt}"
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        _flatten_for_csv(frame).to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def task_to_niv2(task: Task) -> dict:
    """A task as an NIV2 task file (the schema github allenai/natural-instructions uses)."""
    return {
        "Contributors": [], "Source": [task.source] if task.source else [], "URL": [],
        "Categories": list(task.categories), "Reasoning": [], "Definition": [task.definition],
        "Input_language": ["English"], "Output_language": ["English"], "Instruction_language": ["English"],
        "Domains": [], "Kind": task.kind,
        "Positive Examples": [{"input": e.input, "output": e.output, "explanation": ""} for e in task.examples],
        "Negative Examples": [],
        "Instances": [{"id": i.id, "input": i.input, "output": list(i.outputs)} for i in task.instances],
        "Instance License": [],
    }


def export_task_dir(tasks: Sequence[Task], out_dir: str | Path) -> Path:
    """Write tasks as task*.json files a NIV2 loader (this one included) reads back."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for task in tasks:
        name = task.id if task.id.startswith("task") else f"task_{task.id}"
        safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)
        atomic_write_bytes(out / f"{safe}.json", json.dumps(task_to_niv2(task), ensure_ascii=False, indent=1).encode())
    return out
