"""A run as the pages show it: state, progress, cancel, loss and held-out charts, the worker's
log, redrawn every few seconds from the run's files while its worker works."""

from __future__ import annotations

import time

import streamlit as st

from core.figures.findings import findings_bar_figure
from core.figures.runs import loss_figure, rouge_figure
from core.loop.runs import RunDir

from .. import data, jobs
from ..text import escape

STATE_ICONS = {"queued": ":material/schedule:", "running": ":material/autorenew:", "done": ":material/check_circle:",
               "failed": ":material/error:", "cancelled": ":material/cancel:", "interrupted": ":material/warning:"}
CANCEL_NOTE = "Cancel requested; the worker stops at its next clean point."


def status_line(status: dict) -> str:
    """Markdown: state (with an icon), round, stage and heartbeat age; run-file values escaped."""
    state = str(status.get("state", "queued"))
    parts = [f"{STATE_ICONS.get(state, '')} **{escape(state)}**"]
    if status.get("round") is not None:
        parts.append(f"round {escape(status['round'])}")
    if status.get("stage"):
        parts.append(f"stage {escape(status['stage'])}")
    if status.get("heartbeat") and state == "running":
        parts.append(f"heartbeat {max(0, int(time.time() - float(status['heartbeat'])))} s ago")
    return " · ".join(parts)


def run_status(run: RunDir, status: dict) -> None:
    """State, progress and the cancel button of one run."""
    st.markdown(f"Run {escape(run.name)}: " + status_line(status))
    progress = status.get("progress") or {}
    total, done = progress.get("total") or 0, progress.get("done") or 0
    if total:
        st.progress(min(1.0, done / total), text=escape(f"{done} / {total} {progress.get('unit', '')}"))
    if status.get("message"):
        st.caption(escape(status["message"]))
    if status.get("error"):
        st.error(escape(status["error"]))
    if jobs.can_cancel(status):
        if run.cancel_requested():
            st.info(CANCEL_NOTE)
        elif st.button("Cancel run", key=f"cancel-{run.name}", type="secondary"):
            run.request_cancel()
            st.info(CANCEL_NOTE)


def run_charts(run: RunDir, kind: str) -> None:
    """Loss per step and held-out scores per round, from metrics.jsonl."""
    train = data.run_metrics(run, "train")
    evals = data.run_metrics(run, "eval")
    left, right = st.columns(2)
    with left:
        st.markdown("**Training loss**")
        if train.empty:
            st.caption("no training steps logged yet")
        else:
            st.plotly_chart(loss_figure(train), key=f"loss-{run.name}", theme=None)
    with right:
        st.markdown("**ROUGE-L on held-out tasks**")
        if evals.empty:
            st.caption("no evaluation yet")
        elif kind == "findings" and "subset" in evals:
            st.plotly_chart(findings_bar_figure(evals[evals["subset"] != "base"]), key=f"eval-{run.name}", theme=None)
        else:
            st.plotly_chart(rouge_figure(evals), key=f"eval-{run.name}", theme=None)
    if not evals.empty:
        cols = [c for c in ("round", "subset", "seed", "n_tasks", "rougeL", "rougeL_classification",
                            "rougeL_generation", "exact_match") if c in evals]
        with st.expander("evaluations"):
            st.dataframe(evals[cols], hide_index=True)


def live_runs_table(runs: list[RunDir], key: str, columns: list[str] | None = None) -> None:
    """The runs and their states, redrawn every few seconds while any of them is still working."""
    active = any(not jobs.is_final(jobs.watched_status(r)) for r in runs)

    @st.fragment(run_every=jobs.POLL_SECONDS if active else None)
    def table() -> None:
        frame = data.runs_table(runs)
        st.dataframe(frame[columns] if columns else frame, hide_index=True, key=key)
        if active and frame["state"].isin(jobs.FINAL_STATES).all():
            st.rerun()  # all finished: redraw the page once so this stops polling

    table()


def live_run(run: RunDir, *, charts: bool = True, after_final=None) -> None:
    """A run's status (and charts) redrawn every few seconds while the worker works, read from
    its files only; polling stops once the run reaches a final state. `after_final(status)`
    draws what a finished run offers (e.g. a link to its result)."""
    first = jobs.watched_status(run)
    kind = data.run_config(run).get("kind", "")

    @st.fragment(run_every=None if jobs.is_final(first) else jobs.POLL_SECONDS)
    def view() -> None:
        status = jobs.watched_status(run)
        run_status(run, status)
        if charts and kind in ("loop", "findings"):
            run_charts(run, kind)
        if jobs.is_final(status):
            if after_final:
                after_final(status)
            if not jobs.is_final(first):
                st.rerun()  # redraw the page once so this fragment stops polling
        with st.expander("worker log (tail)"):
            st.code(data.log_tail(run) or "(empty)", language=None)

    view()
