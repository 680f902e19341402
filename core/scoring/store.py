"""The score cache: content-hash keys, atomic Parquet shards, locks.

Layout under the cache root (`core.io.cache_root`):

    scores/<run_key>/manifest.json        what the key was made of (model, settings, engine version)
    scores/<run_key>/shards/<pack>.parquet per-sequence rows of one pack of tasks
    scores/<run_key>/shards/<pack>.lock    held while a process computes that pack

run_key hashes everything that changes a score except the task itself; each row carries its
task_key = hash(run_key, task content). A shard is written to a temporary file and renamed into
place, and its footer lists the task keys it holds, so a reader never sees half a shard, the
index is rebuilt from the shards themselves, and a run killed at any moment loses at most the
pack it was computing. Two processes on one cache take per-pack locks: the second one skips a
pack the first is computing and reads it when it is done.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from filelock import FileLock, Timeout

from core.io import atomic_write_json, atomic_write_table, cache_root, content_key

TASK_KEYS_META = b"taskmap.task_keys"


class ScoreStore:
    """The cached results of one run_key."""

    def __init__(self, run_key: str, key_parts: dict[str, Any], root: Path | None = None):
        self.run_key = run_key
        self.dir = (root or cache_root()) / "scores" / run_key
        self.shards = self.dir / "shards"
        self.shards.mkdir(parents=True, exist_ok=True)
        manifest = self.dir / "manifest.json"
        if not manifest.exists():
            atomic_write_json(manifest, {"run_key": run_key, **key_parts})
        self._index: dict[str, Path] = {}
        self._seen: set[str] = set()

    def task_key(self, task_content_hash: str) -> str:
        return content_key({"run": self.run_key, "task": task_content_hash})

    @staticmethod
    def pack_key(task_keys: Iterable[str]) -> str:
        return content_key(sorted(task_keys))[:32]

    def index(self) -> dict[str, Path]:
        """task_key -> shard holding it, from the shard footers (only new shards are read)."""
        for path in sorted(self.shards.glob("*.parquet")):
            if path.name in self._seen:
                continue
            try:
                meta = pq.read_schema(path).metadata or {}
                keys = json.loads(meta[TASK_KEYS_META])
            except Exception:  # a foreign or damaged file: ignore it, it will be recomputed
                continue
            self._seen.add(path.name)
            for key in keys:
                self._index.setdefault(key, path)
        return self._index

    def write_pack(self, pack_key: str, table: pa.Table, task_keys: list[str]) -> Path:
        meta = dict(table.schema.metadata or {})
        meta[TASK_KEYS_META] = json.dumps(task_keys).encode()
        path = self.shards / f"{pack_key}.parquet"
        atomic_write_table(path, table.replace_schema_metadata(meta))
        return path

    def try_lock(self, pack_key: str) -> FileLock | None:
        lock = FileLock(str(self.shards / f"{pack_key}.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return None
        return lock

    def wait_lock(self, pack_key: str) -> FileLock:
        lock = FileLock(str(self.shards / f"{pack_key}.lock"))
        lock.acquire()
        return lock

    def read_tasks(self, task_keys: Iterable[str]) -> pa.Table:
        """Rows of the given tasks, one shard read per shard involved."""
        index = self.index()
        by_shard: dict[Path, set[str]] = {}
        for key in task_keys:
            by_shard.setdefault(index[key], set()).add(key)
        tables = []
        for path, keys in sorted(by_shard.items()):
            table = pq.read_table(path)
            mask = pc.is_in(table["task_key"], value_set=pa.array(sorted(keys)))
            tables.append(table.filter(mask))
        if not tables:
            return pa.table({})
        return pa.concat_tables(tables, promote_options="default").replace_schema_metadata(None)
