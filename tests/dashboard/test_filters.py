"""The map's filters and a selection's rows (dashboard/filters.py)."""

import pandas as pd

from dashboard.filters import filter_tasks, selection_table

TASKS = pd.DataFrame({"task_id": ["a", "b", "c", "d"], "kind": ["classification", "generation"] * 2,
                      "categories": [["X"], ["Y"], ["X", "Y"], []], "definition": ["find cats", "", "dogs", "CATS"],
                      "pu": [0.1, 0.2, 0.3, 0.4]})


def test_filters_combine_kind_category_and_text():
    assert list(filter_tasks(TASKS, kinds=("generation",))["task_id"]) == ["b", "d"]
    assert list(filter_tasks(TASKS, categories=("X",))["task_id"]) == ["a", "c"]
    assert list(filter_tasks(TASKS, search="cats")["task_id"]) == ["a", "d"]  # id or definition, any case
    assert list(filter_tasks(TASKS, kinds=("classification",), categories=("Y",))["task_id"]) == ["c"]


def test_selection_rows_in_selection_order_with_the_asked_columns():
    rows = selection_table(TASKS, ["c", "zzz", "a", "c"], columns=["task_id", "pu", "missing"])
    assert list(rows["task_id"]) == ["c", "a"] and list(rows.columns) == ["task_id", "pu"]
    assert selection_table(TASKS, []).empty
    doubled = pd.concat([TASKS, TASKS.head(1)])
    assert list(selection_table(doubled, ["a"])["task_id"]) == ["a"]
