"""Loaders on the real shared data and on malformed fixtures; the built-in suite."""

import json
from pathlib import Path

import pytest

from core.data.loaders import BUILTIN_TASKS, load_tasks, tasks_from_rows
from core.data.tasks import MAX_INPUT_CHARS
from tests.conftest import MALFORMED, shared_path

# --- real data ----------------------------------------------------------------------------

def test_niv2_train_pool_and_eval():
    pool = load_tasks(shared_path("niv2", "train_pool"))
    assert len(pool.tasks) == 45 and not pool.problems
    index = json.loads((shared_path("niv2", "train_pool") / "_index.json").read_text())
    first = pool.tasks[0]
    assert first.definition and len(first.examples) >= 1
    assert all(len(t.instances) >= 16 for t in pool.tasks)
    kinds = [t.kind for t in pool.tasks]
    assert kinds.count("classification") == 15  # the data README: 15 classification-style tasks
    sst2 = next(t for t in pool.tasks if t.id.startswith("task363"))
    assert sst2.kind == "classification" and sst2.categories == ("Sentiment Analysis",)
    assert {i.outputs[0] for i in sst2.instances} == {"POS", "NEG"}
    assert index  # the index file is not mistaken for a task (it does not match task*.json)

    held_out = load_tasks(shared_path("niv2", "eval"))
    assert len(held_out.tasks) == 14 and not held_out.errors


def test_official_split_filters_tasks():
    pool_dir = shared_path("niv2", "train_pool")
    split = shared_path("niv2", "splits", "train_tasks.txt")
    result = load_tasks(pool_dir, split=split)
    assert len(result.tasks) == 45  # all pool tasks are official train tasks
    assert any("not found" in p.message for p in result.warnings)  # the other 711 are reported, not silent
    test_split = load_tasks(pool_dir, split=shared_path("niv2", "splits", "test_tasks.txt"))
    assert test_split.tasks == []


def test_niv2_checkout_layout(tmp_path):
    """A clone of allenai/natural-instructions: tasks/ plus splits/default/*.txt."""
    pool = shared_path("niv2", "train_pool")
    (tmp_path / "tasks").mkdir()
    (tmp_path / "splits" / "default").mkdir(parents=True)
    names = sorted(p.name for p in pool.glob("task*.json"))[:3]
    for name in names:
        (tmp_path / "tasks" / name).write_bytes((pool / name).read_bytes())
    (tmp_path / "splits" / "default" / "train_tasks.txt").write_text(Path(names[1]).stem + "\n")
    assert len(load_tasks(tmp_path).tasks) == 3
    only = load_tasks(tmp_path, split="splits/default/train_tasks.txt")
    assert [t.id for t in only.tasks] == [Path(names[1]).stem]


def test_self_instruct_and_alpaca_records():
    seeds = load_tasks(shared_path("self_instruct", "seed_tasks.jsonl"))
    assert len(seeds.tasks) == 175 and not seeds.errors
    assert seeds.tasks[0].id == "seed_task_0"
    assert sum(t.kind == "classification" for t in seeds.tasks) == sum(
        json.loads(line)["is_classification"] for line in shared_path("self_instruct", "seed_tasks.jsonl").open())
    alpaca = load_tasks(shared_path("alpaca_cleaned", "alpaca_cleaned_subset_sample2k.json"))
    assert len(alpaca.tasks) == 2000 and not alpaca.errors
    assert all(len(t.instances) == 1 and not t.examples for t in alpaca.tasks)


# --- malformed input ----------------------------------------------------------------------

def test_malformed_files_get_clear_errors_and_valid_tasks_still_load():
    result = load_tasks(MALFORMED)
    ids = sorted(t.id for t in result.tasks)
    assert ids == ["task01_valid", "task07_outputs_not_list", "task08_duplicate_ids"]
    by_file = {Path(p.file).name: p for p in result.errors}
    assert "not valid JSON" in by_file["task02_not_json.json"].message
    assert "line 1" in by_file["task02_not_json.json"].message
    assert by_file["task03_missing_definition.json"].field == "Definition"
    assert "missing" in by_file["task03_missing_definition.json"].message
    assert "empty" in by_file["task04_empty_definition.json"].message
    assert by_file["task05_empty_instances.json"].field == "Instances"
    assert "must be a list" in by_file["task06_instances_not_list.json"].message
    assert "no valid instance" in by_file["task09_all_outputs_bad.json"].message
    assert "not UTF-8" in by_file["task10_not_utf8.json"].message
    # instance-level problems skip the instance, name file + record + field, and keep the task
    warnings = {(Path(p.file).name, p.field) for p in result.warnings}
    assert ("task07_outputs_not_list.json", "Instances[0] (id x-0).output") in warnings
    assert ("task08_duplicate_ids.json", "Instances[2] (id x-0).id") in warnings
    dup = next(t for t in result.tasks if t.id == "task08_duplicate_ids")
    assert [i.id for i in dup.instances] == ["x-0", "x-1"]
    text = str(by_file["task03_missing_definition.json"])
    assert "task03_missing_definition.json" in text and "record task03_missing_definition" in text
    summary = result.summary()
    assert "3 tasks loaded, 7 skipped" in summary


