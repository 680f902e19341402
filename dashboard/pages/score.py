"""Score: compute a task map in a background worker and watch it; the result opens on the map.

The worker is a separate process (core.loop.runs.launch_worker): reloading this page or closing
the tab leaves it running, and the run list below finds it again. Tasks already scored with
the same model and settings come from the cache instead of being recomputed.
"""

from pathlib import Path

import streamlit as st

from core.config import LABEL_MODES, PERTURBATION_MODES, ScoreConfig, ScoreRunConfig
from core.io import slug
from dashboard import data, jobs, widgets
from dashboard.paths import check_name, results_dir

st.title("Score tasks")


def open_on_map(run, status: dict) -> None:
    """What a finished scoring run offers: its scored set, opened on the map."""
    out = Path(status["result"]) if status.get("result") else jobs.scored_set_of(run)
    if status.get("state") == "done" and out is not None and data.exists_scored_set(out):
        st.success(f"Scored set ready: `{out}`")
        if st.button("Open it on the task map", type="primary", key="open_scored"):
            st.session_state["scored_set"] = str(out.resolve())
            st.switch_page("pages/task_map.py")


def show() -> None:
    if pending := st.session_state.pop("score_run_started", None):
        st.session_state["score_run"] = pending

    runs = [r for r in data.all_runs() if data.run_config(r).get("kind") == "score"]
    with st.expander("New scoring run", expanded=not runs):
        source = widgets.task_source_input("score_source")
        model = widgets.model_input("score_model")
        defaults = ScoreConfig()
        c1, c2, c3, c4 = st.columns(4)
        n = c1.number_input("instances per task (n)", 1, 200, defaults.n_instances, key="score_n")
        k = c2.number_input("perturbed prompts (k)", 1, 50, defaults.n_perturbations, key="score_k")
        p = c3.number_input("word-drop probability (p)", 0.0, 0.95, defaults.drop_prob, 0.05, key="score_p")
        seed = c4.number_input("seed", 0, 1_000_000, defaults.seed, key="score_seed")
        with st.expander("more settings"):
            d1, d2, d3 = st.columns(3)
            mode = d1.selectbox("perturb", PERTURBATION_MODES, key="score_mode",
                                help="TDTE: definition and example inputs (the paper); TD: definition only; "
                                     "TE: re-sampled examples")
            labels = d2.selectbox("answers scored", LABEL_MODES, key="score_labels",
                                  help="model: the model's own greedy output (the paper); gold: the reference")
            max_new = d3.number_input("max new tokens", 1, 1024, defaults.max_new_tokens, key="score_max_new")
        default_name = slug(("builtin" if source == "builtin" else Path(source or "tasks").stem) + "__"
                            + ("smollm2-135m-instruct" if model in (None, "default") else Path(model).name), limit=60).lower()
        name = st.text_input("result name (results/<name>)", key="score_name", placeholder=default_name,
                             help="leave empty for the name shown") or default_name
        out = None
        try:
            out = results_dir() / check_name(name, "result name")
        except ValueError as exc:
            st.error(str(exc))
        if out is not None and data.exists_scored_set(out):
            st.caption(f"`{out}` exists and will be replaced (cached scores are reused).")
        ready = source is not None and model is not None and out is not None
        if st.button("Start scoring", type="primary", disabled=not ready, key="start_scoring"):
            config = ScoreRunConfig(tasks=(source,), out=str(out), score=ScoreConfig(
                model=model, n_instances=int(n), n_perturbations=int(k), drop_prob=float(p), seed=int(seed),
                mode=mode, labels=labels, max_new_tokens=int(max_new)))
            started = jobs.start_run(config, label=name)
            st.session_state["score_run_started"] = started.name
            st.rerun()

    st.subheader("Scoring runs")
    if not runs:
        st.caption("No scoring run yet.")
        return
    by_name = {r.name: r for r in runs}
    if st.session_state.get("score_run") not in by_name:
        st.session_state["score_run"] = runs[0].name
    widgets.live_runs_table(runs, key="score_runs_table",
                            columns=["run", "what", "state", "progress", "updated", "message"])
    run = by_name[st.selectbox("watch run", list(by_name), key="score_run")]
    widgets.live_run(run, charts=False, after_final=lambda status: open_on_map(run, status))


with widgets.page_guard("the Score page"):
    show()
