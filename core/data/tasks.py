"""Task and instance records, and the validation that turns raw records into them.

A task is a definition, a few positive examples and instances (METHOD.md §1). Every loader
(NIV2 files, Self-Instruct/Alpaca records, `datasets`) produces raw dicts and hands them to
`task_from_niv2` / `build_task`, so one place decides what is valid and words the errors:
each `Problem` names the file, the record and the field, and a bad record never stops the
other tasks from loading.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

# Inputs longer than this are treated as broken records, not as text to truncate.
MAX_INPUT_CHARS = 100_000
MAX_DEFINITION_CHARS = 50_000
KINDS = ("classification", "generation")


@dataclass(frozen=True)
class Example:
    input: str
    output: str


@dataclass(frozen=True)
class Instance:
    id: str
    input: str
    outputs: tuple[str, ...]


@dataclass(frozen=True)
class Task:
    id: str
    definition: str
    examples: tuple[Example, ...]
    instances: tuple[Instance, ...]
    categories: tuple[str, ...] = ()
    kind: str = "generation"
    source: str = ""

    @property
    def content_hash(self) -> str:
        """Hash of everything in the task that can change a score (not where it was loaded from)."""
        payload = {
            "id": self.id,
            "definition": self.definition,
            "examples": [[e.input, e.output] for e in self.examples],
            "instances": [[i.id, i.input, list(i.outputs)] for i in self.instances],
        }
        return hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode()).hexdigest()


@dataclass(frozen=True)
class Problem:
    """Why a task or an instance was skipped, worded for the person who owns the file."""

    file: str
    record: str
    field: str
    message: str
    severity: str = "error"  # "error": the task was skipped; "warning": only part of it was

    def __str__(self) -> str:
        where = ", ".join(part for part in (self.file, self.record and f"record {self.record}",
                                            self.field and f"field {self.field!r}") if part)
        return f"{where}: {self.message}"


@dataclass
class LoadResult:
    tasks: list[Task] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def extend(self, other: LoadResult) -> None:
        self.tasks.extend(other.tasks)
        self.problems.extend(other.problems)

    def summary(self) -> str:
        lines = [f"{len(self.tasks)} tasks loaded, {len(self.errors)} skipped, "
                 f"{len(self.warnings)} warnings"]
        lines += [f"  skipped: {p}" for p in self.errors]
        lines += [f"  warning: {p}" for p in self.warnings]
        return "\n".join(lines)


class InvalidTask(ValueError):
    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


def _text(value: Any) -> str | None:
    """NIV2 stores most text fields as one-element lists; accept both forms."""
    if isinstance(value, list):
        parts = [v for v in value if isinstance(v, str)]
        if len(parts) != len(value):
            return None
        return "\n".join(parts)
    return value if isinstance(value, str) else None


def _str_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def build_task(
    *,
    task_id: str,
    definition: Any,
    examples: Any,
    instances: Any,
    file: str,
    categories: Any = (),
    kind: Any = None,
    problems: list[Problem],
) -> Task:
    """Validate one task's parts; raise InvalidTask (task-level) or record warnings (instance-level)."""

    def fail(fld: str, message: str) -> InvalidTask:
        return InvalidTask(Problem(file, task_id, fld, message))

    text = _text(definition)
    if text is None:
        raise fail("Definition", "missing or not a string (or list of strings)")
    if not text.strip():
        raise fail("Definition", "is empty")
    if len(text) > MAX_DEFINITION_CHARS:
        raise fail("Definition", f"is {len(text):,} characters, over the {MAX_DEFINITION_CHARS:,} limit")

    if examples is None:
        examples = []
    if not isinstance(examples, list):
        raise fail("Positive Examples", f"must be a list, got {type(examples).__name__}")
    good_examples = []
    for i, ex in enumerate(examples):
        ex_in, ex_out = (ex.get("input"), ex.get("output")) if isinstance(ex, dict) else (None, None)
        ex_out = ex_out[0] if isinstance(ex_out, list) and ex_out else ex_out
        if not isinstance(ex_in, str) or not isinstance(ex_out, str):
            problems.append(Problem(file, task_id, f"Positive Examples[{i}]",
                                    "needs string 'input' and 'output'; example skipped", "warning"))
            continue
        good_examples.append(Example(ex_in, ex_out))

    if not isinstance(instances, list):
        raise fail("Instances", f"must be a list, got {type(instances).__name__}")
    if not instances:
        raise fail("Instances", "is empty")
    good, seen = [], set()
    for i, inst in enumerate(instances):
        where = f"Instances[{i}]"
        if not isinstance(inst, dict):
            problems.append(Problem(file, task_id, where, "is not an object; instance skipped", "warning"))
            continue
        inst_id = inst.get("id", f"{task_id}-{i}")
        inst_id = str(inst_id)
        where = f"Instances[{i}] (id {inst_id})"
        inp, out = inst.get("input"), inst.get("output")
        if not isinstance(inp, str):
            problems.append(Problem(file, task_id, f"{where}.input", "missing or not a string; instance skipped", "warning"))
            continue
        if len(inp) > MAX_INPUT_CHARS:
            problems.append(Problem(file, task_id, f"{where}.input",
                                    f"is {len(inp):,} characters, over the {MAX_INPUT_CHARS:,} limit; instance skipped", "warning"))
            continue
        if isinstance(out, str):
            out = [out]
        if not isinstance(out, list) or not out or not all(isinstance(o, str) for o in out):
            problems.append(Problem(file, task_id, f"{where}.output",
                                    "must be a non-empty list of strings; instance skipped", "warning"))
            continue
        if inst_id in seen:
            problems.append(Problem(file, task_id, f"{where}.id",
                                    f"duplicate instance id {inst_id!r}; later copy skipped", "warning"))
            continue
        seen.add(inst_id)
        good.append(Instance(inst_id, inp, tuple(out)))
    if not good:
        raise fail("Instances", "no valid instance left (see the warnings above)")

    cats = _str_list(categories)
    task_kind = kind if kind in KINDS else infer_kind(text, good, good_examples)
    return Task(task_id, text, tuple(good_examples), tuple(good), cats, task_kind, file)


