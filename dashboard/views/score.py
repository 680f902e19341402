"""Score: compute a task map in a background worker and watch it; the result opens on the map.

The worker is a separate process (core.loop.runs.launch_worker): reloading this page or closing
the tab leaves it running, and the run list below finds it again. Tasks already scored with
the same model and settings come from the cache instead of being recomputed. The settings'
labels, defaults, bounds, choices and help come from ScoreConfig itself.
"""

from pathlib import Path

import streamlit as st

from core.config import ScoreConfig, ScoreRunConfig
from core.io import slug
from dashboard import data, jobs, nav, state
from dashboard.paths import check_name, results_dir
from dashboard.text import escape
from dashboard.widgets import forms, runs, sources
from dashboard.widgets.common import page_guard

st.title("Score tasks")

MAIN = ("n_instances", "n_perturbations", "drop_prob", "seed")
NOT_ON_THE_FORM = ("model", "revision", "trust_remote_code")  # the model comes from sources.model_input
SCALE_OUT = ("backend", "workers", "threads", "ray_address")  # how the scoring runs, not what it computes


def open_on_map(run, status: dict) -> None:
    """What a finished scoring run offers: its scored set, opened on the map."""
    out = Path(status["result"]) if status.get("result") else jobs.scored_set_of(run)
    if status.get("state") == "done" and out is not None and data.exists_scored_set(out):
        st.success(f"Scored set ready: {escape(out)}")
        if st.button("Open it on the task map", type="primary", key="open_scored"):
            st.session_state[state.SCORED_SET] = str(out.resolve())
            st.switch_page(nav.TASK_MAP)


def new_run_form(has_runs: bool) -> None:
    with st.expander("New scoring run", expanded=not has_runs):
        source = sources.task_source_input("score_source")
        model = sources.model_input("score_model")
        values = forms.config_inputs(ScoreConfig, MAIN, key_prefix="score")
        with st.expander("more settings"):
            more = forms.described_fields(ScoreConfig, exclude=(*MAIN, *NOT_ON_THE_FORM, *SCALE_OUT))
            values |= forms.config_inputs(ScoreConfig, more, key_prefix="score", columns=3)
        with st.expander("advanced: backend and scale-out"):
            st.caption("Where the packs are scored: in the worker process (0 Ray workers), on N Ray actors of a "
                       "local cluster, or on an existing Ray cluster; the tables are the same either way, and "
                       "packs already cached are not scored again. Ray needs `pip install 'taskmap[ray]'`.")
            values |= forms.config_inputs(ScoreConfig, SCALE_OUT, key_prefix="score", columns=4)
        default_name = slug(("builtin" if source == "builtin" else Path(source or "tasks").stem) + "__"
                            + ("smollm2-135m-instruct" if model in (None, "default") else Path(model).name),
                            limit=60).lower()
        name = st.text_input("result name (results/<name>)", key="score_name", placeholder=default_name,
                             help="leave empty for the name shown") or default_name
        out = None
        try:
            out = results_dir() / check_name(name, "result name")
        except ValueError as exc:
            st.error(escape(exc))
        if out is not None and data.exists_scored_set(out):
            st.caption(f"{escape(out)} exists and will be replaced (cached scores are reused).")
        ready = source is not None and model is not None and out is not None
        if st.button("Start scoring", type="primary", disabled=not ready, key="start_scoring"):
            config = ScoreRunConfig(tasks=(source,), out=str(out),
                                    score=forms.replace(ScoreConfig(model=model), values))
            st.session_state[state.SCORE_RUN_STARTED] = jobs.start_run(config, label=name).name
            st.rerun()


def show() -> None:
    if started := state.take(state.SCORE_RUN_STARTED):
        st.session_state[state.SCORE_RUN] = started
    score_runs = [r for r in data.all_runs() if data.run_config(r).get("kind") == "score"]
    new_run_form(bool(score_runs))

    st.subheader("Scoring runs")
    if not score_runs:
        st.caption("No scoring run yet.")
        return
    by_name = {r.name: r for r in score_runs}
    if st.session_state.get(state.SCORE_RUN) not in by_name:
        st.session_state[state.SCORE_RUN] = score_runs[0].name
    runs.live_runs_table(score_runs, key="score_runs_table",
                         columns=["run", "what", "state", "progress", "updated", "message"])
    run = by_name[st.selectbox("watch run", list(by_name), key=state.SCORE_RUN)]
    runs.live_run(run, charts=False, after_final=lambda status: open_on_map(run, status))


with page_guard("the Score page"):
    show()
