"""Compare and findings: policies across seeds, the ambiguous-vs-difficult experiment, and how
the map moves between the rounds of a loop."""

import pandas as pd
import streamlit as st

from core.figures.findings import findings_bar_figure, findings_summary
from core.figures.map import drift_figure
from core.figures.palette import METRIC_LABELS
from core.figures.runs import policy_curves_figure
from core.loop.compare import METRICS, drift_summary, eval_points
from dashboard import data
from dashboard.maps import map_for
from dashboard.text import escape, listing
from dashboard.widgets import rules
from dashboard.widgets.common import page_guard

st.title("Compare and findings")


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


def findings(runs) -> None:
    if not runs:
        st.info("No findings run yet: start one on the **Train** page (Findings experiment).")
        return
    run = next(r for r in runs if r.name == st.selectbox("findings run", [r.name for r in runs], key="findings_run"))
    results_path = run.path / "findings" / "results.parquet"
    report_path = run.path / "findings" / "report.md"
    if results_path.is_file():
        results = data.read_parquet(results_path)
        metric = st.selectbox("metric", [m for m in METRIC_LABELS if m in results], key="findings_metric",
                              format_func=METRIC_LABELS.get)
        st.plotly_chart(findings_bar_figure(results, metric), key="findings_bar", theme=None)
        st.dataframe(findings_summary(results, metric).round(3), hide_index=True, key="findings_table")
    else:
        st.caption(f"{escape(results_path.name)} not written yet (state: {escape(run.status().get('state'))}).")
    if report_path.is_file():
        # the report names models, pools and tasks: shown as its Markdown text, never rendered as markup
        with st.container(border=True):
            st.caption(f"{escape(report_path.name)}")
            st.code(report_path.read_text(), language="markdown", wrap_lines=True)
    for name in ("report.md", "report.html", "map.html"):
        path = run.path / "findings" / name
        if path.is_file():
            st.download_button(f"download {name}", path.read_bytes(), file_name=f"{run.name}-{name}",
                               mime="text/markdown" if name.endswith(".md") else "text/html", key=f"dl-{name}")


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
    findings_runs = [r for r in runs if data.run_config(r).get("kind") == "findings"]
    tab_curves, tab_findings, tab_drift = st.tabs(["Policies across seeds", "Findings", "Map drift"])
    with tab_curves:
        curves(loops)
    with tab_findings:
        findings(findings_runs)
    with tab_drift:
        drift(loops, rule)


with page_guard("the comparison"):
    show()
