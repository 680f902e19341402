"""The region rule's controls (shared by every page that colours tasks by region) and the
tasks-per-region metrics. The controls come from RegionRule's own field descriptions."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.config import RegionRule, options
from core.taskmap.regions import REGIONS, region_counts

from .. import state
from .common import shared

RULE_OPTIONS = options(RegionRule)
RULE_DEFAULTS = {state.rule_key(name): opt.default for name, opt in RULE_OPTIONS.items()}
RANK_FIELDS = ("ambiguous_frac", "easy_frac", "difficult_frac")
THRESHOLD_FIELDS = ("ambiguous_pu", "certain_pu", "easy_pp", "difficult_pp")


def rule_controls(where=None) -> RegionRule:
    """The region rule's parameters; changing one recolours every map. Invalid combinations
    (fractions summing over 1) show a message and fall back to the default rule."""
    where = where or st.sidebar
    with where.expander("Region rule", expanded=False):
        method_opt = RULE_OPTIONS["method"]
        method = shared(st.radio, method_opt.label, state.rule_key("method"), method_opt.default,
                        options=list(method_opt.choices), horizontal=True, help=method_opt.help)
        if method == "rank":
            for name in RANK_FIELDS:
                opt = RULE_OPTIONS[name]
                shared(st.slider, opt.label, state.rule_key(name), opt.default, min_value=opt.min,
                       max_value=opt.max, step=0.01, help=opt.help)
        else:
            for name in THRESHOLD_FIELDS:
                opt = RULE_OPTIONS[name]
                fine = name.endswith("_pu")  # PU cut-offs are small numbers
                shared(st.number_input, opt.label, state.rule_key(name), opt.default, min_value=opt.min,
                       max_value=opt.max, step=0.005 if fine else 0.01, format="%.3f" if fine else "%.2f",
                       help=opt.help)
        st.button("reset rule", key="rule_reset", on_click=_reset_rule)
    for key, value in RULE_DEFAULTS.items():
        st.session_state.setdefault(key, value)
    try:
        return RegionRule(**{name: st.session_state[state.rule_key(name)] for name in RULE_OPTIONS})
    except ValueError as exc:
        where.error(f"Region rule not applied: {exc}. Using the default rule.")
        return RegionRule()


def _reset_rule() -> None:
    for key, value in RULE_DEFAULTS.items():
        st.session_state[key] = value


def region_metrics(regions: pd.Series, total: int | None = None) -> None:
    """Tasks per region as a row of metrics."""
    counts = region_counts(regions)
    cols = st.columns(len(REGIONS))
    for col, name in zip(cols, REGIONS):
        col.metric(name, counts[name], help=f"tasks in the {name} region" + (f" (of {total})" if total else ""))
