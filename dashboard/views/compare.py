"""Compare: policies across seeds, and how the map moves between the rounds of a loop. (The
ambiguous-vs-difficult experiment has its own page, Findings.)"""

import pandas as pd
import streamlit as st

from core.figures.map import drift_figure
from core.figures.palette import METRIC_LABELS
from core.figures.runs import policy_curves_figure
from core.loop.compare import METRICS, drift_summary, eval_points
from dashboard import data
from dashboard.maps import map_for
from dashboard.text import escape, listing
from dashboard.widgets import rules
from dashboard.widgets.common import page_guard

st.title("Compare")


def curves(loops) -> None:
    if not loops:
        st.info("No loop run yet: start some on the **Train** page (one per policy and seed).")
        return
    chosen = st.multiselect("loop runs", [r.name for r in loops], default=[r.name for r in loops], key="curve_runs")
    c1, c2 = st.columns(2)
    metric = c1.selectbox("metric", [*METRICS, "exact_match"], format_func=METRIC_LABELS.get, key="curve_metric")
    spread = c2.radio("band", ["std", "minmax"], horizontal=True, key="curve_spread",
                      format_func={"std": "mean ± 1 std", "minmax": "min–max"}.get)
    # core.loop.compare.eval_points: the latest attempt of each round, as `taskmap compare` counts them
    points = eval_points([r for r in loops if r.name in chosen]).dropna(subset=[metric])
    if points.empty:
        st.info("The chosen runs have no evaluation yet.")
        return
    st.plotly_chart(policy_curves_figure(points, [metric], spread), key="curves", theme=None)
    seeds = points.groupby("policy")["run"].nunique()
    st.caption("runs per policy: " + ", ".join(f"{escape(p)}: {n}" for p, n in seeds.items())
               + ". One run is one seed; compare policies only over several seeds.")
    table = points.pivot_table(index="policy", columns="n_tasks", values=metric, aggfunc="mean")
    st.dataframe(table.round(2), key="curves_table")


def drift(loops, rule) -> None:
    with_maps = {r.name: r for r in loops if data.round_taskmaps(r)}
    if not with_maps:
        st.info("No loop run has written a per-round map (rounds/<r>/taskmap.parquet) yet.")
        return
    run = with_maps[st.selectbox("loop run", list(with_maps), key="drift_run")]
    maps = data.round_taskmaps(run)
    tables = {r: data.tasks_with_rule(path, rule) for r, path in maps.items()}
    view = st.radio("view", ["one round", "animation"], horizontal=True, key="drift_view")
    if view == "one round" and len(maps) > 1:
        round_index = st.select_slider("round", list(maps), key="drift_round")
    else:
        round_index = min(maps)
    if view == "one round":
        table = tables[round_index]
        trained = table.loc[table.get("selected_before", pd.Series(False, index=table.index))
                            .fillna(False).astype(bool), "task_id"]
        picked = data.round_selection(run, round_index).get("task_ids", [])
        figure, _ = map_for(maps[round_index], rule, highlight=list(trained),
                            title=f"{run.name}: start of round {round_index}")
        st.plotly_chart(figure, key="drift_map", theme=None)
        st.caption(f"{len(trained)} tasks trained on before this round are outlined; "
                   f"this round selected {len(picked)}: {listing(picked)}")
    else:
        st.plotly_chart(drift_figure(tables), key="drift_animation", theme=None)
    st.dataframe(drift_summary(tables), hide_index=True, key="drift_table")


def show() -> None:
    rule = rules.rule_controls()
    runs = data.all_runs()
    loops = [r for r in runs if data.run_config(r).get("kind") == "loop"]
    tab_curves, tab_drift = st.tabs(["Policies across seeds", "Map drift"])
    with tab_curves:
        curves(loops)
    with tab_drift:
        drift(loops, rule)


with page_guard("the comparison"):
    show()
