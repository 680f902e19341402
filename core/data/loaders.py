"""Where tasks come from: NIV2 task files, Self-Instruct/Alpaca records, `datasets` datasets.

`load_tasks(source)` accepts any of:
  * "builtin"                    the project's own suite in data/tasks
  * a directory of task*.json    (NIV2 layout; a NIV2 checkout's root works too: its tasks/ is used)
  * a NIV2 task file, or a JSON / JSONL file of {instruction, input, output} records
  * "hf:NAME[:SPLIT]"            a Hugging Face Hub dataset, or a dataset saved with save_to_disk
                                 / a local parquet, json or csv file read through `datasets`
and optionally an official split file (e.g. splits/default/train_tasks.txt) naming the tasks to keep.
Everything returns a LoadResult: the valid tasks plus a Problem for everything skipped.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterable

from core.data.tasks import InvalidTask, LoadResult, Problem, build_task, task_from_niv2
from core.io import REPO_ROOT

BUILTIN_TASKS = REPO_ROOT / "data" / "tasks"
MAX_FILE_BYTES = 1 << 30


def load_tasks(source: str | Path | Iterable[str | Path], split: str | Path | None = None) -> LoadResult:
    """Load tasks from one source or several, keeping only the split's tasks when a split is given."""
    if not isinstance(source, (str, Path)):
        result = LoadResult()
        for one in source:
            result.extend(load_tasks(one))
        if split:
            result = _apply_split(result, split, None)
        _check_unique_ids(result)
        return result

    text = str(source)
    if text == "builtin":
        result = _load_dir(BUILTIN_TASKS)
    elif text.startswith("hf:"):
        name, _, hf_split = text[3:].partition(":")
        result = load_hf_dataset(name, split=hf_split or "train")
    else:
        path = Path(text).expanduser()
        if path.is_dir():
            result = _load_dir(path / "tasks" if (path / "tasks").is_dir() and (path / "splits").is_dir() else path)
        elif path.is_file():
            result = load_file(path)
        else:
            return LoadResult(problems=[Problem(str(path), "", "", "no such file or directory")])
    if split:
        base = Path(text) if text not in ("builtin",) and not text.startswith("hf:") else None
        result = _apply_split(result, split, base)
    _check_unique_ids(result)
    return result


def _load_dir(path: Path) -> LoadResult:
    files = sorted(path.glob("task*.json"))
    result = LoadResult()
    if not files:
        result.problems.append(Problem(str(path), "", "", "no task*.json files in this directory"))
    for f in files:
        result.extend(load_file(f))
    return result


