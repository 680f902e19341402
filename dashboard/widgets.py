"""Widgets shared by several pages: the error guard, the region-rule controls, the scored-set
picker and map filters, confined path inputs, hand-offs to Curate, and the live run view.

Values several pages share (the region rule, the chosen scored set, the map filters, the task
on Task detail) are drawn with `shared`, which keeps them in plain session state.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import streamlit as st

from core.config import RegionRule
from core.figures.findings import findings_bar_figure
from core.figures.palette import REGION_COLORS
from core.figures.runs import loss_figure, rouge_figure
from core.loop.runs import RunDir
from core.taskmap.regions import REGIONS, region_counts

from . import data, jobs
from .curation import curate_rows, empty_table, merge_rows
from .paths import PathNotAllowed, confine, project_home

log = logging.getLogger("taskmap.dashboard")

RULE_DEFAULTS = {f"rule_{k}": v for k, v in vars(RegionRule()).items()}

# session_state keys that carry work between pages
MAP_SELECTION = "map_selection"      # list of task ids selected on the map
CURATE_TABLE = "curate_table"        # the Curate table (DataFrame)
CURATE_VERSION = "curate_version"    # bumped when the table is replaced, so the editor starts fresh
POLICY_PICKS = "policy_picks"        # {"policy", "task_ids", "scored_set", ...} from the Policies page
DETAIL_TASK = "detail_task"          # task shown on Task detail


def _copy_back(widget_key: str, key: str) -> None:
    st.session_state[key] = st.session_state[widget_key]


def shared(widget, label: str, key: str, default=None, **kwargs):
    """A widget whose value lives in st.session_state[key] and is the same on every page.

    Streamlit gives a keyed widget a separate identity on each page and drops its value when
    another page runs, so the value is kept under `key` (plain session state, which pages and
    tests may set), copied into the widget before it is drawn and back when the user changes it.
    """
    if key not in st.session_state:
        st.session_state[key] = default
    widget_key = f"{key}__widget"
    st.session_state[widget_key] = st.session_state[key]
    return widget(label, key=widget_key, on_change=_copy_back, args=(widget_key, key), **kwargs)


@contextmanager
def page_guard(what: str = "this page") -> Iterator[None]:
    """Show an unexpected error as a short message in the page, not a traceback; the full
    traceback goes to the server log. (st.rerun / st.stop pass through: they are not errors.)"""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the page must stay usable whatever went wrong
        log.exception("error while drawing %s", what)
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        st.error(f"Could not show {what}: {type(exc).__name__}: {message[:300]}")


# --- region rule -----------------------------------------------------------------------------

def rule_controls(where=None) -> RegionRule:
    """The region rule's parameters; changing one recolours every map. Invalid combinations
    (fractions summing over 1) show a message and fall back to the default rule."""
    where = where or st.sidebar
    with where.expander("Region rule", expanded=False):
        method = shared(st.radio, "method", "rule_method", RULE_DEFAULTS["rule_method"],
                        options=["rank", "threshold"], horizontal=True,
                        help="rank: shares of the pool by PU/PP percentile rank (easy/difficult border is the "
                             "diagonal); threshold: fixed PU/PP cut-offs read off the paper's figure")
        if method == "rank":
            for key, label in (("rule_ambiguous_frac", "ambiguous share (highest PU)"),
                               ("rule_easy_frac", "easy share (high PP, low PU)"),
                               ("rule_difficult_frac", "difficult share (low PP, low PU)")):
                shared(st.slider, label, key, RULE_DEFAULTS[key], min_value=0.0, max_value=1.0, step=0.01)
        else:
            for key, label, step, fmt in (("rule_ambiguous_pu", "ambiguous if PU ≥", 0.005, "%.3f"),
                                          ("rule_certain_pu", "prompt-certain if PU ≤", 0.005, "%.3f"),
                                          ("rule_easy_pp", "easy if certain and PP ≥", 0.01, "%.2f"),
                                          ("rule_difficult_pp", "difficult if certain and PP ≤", 0.01, "%.2f")):
                shared(st.number_input, label, key, RULE_DEFAULTS[key], min_value=0.0, max_value=1.0, step=step,
                       format=fmt)
        st.button("reset rule", key="rule_reset", on_click=_reset_rule)
    for key, value in RULE_DEFAULTS.items():
        st.session_state.setdefault(key, value)
    try:
        return RegionRule(**{k[len("rule_"):]: st.session_state[k] for k in RULE_DEFAULTS})
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


def region_badge(region: str) -> str:
    color = REGION_COLORS.get(region, "#888")
    return f'<span style="background:{color};color:white;padding:2px 8px;border-radius:8px">{region}</span>'


# --- scored sets and filters ----------------------------------------------------------------

def scored_set_picker(where=None, key: str = "scored_set") -> data.ScoredSetInfo | None:
    """Pick a scored set under <home>/results (optionally narrowed to one model)."""
    where = where or st.sidebar
    sets = data.list_scored_sets()
    if not sets:
        where.info("No scored set yet under `results/`. Score tasks on the **Score** page, or run "
                   "`taskmap score builtin --out results/NAME`.")
        return None
    models = sorted({s.model for s in sets})
    if len(models) > 1:
        if st.session_state.get("set_model") not in ["all models", *models]:
            st.session_state["set_model"] = "all models"
        model = shared(where.selectbox, "model", "set_model", options=["all models", *models])
        sets = [s for s in sets if model == "all models" or s.model == model]
    by_path = {str(s.path): s for s in sets}
    if st.session_state.get(key) not in by_path:
        st.session_state[key] = next(iter(by_path))
    chosen = shared(where.selectbox, "scored set", key, options=list(by_path), format_func=lambda p: by_path[p].label)
    return by_path[chosen]


def filter_tasks(tasks: pd.DataFrame, kinds: tuple[str, ...] = (), categories: tuple[str, ...] = (),
                 search: str = "") -> pd.DataFrame:
    """Tasks of the given kinds and categories whose id (or definition) contains `search`."""
    mask = np.ones(len(tasks), dtype=bool)
    if kinds:
        mask &= tasks["kind"].isin(kinds).to_numpy()
    if categories:
        wanted = set(categories)
        if "categories" in tasks:
            mask &= np.fromiter(((cats is not None and bool(wanted.intersection(cats))) for cats in tasks["categories"]),
                                dtype=bool, count=len(tasks))
        else:
            mask &= tasks["category"].isin(wanted).to_numpy()
    if search.strip():
        text = search.strip()
        hit = tasks["task_id"].str.contains(text, case=False, regex=False, na=False)
        if "definition" in tasks:
            hit |= tasks["definition"].str.contains(text, case=False, regex=False, na=False)
        mask &= hit.to_numpy()
    return tasks[mask]


# --- paths --------------------------------------------------------------------------------

def confined_path_input(label: str, key: str, *, must: str = "any", help: str | None = None,
                        placeholder: str | None = None) -> Path | None:
    """A typed path, resolved and confined to the allowed roots; problems are shown in place.
    must: "dir", "file" or "any" (exists)."""
    text = st.text_input(label, key=key, help=help, placeholder=placeholder)
    if not text.strip():
        return None
    try:
        path = confine(text)
    except PathNotAllowed as exc:
        st.error(str(exc))
        return None
    if not path.exists():
        st.error(f"`{path}` does not exist.")
        return None
    if must == "dir" and not path.is_dir():
        st.error(f"`{path}` is not a folder.")
        return None
    if must == "file" and not path.is_file():
        st.error(f"`{path}` is not a file.")
        return None
    return path


def show_load_problems(result, limit: int = 30) -> None:
    """A loader's problems as readable lines: errors (skipped tasks) and warnings."""
    if result.errors:
        lines = "\n".join(f"- {p}" for p in result.errors[:limit])
        more = f"\n- … and {len(result.errors) - limit} more" if len(result.errors) > limit else ""
        st.error(f"{len(result.errors)} task(s) skipped:\n{lines}{more}")
    if result.warnings:
        with st.expander(f"{len(result.warnings)} warning(s)"):
            st.markdown("\n".join(f"- {p}" for p in result.warnings[:limit]))


