"""Small file-system helpers every stage shares: where caches live, content keys, atomic writes.

Results, caches, run directories and the dashboard's files are all written atomically (a
temporary file renamed into place), so a reader never sees half a file and a killed process
never leaves one behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


def cache_root() -> Path:
    """TASKMAP_CACHE, else $XDG_CACHE_HOME/taskmap, else ~/.cache/taskmap."""
    if os.environ.get("TASKMAP_CACHE"):
        return Path(os.environ["TASKMAP_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "taskmap"


def content_key(payload: Any) -> str:
    """A stable hash of JSON-able data (key order does not matter)."""
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def slug(text: str, fallback: str = "run", limit: int | None = None) -> str:
    """A file-name-safe form of `text` (letters, digits, '.', '_', '-')."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")
    return (safe[:limit] if limit else safe) or fallback


def _temporary(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = _temporary(path)
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: Path, payload: Any) -> None:
    atomic_write_bytes(path, (json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n").encode())


def atomic_write_table(path: Path, table) -> None:
    """A pyarrow Table as zstd Parquet."""
    import pyarrow.parquet as pq

    tmp = _temporary(path)
    pq.write_table(table, tmp, compression="zstd")
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
