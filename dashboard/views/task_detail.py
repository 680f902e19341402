"""Task detail: why one task sits where it does on the map (its perturbed prompts, instances,
and the probability of each instance's answer under every prompt)."""

import numpy as np
import pandas as pd
import streamlit as st

from core.figures.task import perturbation_figure
from dashboard import data
from dashboard.text import code, escape, listing, perturbation_lines, region_badge
from dashboard.widgets import pickers, rules
from dashboard.widgets.common import page_guard

st.title("Task detail")


def instances_table(seqs: pd.DataFrame) -> pd.DataFrame:
    """One row per instance: input, gold, prediction, mean |P_j − P_0| and every P_j."""
    base = seqs[seqs["perturbation"] == 0].set_index("instance_id")
    wide = seqs.pivot_table(index="instance_id", columns="perturbation", values="prob")
    wide.columns = [f"P_{j}" for j in wide.columns]
    deltas = wide.drop(columns="P_0").sub(wide["P_0"], axis=0).abs() if "P_0" in wide else wide
    return pd.DataFrame({
        "input": base["input"],
        "gold": [" | ".join(g) if g is not None else "" for g in base["gold"]],
        "prediction": base["prediction"],
        "mean |P_j − P_0|": deltas.mean(axis=1),
    }).join(wide).reset_index()


def show() -> None:
    info = pickers.scored_set_picker()
    rule = rules.rule_controls()
    if info is None:
        return
    tasks = data.tasks_with_rule(info.path / "tasks.parquet", rule)
    if tasks.empty:
        st.info("This scored set has no tasks.")
        return
    task_id = pickers.task_picker(tasks)
    row = tasks.set_index("task_id").loc[task_id]

    st.markdown(f'<div class="task-title" style="font-size:1.5rem;font-weight:600;margin:0.25rem 0 0.5rem">'
                f"{code(task_id)} {region_badge(row['region'])}</div>", unsafe_allow_html=True)
    cats = row.get("categories")
    cats = list(cats) if cats is not None and len(cats) else [row.get("category", "")]
    st.caption(f"{escape(row.get('kind', ''))} · {listing(cats)} · {escape(info.name)}")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("prompt uncertainty (PU)", f"{row['pu']:.4f}",
              help="mean |P_j − P_0| over instances and perturbed prompts j = 1..k"
                   + (f"; ± {row['pu_sem']:.4f} (s.e.m.)" if pd.notna(row.get("pu_sem")) else ""))
    c2.metric("prediction probability (PP)", f"{row['pp']:.3f}", help="mean P_0 over instances")
    c3.metric("perplexity", f"{row['perplexity']:.2f}", help="mean 1 / P_0 over instances")
    c4.metric("region", row["region"], help=f"under the current rule ({rule.method})")

    seqs = data.task_sequences(info.path, task_id)
    if seqs.empty:
        st.info("This scored set has no per-sequence rows for this task (sequences.parquet is missing or "
                "does not list it), so only its scores can be shown.")
        return

    st.subheader("Definition and its perturbations")
    definition = str(row.get("definition") or seqs.loc[seqs["perturbation"] == 0, "definition"].iloc[0])
    st.markdown(f'<div style="overflow-wrap:anywhere"><b>original (j = 0):</b> {escape(definition)}</div>',
                unsafe_allow_html=True)
    perturbed = seqs[seqs["perturbation"] > 0].drop_duplicates("perturbation").sort_values("perturbation")
    dropped = {int(r.perturbation): list(r.definition_dropped if r.definition_dropped is not None else [])
               for r in perturbed.itertuples()}
    st.markdown(perturbation_lines(definition, dropped), unsafe_allow_html=True)
    st.caption("Struck-through red words were dropped from the definition in that perturbed prompt "
               "(the in-context examples' inputs are perturbed too; see the table below).")

    st.subheader("Probability of each answer under every prompt")
    st.plotly_chart(perturbation_figure(seqs), key="perturbation_chart", theme=None)

    st.subheader("Instances")
    instances = instances_table(seqs)
    st.dataframe(instances, hide_index=True, key="instances_table",
                 column_config={c: st.column_config.NumberColumn(format="%.3f")
                                for c in instances.columns if c.startswith("P_") or c.startswith("mean")})
    with st.expander("in-context examples per prompt"):
        examples = seqs.drop_duplicates("perturbation").sort_values("perturbation")
        for r in examples.itertuples():
            inputs = list(r.example_inputs) if r.example_inputs is not None else []
            st.markdown(f"**j = {r.perturbation}:** " + (" · ".join(code(x) for x in inputs) if inputs
                                                         else "(no examples)"), unsafe_allow_html=True)
    if np.any(seqs.get("truncated", pd.Series(False))):
        st.warning("Some of this task's prompts were truncated to the model's prompt length limit.")


with page_guard("the task detail"):
    show()