def read_json_file(path: Path) -> tuple[Any, Problem | None]:
    """Parse a JSON file, turning every way it can be unreadable into a Problem."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, Problem(str(path), "", "", f"file is {size:,} bytes, over the {MAX_FILE_BYTES:,} limit")
        raw = path.read_bytes()
    except OSError as exc:
        return None, Problem(str(path), "", "", f"cannot read file: {exc.strerror or exc}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, Problem(str(path), "", "", f"not UTF-8 text (byte {exc.start}: {exc.reason})")
    if path.suffix == ".jsonl":
        records = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                records.append(Problem(str(path), f"line {lineno}", "", f"not valid JSON: {exc.msg} (column {exc.colno})"))
        return records, None
    try:
        return json.loads(text), None  # Python's json accepts NIV2's NaN values on purpose
    except json.JSONDecodeError as exc:
        return None, Problem(str(path), "", "", f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")


def load_file(path: Path) -> LoadResult:
    data, problem = read_json_file(path)
    if problem:
        return LoadResult(problems=[problem])
    if isinstance(data, dict) and ("Definition" in data or "Instances" in data):
        result = LoadResult()
        try:
            result.tasks.append(task_from_niv2(data, task_id=path.stem, file=str(path), problems=result.problems))
        except InvalidTask as exc:
            result.problems.append(exc.problem)
        return result
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if isinstance(data, list):
        return tasks_from_records(data, file=str(path), id_prefix=path.stem)
    return LoadResult(problems=[Problem(str(path), "", "", "neither a NIV2 task (no 'Definition'/'Instances') "
                                        "nor a list of {instruction, input, output} records")])


def tasks_from_records(records: list[Any], *, file: str, id_prefix: str) -> LoadResult:
    """Self-Instruct / Alpaca records: one task per record; its instances are the record itself
    (`input`/`output`) or its `instances` list (Self-Instruct seed tasks)."""
    result = LoadResult()
    for index, record in enumerate(records):
        if isinstance(record, Problem):
            result.problems.append(record)
            continue
        task_id = f"{id_prefix}-{index:05d}"
        if isinstance(record, dict) and isinstance(record.get("id"), (str, int)):
            task_id = str(record["id"])
        if not isinstance(record, dict):
            result.problems.append(Problem(file, str(index), "", f"record must be an object, got {type(record).__name__}"))
            continue
        if "instances" in record:
            raw = record["instances"]
            instances = ([{"id": f"{task_id}-{i}", "input": r.get("input", ""), "output": r.get("output")}
                          if isinstance(r, dict) else r for i, r in enumerate(raw)] if isinstance(raw, list) else raw)
        else:
            out = record.get("output")
            if isinstance(out, str) and not out.strip():
                result.problems.append(Problem(file, task_id, "output", "is empty"))
                continue
            inp = record.get("input", "")
            instances = [{"id": f"{task_id}-0", "input": "" if inp in ("<none>", None) else inp, "output": out}]
        kind = None
        if isinstance(record.get("is_classification"), bool):
            kind = "classification" if record["is_classification"] else "generation"
        try:
            result.tasks.append(build_task(task_id=task_id, definition=record.get("instruction"), examples=[],
                                           instances=instances, file=file, kind=kind, problems=result.problems,
                                           categories=record.get("categories", ())))
        except InvalidTask as exc:
            problem = exc.problem
            if problem.field == "Definition":  # the record calls it "instruction"
                problem = Problem(problem.file, problem.record, "instruction", problem.message)
            result.problems.append(problem)
    return result


def read_split(split: str | Path, base: Path | None = None) -> list[str]:
    """Task names from an official NIV2 split file (one per line), resolved against a checkout."""
    path = Path(split).expanduser()
    if not path.is_file() and base is not None and (base / path).is_file():
        path = base / path
    if not path.is_file():
        raise FileNotFoundError(f"split file not found: {split}")
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def _apply_split(result: LoadResult, split: str | Path, base: Path | str | None) -> LoadResult:
    wanted = read_split(split, Path(base) if base else None)
    by_id = {t.id: t for t in result.tasks}
    kept = LoadResult(tasks=[by_id[name] for name in wanted if name in by_id], problems=list(result.problems))
    skipped_ids = {p.record for p in result.errors}
    missing = [name for name in wanted if name not in by_id and name not in skipped_ids]
    if missing:
        kept.problems.append(Problem(str(split), "", "", f"{len(missing)} listed task(s) not found in the source, "
                                     f"e.g. {', '.join(missing[:5])}", "warning"))
    return kept


def _check_unique_ids(result: LoadResult) -> None:
    seen: dict[str, str] = {}
    unique = []
    for task in result.tasks:
        if task.id in seen:
            result.problems.append(Problem(task.source, task.id, "", f"duplicate task id (also in {seen[task.id]}); skipped"))
            continue
        seen[task.id] = task.source
        unique.append(task)
    result.tasks[:] = unique


# --- Hugging Face datasets ---------------------------------------------------------------

_TASK_COLUMNS = ("task_name", "Task", "task", "task_id")
_DEFINITION_COLUMNS = ("definition", "Definition", "instruction")
_INPUT_COLUMNS = ("inputs", "input", "Input")
_OUTPUT_COLUMNS = ("targets", "output", "outputs", "Output")
_EXAMPLES_COLUMNS = ("Positive Examples", "positive_examples", "pos_examples")
_CATEGORY_COLUMNS = ("Categories", "categories", "category")


def load_hf_dataset(name: str, split: str = "train") -> LoadResult:
    """Tasks from a `datasets` dataset with NIV2-style columns.

    Three layouts are recognised: one row per task in the NIV2 file schema (Definition,
    Positive Examples, Instances); one row per instance with a task column (task_name /
    definition / inputs / targets, as in the Hub copies of NIV2, or an `Instance` struct as in
    the original loading script); or one row per instruction (instruction / input / output).
    """
    import datasets  # heavy import, only when asked for

    path = Path(name).expanduser()
    try:
        if path.is_dir():
            ds = datasets.load_from_disk(str(path))
            if isinstance(ds, datasets.DatasetDict):
                ds = ds[split]
        elif path.is_file():
            fmt = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}.get(path.suffix)
            if fmt is None:
                return LoadResult(problems=[Problem(name, "", "", f"unsupported dataset file type {path.suffix!r}")])
            ds = datasets.load_dataset(fmt, data_files=str(path), split="train")
        else:
            ds = datasets.load_dataset(name, split=split)
    except Exception as exc:  # datasets raises many types; the user needs the message, not the class
        return LoadResult(problems=[Problem(name, "", "", f"cannot load dataset: {exc}")])
    return tasks_from_rows(ds, source=f"hf:{name}")


def _pick(columns: Iterable[str], candidates: tuple[str, ...]) -> str | None:
    return next((c for c in candidates if c in columns), None)


def tasks_from_rows(rows: Any, *, source: str) -> LoadResult:
    columns = list(rows.column_names)
    if "Definition" in columns and "Instances" in columns:
        result = LoadResult()
        task_col = _pick(columns, _TASK_COLUMNS)
        for i, row in enumerate(rows):
            task_id = str(row[task_col]) if task_col else f"row{i}"
            try:
                result.tasks.append(task_from_niv2(row, task_id=task_id, file=source, problems=result.problems))
            except InvalidTask as exc:
                result.problems.append(exc.problem)
        return result

    task_col = _pick(columns, _TASK_COLUMNS)
    if task_col is None:
        if "instruction" in columns:
            return tasks_from_records(list(rows), file=source, id_prefix=source.split("/")[-1])
        return LoadResult(problems=[Problem(source, "", "", f"no task column (one of {_TASK_COLUMNS}) and no "
                                           f"'instruction' column; columns are {columns}")])
    def_col = _pick(columns, _DEFINITION_COLUMNS)
    in_col, out_col = _pick(columns, _INPUT_COLUMNS), _pick(columns, _OUTPUT_COLUMNS)
    ex_col, cat_col = _pick(columns, _EXAMPLES_COLUMNS), _pick(columns, _CATEGORY_COLUMNS)
    if def_col is None or (("Instance" not in columns) and (in_col is None or out_col is None)):
        return LoadResult(problems=[Problem(source, "", "", f"needs a definition column {_DEFINITION_COLUMNS} and "
                                           f"input/output columns {_INPUT_COLUMNS}/{_OUTPUT_COLUMNS}; "
                                           f"columns are {columns}")])
    grouped: OrderedDict[str, dict[str, Any]] = OrderedDict()
    for row in rows:
        task_id = str(row[task_col])
        entry = grouped.setdefault(task_id, {"definition": row[def_col], "instances": [],
                                             "examples": row[ex_col] if ex_col else [],
                                             "categories": row[cat_col] if cat_col else ()})
        if "Instance" in columns and isinstance(row["Instance"], dict):
            inst = dict(row["Instance"])
        else:
            inst = {"id": row.get("id", f"{task_id}-{len(entry['instances'])}"),
                    "input": row[in_col], "output": row[out_col]}
        entry["instances"].append(inst)
    result = LoadResult()
    for task_id, entry in grouped.items():
        try:
            result.tasks.append(build_task(task_id=task_id, file=source, problems=result.problems, **entry))
        except InvalidTask as exc:
            result.problems.append(exc.problem)
    return result
