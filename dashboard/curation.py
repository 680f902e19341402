"""Curated task subsets: the Curate table, saved subsets and their exports.

A subset on disk is `<home>/curated/<name>.json`:
    {"name", "task_ids" (the included tasks, in table order), "notes" {task_id: note},
     "scored_set" (the set the tasks were picked from), "created"}
Exports go beside it under `<home>/curated/<name>/`. Nothing here imports Streamlit.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from core.data.loaders import load_tasks
from core.data.tasks import LoadResult
from core.io import atomic_write_json
from core.taskmap.export import export_task_dir, split_list

from .paths import check_name

CURATE_COLUMNS = ["task_id", "kind", "region", "pu", "pp", "include", "notes", "added_from"]


def empty_table() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in
                         zip(CURATE_COLUMNS, ["object", "object", "object", "float", "float", "bool", "object", "object"])})


def curate_rows(tasks: pd.DataFrame, task_ids: Iterable[str], added_from: str,
                notes: dict[str, str] | None = None) -> pd.DataFrame:
    """Rows for the Curate table, in the order of `task_ids` (ids not in `tasks` are kept with
    empty scores, so a subset saved from another scored set still loads)."""
    ids = list(dict.fromkeys(task_ids))
    known = tasks.drop_duplicates("task_id").set_index("task_id") if len(tasks) else pd.DataFrame()
    rows = []
    for task_id in ids:
        row = known.loc[task_id] if task_id in known.index else None
        rows.append({
            "task_id": task_id,
            "kind": row["kind"] if row is not None and "kind" in row else "",
            "region": row["region"] if row is not None and "region" in row else "",
            "pu": float(row["pu"]) if row is not None and "pu" in row else float("nan"),
            "pp": float(row["pp"]) if row is not None and "pp" in row else float("nan"),
            "include": True, "notes": (notes or {}).get(task_id, ""), "added_from": added_from,
        })
    return pd.DataFrame(rows, columns=CURATE_COLUMNS) if rows else empty_table()


def merge_rows(current: pd.DataFrame | None, new: pd.DataFrame) -> pd.DataFrame:
    """Append the new rows whose task is not in the table yet; existing rows keep their
    include flag and notes."""
    if current is None or current.empty:
        return new.reset_index(drop=True)
    fresh = new[~new["task_id"].isin(set(current["task_id"]))]
    if fresh.empty:
        return current.reset_index(drop=True)
    return pd.concat([current, fresh], ignore_index=True)


def apply_editor_state(table: pd.DataFrame, state: dict[str, Any] | None) -> pd.DataFrame:
    """Fold a st.data_editor edit state (edited_rows / deleted_rows) into the table, so edits
    survive leaving the page (the editor's own state is dropped when it is not drawn)."""
    if not state:
        return table
    out = table.copy().reset_index(drop=True)
    for position, changes in (state.get("edited_rows") or {}).items():
        position = int(position)
        if 0 <= position < len(out):
            for column, value in changes.items():
                if column in ("include", "notes"):
                    out.at[position, column] = bool(value) if column == "include" else ("" if value is None else str(value))
    deleted = [int(i) for i in state.get("deleted_rows") or []]
    if deleted:
        out = out.drop(index=[i for i in deleted if 0 <= i < len(out)]).reset_index(drop=True)
    return out


def subset_record(name: str, table: pd.DataFrame, scored_set: str | Path | None) -> dict[str, Any]:
    name = check_name(name, "subset name")
    included = table[table["include"].fillna(False).astype(bool)]
    notes = {str(t): ("" if pd.isna(n) else str(n)) for t, n in zip(included["task_id"], included["notes"])}
    return {"name": name, "task_ids": [str(t) for t in included["task_id"]], "notes": notes,
            "scored_set": str(scored_set) if scored_set else None, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def save_subset(root: Path, record: dict[str, Any]) -> Path:
    path = Path(root) / f"{check_name(record['name'], 'subset name')}.json"
    atomic_write_json(path, record)
    return path


def csv_bytes(table: pd.DataFrame) -> bytes:
    return table.to_csv(index=False).encode()


def split_bytes(task_ids: Iterable[str]) -> bytes:
    """An NIV2-style split file: one task name per line."""
    return split_list(task_ids).encode()


def export_directory(root: Path, record: dict[str, Any], sources: Iterable[str]) -> tuple[Path, list[str], LoadResult]:
    """Write the subset's tasks as NIV2 task files under <root>/<name>/tasks/, plus its split
    list and CSV beside them. Returns (tasks dir, task ids not found in the sources, load result)."""
    name = check_name(record["name"], "subset name")
    loaded = load_tasks(list(sources))
    wanted = list(record["task_ids"])
    by_id = {t.id: t for t in loaded.tasks}
    missing = [t for t in wanted if t not in by_id]
    out = Path(root) / name
    tasks_dir = export_task_dir([by_id[t] for t in wanted if t in by_id], out / "tasks")
    (out / "split.txt").write_text(split_list(wanted))
    (out / "subset.json").write_text(json.dumps(record, indent=2) + "\n")
    return tasks_dir, missing, loaded


def zip_bytes(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(Path(folder).parent))
    return buffer.getvalue()