# --- hand-offs ------------------------------------------------------------------------------

def curate_table() -> pd.DataFrame:
    return st.session_state.get(CURATE_TABLE, empty_table())


def send_to_curate(tasks: pd.DataFrame, task_ids, added_from: str) -> int:
    """Add tasks to the Curate table (those already there keep their notes). Returns how many were new."""
    current = curate_table()
    merged = merge_rows(current, curate_rows(tasks, task_ids, added_from))
    st.session_state[CURATE_TABLE] = merged
    st.session_state[CURATE_VERSION] = st.session_state.get(CURATE_VERSION, 0) + 1
    return len(merged) - len(current)


# --- runs -----------------------------------------------------------------------------------

STATE_ICONS = {"queued": ":material/schedule:", "running": ":material/autorenew:", "done": ":material/check_circle:",
               "failed": ":material/error:", "cancelled": ":material/cancel:", "interrupted": ":material/warning:"}


def status_line(status: dict) -> str:
    state = status.get("state", "queued")
    parts = [f"{STATE_ICONS.get(state, '')} **{state}**"]
    if status.get("round") is not None:
        parts.append(f"round {status['round']}")
    if status.get("stage"):
        parts.append(f"stage {status['stage']}")
    if status.get("heartbeat") and state == "running":
        parts.append(f"heartbeat {max(0, int(time.time() - float(status['heartbeat'])))} s ago")
    return " · ".join(parts)


