"""Narrowing a per-task table: the map's filters and a selection's rows. Plain pandas (no
Streamlit), so the cached map and the pages share one definition."""

from __future__ import annotations

import numpy as np
import pandas as pd


def filter_tasks(tasks: pd.DataFrame, kinds: tuple[str, ...] = (), categories: tuple[str, ...] = (),
                 search: str = "") -> pd.DataFrame:
    """Tasks of the given kinds and categories whose id (or definition) contains `search`."""
    mask = np.ones(len(tasks), dtype=bool)
    if kinds:
        mask &= tasks["kind"].isin(kinds).to_numpy()
    if categories:
        wanted = set(categories)
        if "categories" in tasks:
            mask &= np.fromiter(((cats is not None and bool(wanted.intersection(cats))) for cats in tasks["categories"]),
                                dtype=bool, count=len(tasks))
        else:
            mask &= tasks["category"].isin(wanted).to_numpy()
    if search.strip():
        text = search.strip()
        hit = tasks["task_id"].str.contains(text, case=False, regex=False, na=False)
        if "definition" in tasks:
            hit |= tasks["definition"].str.contains(text, case=False, regex=False, na=False)
        mask &= hit.to_numpy()
    return tasks[mask]


def selection_table(tasks: pd.DataFrame, task_ids: list[str], columns: list[str] | None = None) -> pd.DataFrame:
    """The selected tasks' rows (only `columns`, when given), in selection order; ids not in
    `tasks` are left out."""
    base = tasks if tasks["task_id"].is_unique else tasks.drop_duplicates("task_id")
    positions = pd.Index(base["task_id"]).get_indexer(pd.unique(pd.Series(list(task_ids), dtype=object)))
    rows = base.iloc[positions[positions >= 0]]
    if columns is not None:
        rows = rows[[c for c in columns if c in rows]]
    return rows.reset_index(drop=True)
