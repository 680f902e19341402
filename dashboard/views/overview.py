"""Overview: what this project home holds (scored sets, runs, curated subsets) and where to start."""

import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.paths import project_home
from dashboard.text import escape
from dashboard.widgets.common import page_guard

st.title("Overview")
st.markdown(
    "**taskmap** helps choose which instruction tasks to train on by **prompt uncertainty**: score tasks (PU = how much "
    "the answer's probability moves when words of the prompt are dropped, PP = how sure the model is), "
    "see them on the **task map** (ambiguous / easy / difficult), select with a **policy** or by hand, "
    "and **train** in an active loop (Kung et al., EMNLP 2023).")


def show() -> None:
    st.caption(f"project home: {escape(project_home())}")
    sets = data.list_scored_sets()
    runs = data.all_runs()
    subsets = data.list_subsets()
    c1, c2, c3 = st.columns(3)
    c1.metric("scored sets", len(sets))
    c2.metric("runs", len(runs))
    c3.metric("curated subsets", len(subsets))

    st.subheader("Scored sets")
    if sets:
        st.dataframe(pd.DataFrame([{"name": s.name, "model": s.model, "tasks": s.n_tasks, "created": s.created,
                                    "sources": ", ".join(s.sources)} for s in sets]), hide_index=True, key="sets")
    else:
        st.caption("None yet: start one on the **Score** page or with `taskmap score builtin --out results/NAME`.")
    st.subheader("Runs")
    if runs:
        st.dataframe(data.runs_table(runs), hide_index=True, key="runs")
    else:
        st.caption("None yet: the **Score** and **Train** pages start them.")
    st.subheader("Curated subsets")
    if subsets:
        records = [(p, data.read_subset(p)) for p in subsets]
        st.dataframe(pd.DataFrame([{"name": p.stem, "tasks": len(r.get("task_ids", [])), "scored set": r.get("scored_set")}
                                   for p, r in records]), hide_index=True, key="subsets")
    else:
        st.caption("None yet: save one on the **Curate** page.")


with page_guard("the overview"):
    show()