def test_huge_input_is_skipped_not_truncated(tmp_path):
    task = {"Definition": ["Echo."], "Instances": [{"id": "a", "input": "x" * (MAX_INPUT_CHARS + 1), "output": ["x"]},
                                                  {"id": "b", "input": "ok", "output": ["ok"]}]}
    (tmp_path / "task1_huge.json").write_text(json.dumps(task))
    result = load_tasks(tmp_path)
    assert [i.id for i in result.tasks[0].instances] == ["b"]
    assert "limit" in result.warnings[0].message and result.warnings[0].field.startswith("Instances[0]")


def test_bad_records_reported_by_line(tmp_path):
    result = load_tasks(MALFORMED / "records_bad.jsonl")
    assert [t.definition for t in result.tasks] == ["Say hi."]
    messages = [str(p) for p in result.errors]
    assert any("line 2" in m and "not valid JSON" in m for m in messages)
    assert any("field 'instruction'" in m and "empty" in m for m in messages)
    assert any("field 'output'" in m for m in messages)


def test_missing_path_and_empty_dir(tmp_path):
    assert "no such file" in load_tasks(tmp_path / "nope").errors[0].message
    assert "no task*.json" in load_tasks(tmp_path).errors[0].message


# --- datasets ---------------------------------------------------------------------------

def test_hf_dataset_row_per_instance_saved_to_disk(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = {"task_name": ["t1", "t1", "t2"], "id": ["a", "b", "c"],
            "definition": ["Answer yes or no.", "Answer yes or no.", "Name the colour."],
            "inputs": ["Is the sky blue?", "Is fire cold?", "grass"], "targets": ["yes", "no", "green"]}
    datasets.Dataset.from_dict(rows).save_to_disk(str(tmp_path / "ds"))
    result = load_tasks(f"hf:{tmp_path / 'ds'}")
    assert [t.id for t in result.tasks] == ["t1", "t2"] and not result.problems
    assert [i.outputs for i in result.tasks[0].instances] == [("yes",), ("no",)]


def test_hf_dataset_niv2_rows_from_parquet(tmp_path):
    datasets = pytest.importorskip("datasets")
    pool = shared_path("niv2", "train_pool")
    records = []
    for path in sorted(pool.glob("task*.json"))[:2]:
        data = json.loads(path.read_text())
        records.append({"task_name": path.stem, "Definition": data["Definition"], "Categories": data["Categories"],
                        "Positive Examples": [{"input": e["input"], "output": e["output"]} for e in data["Positive Examples"]],
                        "Instances": [{"id": i["id"], "input": i["input"], "output": i["output"]} for i in data["Instances"]]})
    datasets.Dataset.from_list(records).to_parquet(str(tmp_path / "niv2.parquet"))
    result = load_tasks(f"hf:{tmp_path / 'niv2.parquet'}")
    direct = load_tasks([pool / f"{r['task_name']}.json" for r in records])
    assert [t.id for t in result.tasks] == [t.id for t in direct.tasks]
    assert [t.content_hash for t in result.tasks] == [t.content_hash for t in direct.tasks]


def test_hf_dataset_unknown_columns_is_a_clear_error():
    datasets = pytest.importorskip("datasets")
    result = tasks_from_rows(datasets.Dataset.from_dict({"a": [1], "b": [2]}), source="hf:weird")
    assert not result.tasks and "columns are ['a', 'b']" in result.errors[0].message


def test_hf_hub_unreachable_offline_is_an_error_not_a_hang():
    result = load_tasks("hf:someone/does-not-exist")
    assert not result.tasks and "cannot load dataset" in result.errors[0].message


# --- the built-in suite -------------------------------------------------------------------

def test_builtin_suite():
    result = load_tasks("builtin")
    assert not result.problems
    assert len(result.tasks) >= 30
    assert all(len(t.instances) >= 20 and len(t.examples) >= 2 for t in result.tasks)
    kinds = {t.kind for t in result.tasks}
    assert kinds == {"classification", "generation"}
    assert all(t.source.startswith(str(BUILTIN_TASKS)) for t in result.tasks)
    for t in result.tasks:
        if t.kind == "classification":
            labels = {o for i in t.instances for o in i.outputs}
            assert all(label.lower() in t.definition.lower() for label in labels), t.id
