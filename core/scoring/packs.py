"""Packs: the unit of computation, caching, locking and distribution.

A pack is a group of tasks holding about `ScoreConfig.pack_instances` sampled instances, so
decoding batches across tasks (one-instance Alpaca tasks need this most). Packs take tasks in
order of prompt length, so a pack's rows are padded to similar widths (a decoding step reads
every row's cache up to the widest, and the long tail of 128-token answers is paid once per
pack whatever its rows' lengths). Packs are a fixed function of the task list, so every
process, every Ray actor and every rerun computes the same packs in the same batches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from core.data.tasks import Task
from core.scoring.base import Item


def prompt_chars(task: Task, n_examples: int = 2) -> int:
    """A cheap stand-in for a task's prompt length in tokens: definition, shown examples and the
    mean instance input, in characters (no tokenizer needed, same on every machine)."""
    shown = sum(len(e.input) + len(e.output) for e in task.examples[:n_examples])
    mean_input = sum(len(i.input) for i in task.instances) // max(len(task.instances), 1)
    return len(task.definition) + shown + mean_input


def make_packs(tasks: Sequence[Task], n_instances: int, n_examples: int = 2, per_pack: int = 128) -> list[list[int]]:
    """Tasks in order of prompt length, grouped until a pack holds `per_pack` sampled instances
    or more (task indices, each pack in the original order)."""
    order = sorted(range(len(tasks)), key=lambda i: (prompt_chars(tasks[i], n_examples), i))
    packs: list[list[int]] = []
    current: list[int] = []
    size = 0
    for i in order:
        current.append(i)
        size += min(len(tasks[i].instances), n_instances)
        if size >= per_pack:
            packs.append(sorted(current))
            current, size = [], 0
    if current:
        packs.append(sorted(current))
    return packs


@dataclass
class TaskPlan:
    """One task's share of a pack: its sampled instances, its k+1 prompts, and every
    (prompt, instance) pair encoded (encoded[j][i])."""

    task: Task
    key: str
    instances: tuple
    variants: list
    encoded: list

    def item(self, j: int, i: int, answer: tuple[int, ...] = ()) -> Item:
        e = self.encoded[j][i]
        return Item(e.prefix, e.body, answer)


@dataclass
class PackJob:
    """The tasks of one pack that still need computing, and the lock that lets this process
    compute them (released once the shard is written, or when the run fails)."""

    index: int                  # the pack's position in the plan
    key: str                    # its shard name: a hash of its tasks' keys
    tasks: list[Task]
    task_keys: list[str]
    lock: Any = field(default=None, repr=False)

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None
