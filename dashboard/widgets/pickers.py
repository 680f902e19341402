"""Choosing what to look at: a scored set (sidebar), the Task map's filters, one task."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from .. import data, state
from .common import shared

ALL_MODELS = "all models"
THE_SET_ITSELF = "scored set itself"


def scored_set_picker(where=None) -> data.ScoredSetInfo | None:
    """Pick a scored set under <home>/results (optionally narrowed to one model)."""
    where = where or st.sidebar
    sets = data.list_scored_sets()
    if not sets:
        where.info("No scored set yet under `results/`. Score tasks on the **Score** page, or run "
                   "`taskmap score builtin --out results/NAME`.")
        return None
    models = sorted({s.model for s in sets})
    if len(models) > 1:
        if st.session_state.get(state.SET_MODEL) not in [ALL_MODELS, *models]:
            st.session_state[state.SET_MODEL] = ALL_MODELS
        model = shared(where.selectbox, "model", state.SET_MODEL, options=[ALL_MODELS, *models])
        sets = [s for s in sets if model == ALL_MODELS or s.model == model]
    by_path = {str(s.path): s for s in sets}
    if st.session_state.get(state.SCORED_SET) not in by_path:
        st.session_state[state.SCORED_SET] = next(iter(by_path))
    chosen = shared(where.selectbox, "scored set", state.SCORED_SET, options=list(by_path),
                    format_func=lambda p: by_path[p].label)
    return by_path[chosen]


@dataclass(frozen=True)
class MapView:
    """What the Task map shows: a per-task table file and the filters on it."""

    table_path: Path
    source: str                      # the scored set's name, or "<run> · round <r>"
    kinds: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    search: str = ""


def map_filters(info: data.ScoredSetInfo, where=None) -> MapView:
    """The Task map's sidebar filters: a loop round's map instead of the set itself (the pool
    as scored with that round's model), kinds, categories and text in the id or definition."""
    where = where or st.sidebar
    rounds = {f"{run.name} · round {r}": path for run in data.all_runs()
              for r, path in data.round_taskmaps(run).items()}
    with where.expander("Filters", expanded=True):
        choice = THE_SET_ITSELF
        if rounds:
            if st.session_state.get(state.MAP_ROUND) not in [THE_SET_ITSELF, *rounds]:
                st.session_state[state.MAP_ROUND] = THE_SET_ITSELF
            choice = shared(st.selectbox, "loop round", state.MAP_ROUND, options=[THE_SET_ITSELF, *rounds],
                            help="show the pool as scored at the start of a loop run's round")
        table_path = rounds.get(choice, info.path / "tasks.parquet")
        kinds = shared(st.multiselect, "kind", state.MAP_KINDS, [], options=["classification", "generation"],
                       placeholder="all kinds")
        category_options = data.categories(table_path)
        st.session_state[state.MAP_CATEGORIES] = [c for c in st.session_state.get(state.MAP_CATEGORIES) or []
                                                  if c in category_options]
        categories = shared(st.multiselect, "category", state.MAP_CATEGORIES, options=category_options,
                            placeholder="all categories")
        search = shared(st.text_input, "name contains", state.MAP_SEARCH, "",
                        placeholder="task id or definition text")
    return MapView(Path(table_path), choice if choice in rounds else info.name, tuple(kinds), tuple(categories),
                   search.strip())


def task_picker(tasks: pd.DataFrame) -> str:
    """One task of `tasks`, shared with the map: tasks selected there are listed first."""
    ids = set(tasks["task_id"])
    selected = [t for t in state.map_selection() if t in ids]
    options = selected + sorted(ids - set(selected))
    if st.session_state.get(state.DETAIL_TASK) not in options:
        st.session_state[state.DETAIL_TASK] = options[0]
    return shared(st.selectbox, "task", state.DETAIL_TASK, options=options,
                  help="tasks selected on the map are listed first")
