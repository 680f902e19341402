"""The Curate table and saved subsets (dashboard/curation.py)."""

from __future__ import annotations

import pandas as pd

from dashboard import curation


def test_curate_table_merge_and_editor_state():
    tasks = pd.DataFrame({"task_id": ["a", "b", "c"], "kind": ["classification", "generation", "generation"],
                          "region": ["ambiguous", "easy", "other"], "pu": [0.2, 0.01, 0.05], "pp": [0.5, 0.9, 0.6]})
    table = curation.curate_rows(tasks, ["b", "a", "b"], "map")
    assert list(table["task_id"]) == ["b", "a"] and table["include"].all()
    table.loc[1, "notes"] = "keep"
    merged = curation.merge_rows(table, curation.curate_rows(tasks, ["a", "c", "zzz"], "policy"))
    assert list(merged["task_id"]) == ["b", "a", "c", "zzz"]
    assert merged.loc[1, "notes"] == "keep" and merged.loc[1, "added_from"] == "map"
    assert pd.isna(merged.loc[3, "pu"])  # unknown ids stay, without scores
    edited = curation.apply_editor_state(merged, {"edited_rows": {"0": {"include": False, "notes": "no"}},
                                                  "deleted_rows": [3], "added_rows": []})
    assert list(edited["task_id"]) == ["b", "a", "c"]
    assert not edited.loc[0, "include"] and edited.loc[0, "notes"] == "no"
    record = curation.subset_record("s", edited, "/r/set")
    assert record["task_ids"] == ["a", "c"] and record["notes"] == {"a": "keep", "c": ""}
    assert curation.split_bytes(record["task_ids"]) == b"a\nc\n"

