"""Every st.session_state key the dashboard reads or writes, named once, and the hand-offs that
carry work between pages through them.

A page never spells a session key as a string: it uses a name from here. (A widget's own `key=`
stays on the page that draws it, unless some code reads that widget's value through
st.session_state; then the key is named here too.) Values several pages share are kept in plain
session state and mirrored into their widgets by dashboard.widgets.common.shared.
"""

from __future__ import annotations

from typing import Any, Iterable

import pandas as pd
import streamlit as st

from .curation import curate_rows, empty_table, merge_rows

# --- values several pages share (drawn with widgets.common.shared) -------------------------------
SCORED_SET = "scored_set"            # path (str) of the scored set chosen in the sidebar
SET_MODEL = "set_model"              # the model the scored-set list is narrowed to ("all models" or a name)
RULE_PREFIX = "rule_"                # the region rule's fields: rule_method, rule_ambiguous_frac, ...
MAP_ROUND = "map_round"              # Task map: the scored set itself or a loop run's round
MAP_KINDS = "map_kinds"              # Task map filters: kinds, categories, text in the id or definition
MAP_CATEGORIES = "map_categories"
MAP_SEARCH = "map_search"
DETAIL_TASK = "detail_task"          # the task shown on Task detail

# --- work carried between pages ------------------------------------------------------------------
MAP_SELECTION = "map_selection"      # task ids selected on the map (list of str)
MAP_VERSION = "map_version"          # bumped to draw the map as a fresh, unselected chart
POLICY_PICKS = "policy_picks"        # {"policy", "n", "seed", "quota", "task_ids", "scored_set"} from Policies
CURATE_TABLE = "curate_table"        # the Curate table (DataFrame)
CURATE_VERSION = "curate_version"    # bumped when the table is replaced, so the editor starts fresh
NOTICE = "notice"                    # a success message shown once by the page that is opened next
EXPORT_ZIP = "export_zip"            # (name, bytes) of the last task directory written by Curate

# --- runs watched on the Score and Train pages (the "watch run" selectboxes) ----------------------
SCORE_RUN = "score_run"
SCORE_RUN_STARTED = "score_run_started"  # set when a run starts; becomes SCORE_RUN on the next run
TRAIN_RUN = "train_run"
TRAIN_RUN_STARTED = "train_run_started"
FINDINGS_RUN = "findings_run"        # the findings run shown on Findings (its selectbox)
FINDINGS_RUN_STARTED = "findings_run_started"  # set when the demo button starts a run


def rule_key(field: str) -> str:
    """The session key of one region-rule field."""
    return RULE_PREFIX + field


def bump(key: str) -> int:
    """Increase a counter kept in session state (a version that gives a widget a fresh key)."""
    st.session_state[key] = st.session_state.get(key, 0) + 1
    return st.session_state[key]


def take(key: str, default: Any = None) -> Any:
    """A value set for one use (a notice, a run just started): read and removed."""
    return st.session_state.pop(key, default)


def set_notice(text: str) -> None:
    st.session_state[NOTICE] = text


def map_selection() -> list[str]:
    return list(st.session_state.get(MAP_SELECTION) or [])


def set_map_selection(task_ids: Iterable[str]) -> None:
    st.session_state[MAP_SELECTION] = list(task_ids)


def clear_map_selection() -> None:
    """No task selected, and the map drawn as a fresh chart (which drops its own selection)."""
    st.session_state[MAP_SELECTION] = []
    bump(MAP_VERSION)


def policy_picks() -> dict[str, Any]:
    return st.session_state.get(POLICY_PICKS) or {}


def curate_table() -> pd.DataFrame:
    return st.session_state.get(CURATE_TABLE, empty_table())


def replace_curate_table(table: pd.DataFrame) -> None:
    st.session_state[CURATE_TABLE] = table
    bump(CURATE_VERSION)


def send_to_curate(tasks: pd.DataFrame, task_ids: Iterable[str], added_from: str) -> int:
    """Add tasks to the Curate table (those already there keep their notes). Returns how many were new."""
    current = curate_table()
    merged = merge_rows(current, curate_rows(tasks, task_ids, added_from))
    replace_curate_table(merged)
    return len(merged) - len(current)