def task_from_niv2(record: Any, *, task_id: str, file: str, problems: list[Problem]) -> Task:
    """A task from one parsed NIV2 task file (github allenai/natural-instructions schema)."""
    if not isinstance(record, dict):
        raise InvalidTask(Problem(file, task_id, "", f"top level must be a JSON object, got {type(record).__name__}"))
    return build_task(
        task_id=task_id,
        definition=record.get("Definition"),
        examples=record.get("Positive Examples"),
        instances=record.get("Instances"),
        categories=record.get("Categories", ()),
        kind=record.get("Kind"),
        file=file,
        problems=problems,
    )


_QUOTED = re.compile(r"[\"'“‘`]([^\"'”’`]{1,40})[\"'”’`]")


def infer_kind(definition: str, instances: list[Instance], examples: list[Example]) -> str:
    """Classification when the label space is named in the definition (the paper's rule).

    NIV2 has no kind field, so this is a heuristic: the task's answers come from a small set
    (at most 12 distinct short strings, each reused) and most of those strings appear in the
    definition. Task files may state `"Kind"` explicitly to override it.
    """
    answers = [o.strip() for inst in instances for o in inst.outputs[:1]] + [e.output.strip() for e in examples]
    labels = {a.lower() for a in answers if a}
    if not labels or len(labels) > 12 or any(len(a) > 40 for a in labels):
        return "generation"
    if len(labels) > max(2, len(answers) // 2):
        return "generation"
    text = definition.lower()
    quoted = {m.lower().strip() for m in _QUOTED.findall(definition)}
    named = sum(1 for label in labels
                if label in quoted or re.search(rf"(?<!\w){re.escape(label)}(?!\w)", text))
    return "classification" if named >= max(1, (len(labels) + 1) // 2) else "generation"