def run_status(run: RunDir, status: dict) -> None:
    """State, progress and the cancel button of one run."""
    st.markdown(f"Run `{run.name}`: " + status_line(status))
    progress = status.get("progress") or {}
    total, done = progress.get("total") or 0, progress.get("done") or 0
    if total:
        st.progress(min(1.0, done / total), text=f"{done} / {total} {progress.get('unit', '')}")
    if status.get("message"):
        st.caption(status["message"])
    if status.get("error"):
        st.error(status["error"])
    if jobs.can_cancel(status):
        if run.cancel_requested():
            st.info("Cancel requested; the worker stops at its next clean point.")
        elif st.button("Cancel run", key=f"cancel-{run.name}", type="secondary"):
            run.request_cancel()
            st.info("Cancel requested; the worker stops at its next clean point.")


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


def home_caption() -> str:
    return f"project home: `{project_home()}`"


# --- task sources ---------------------------------------------------------------------------

SOURCE_KINDS = ("built-in suite", "folder or file on this machine", "upload a task file")


@st.cache_data(max_entries=32, show_spinner="checking the tasks…")
def _source_summary(source: str, mtime: float) -> dict:
    from core.data.loaders import load_tasks

    result = load_tasks(source)
    kinds = pd.Series([t.kind for t in result.tasks], dtype=object).value_counts().to_dict()
    return {"n": len(result.tasks), "kinds": kinds, "errors": [str(p) for p in result.errors],
            "warnings": [str(p) for p in result.warnings]}


def source_summary(source: str) -> dict:
    """Load a task source once (cached by its modification time) and summarise it."""
    from core.data.loaders import BUILTIN_TASKS

    path = BUILTIN_TASKS if source == "builtin" else Path(source)
    return _source_summary(source, data.stamp(path)[0])


def show_source_summary(summary: dict, limit: int = 20) -> bool:
    """Counts, skipped tasks and warnings of a task source; True when it has a task to use."""
    if summary["n"]:
        kinds = ", ".join(f"{v} {k}" for k, v in sorted(summary["kinds"].items()))
        st.success(f"{summary['n']} tasks ({kinds}).")
    if summary["errors"]:
        lines = "\n".join(f"- {p}" for p in summary["errors"][:limit])
        more = f"\n- … and {len(summary['errors']) - limit} more" if len(summary["errors"]) > limit else ""
        header = "No valid task in this source." if not summary["n"] else f"{len(summary['errors'])} task(s) skipped:"
        st.error(f"{header}\n{lines}{more}")
    elif not summary["n"]:
        st.error("No valid task in this source.")
    if summary["warnings"]:
        with st.expander(f"{len(summary['warnings'])} warning(s)"):
            st.markdown("\n".join(f"- {p}" for p in summary["warnings"][:limit]))
    return summary["n"] > 0


def save_upload(uploaded) -> Path | None:
    """Store an uploaded task file under <home>/data/uploads/<hash>/<its name> (the name is kept:
    a NIV2 file's name is its task id). Too large or wrongly named files are refused in place."""
    import hashlib

    from .paths import MAX_UPLOAD_BYTES, uploads_dir

    content = uploaded.getvalue()
    if len(content) > MAX_UPLOAD_BYTES:
        st.error(f"`{uploaded.name}` is {len(content) / 2**20:.1f} MB; the limit is {MAX_UPLOAD_BYTES / 2**20:.0f} MB.")
        return None
    name = Path(uploaded.name).name
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name).lstrip(".") or "tasks.json"
    if not safe.endswith((".json", ".jsonl")):
        st.error(f"`{name}`: upload a .json (NIV2 task or Alpaca records) or .jsonl file.")
        return None
    folder = uploads_dir() / hashlib.sha256(content).hexdigest()[:16]
    path = folder / safe
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return path


def task_source_input(key: str, *, allow_upload: bool = True, label: str = "tasks") -> str | None:
    """Where tasks come from: the built-in suite, a confined path, or an uploaded file (saved
    under data/uploads and validated). Returns a source for core.data.loaders.load_tasks, or None
    (after showing why) when there is nothing usable."""
    kinds = SOURCE_KINDS if allow_upload else SOURCE_KINDS[:2]
    kind = st.radio(label, kinds, key=f"{key}_kind", horizontal=True)
    if kind == SOURCE_KINDS[0]:
        source = "builtin"
    elif kind == SOURCE_KINDS[1]:
        path = confined_path_input("path (a folder of task*.json, a NIV2 checkout, or a task / records file)",
                                   key=f"{key}_path", placeholder="data/my_tasks")
        if path is None:
            return None
        source = str(path)
    else:
        uploaded = st.file_uploader("task file (.json NIV2 task or Alpaca/Self-Instruct records, .jsonl records)",
                                    type=["json", "jsonl"], key=f"{key}_upload")
        if uploaded is None:
            return None
        path = save_upload(uploaded)
        if path is None:
            return None
        summary = source_summary(str(path))
        if not summary["n"]:
            show_source_summary(summary)
            import shutil
            shutil.rmtree(path.parent, ignore_errors=True)  # keep no unusable uploads
            return None
        source = str(path)
    return source if show_source_summary(source_summary(source)) else None


def model_input(key: str) -> str | None:
    """"default" (the bundled SmolLM2-135M-Instruct) or a confined local Hugging Face folder."""
    kind = st.radio("model", ["default (SmolLM2-135M-Instruct)", "a local Hugging Face folder"],
                    key=f"{key}_kind", horizontal=True)
    if kind.startswith("default"):
        return "default"
    path = confined_path_input("model folder (with config.json)", key=f"{key}_path", must="dir")
    if path is None:
        return None
    if not (path / "config.json").is_file():
        st.error(f"`{path}` has no config.json; point at a folder saved with `save_pretrained`.")
        return None
    return str(path)
