"""Findings: does training on ambiguous tasks help, on difficult ones not? The conclusion first,
then the numbers it rests on: each subset's mean with its interval, the paired differences,
where a gain comes from, the settings; the report to download.

With no findings run yet, one button starts the quick demo (`--preset quick`: the built-in
tasks, the default model, minutes on a CPU), its progress shows live, and the report fills in
when it ends. Everything shown comes from the run's files (findings/analysis.json, written by
core.loop.findings.report); the page computes nothing itself and never imports torch.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.config import FINDINGS_PRESETS, FindingsConfig, ScoreConfig
from core.figures.findings import category_figure, forest_figure, kind_figure, subset_ci_figure
from core.loop.runs import RunDir
from dashboard import data, jobs, state
from dashboard.text import escape
from dashboard.widgets import runs as run_widgets
from dashboard.widgets import sources
from dashboard.widgets.common import page_guard

st.title("Findings")

QUICK = FINDINGS_PRESETS["quick"]
STARTED, CHOSEN = state.FINDINGS_RUN_STARTED, state.FINDINGS_RUN


def quick_config(model: str = "default", seeds: int = len(QUICK.seeds), score: ScoreConfig = ScoreConfig()
                 ) -> FindingsConfig:
    """The quick preset as a config, as `taskmap findings --preset quick` builds it."""
    return FindingsConfig(pool=QUICK.pool, eval_tasks=QUICK.eval_tasks, model=model, seeds=tuple(range(seeds)),
                          subset_size=QUICK.subset_size, holdout_frac=QUICK.holdout_frac, preset=QUICK.name,
                          score=score, train=QUICK.train, eval=QUICK.eval, rule=QUICK.rule)


def demo_starter(first: bool) -> None:
    """The one-button quick demo (and its few options, folded away)."""
    if first:
        st.info("No findings run yet. The quick demo trains the default model on the built-in tasks' ambiguous, "
                "easy, difficult and random subsets and tests it on built-in tasks it never saw: about 10 minutes "
                "on a 2-core CPU (less once the built-in tasks are scored). It is a demo at small scale; for a real "
                "comparison run `taskmap findings` on NIV2 or the self-instruct preset.")
    with st.expander("demo options", expanded=False):
        model = sources.model_input("demo_model")
        c1, c2, c3 = st.columns(3)
        seeds = c1.number_input("seeds", 2, 10, len(QUICK.seeds), key="demo_seeds",
                                help="one trained model per subset and seed; more seeds, narrower intervals, longer run")
        n = c2.number_input("scoring: instances per task (n)", 1, 100, ScoreConfig().n_instances, key="demo_n",
                            help="the map's scoring (the defaults are what ./scripts/run scored, so its cache is reused)")
        k = c3.number_input("scoring: perturbed prompts (k)", 1, 50, ScoreConfig().n_perturbations, key="demo_k")
    label = "Run the quick demo" if first else "Run the quick demo again"
    if st.button(label, type="primary" if first else "secondary", key="demo_start", disabled=model is None,
                 icon=":material/play_arrow:"):
        score = ScoreConfig(n_instances=int(n), n_perturbations=int(k))
        run = jobs.start_run(quick_config(model, int(seeds), score), label="quick-demo")
        st.session_state[STARTED] = run.name
        st.rerun()


def findings_runs() -> list[RunDir]:
    return [r for r in data.all_runs() if data.run_config(r).get("kind") == "findings"]


def show_report(run: RunDir) -> None:
    out = run.path / "findings"
    path = out / "analysis.json"
    if not path.is_file():
        if (out / "report.md").is_file():  # a run from before analysis.json: its report as written
            st.caption("This run's report predates the statistics (no analysis.json); shown as its text.")
            # it names models, pools and tasks: shown as Markdown source, never rendered as markup
            st.code((out / "report.md").read_text(), language="markdown", wrap_lines=True)
        return
    report = data.read_json(path)
    if report.get("demo"):
        st.warning(escape(report["demo"]), icon=":material/science:")
    headline = report.get("headline", "")
    box = {"supported": st.success, "contradicted": st.error}.get(headline, st.info)
    box(f"**Conclusion** ({escape(headline)}): {escape(report['conclusion'])}")

    downloads = st.columns(3)
    for col, name, mime in zip(downloads, ("report.html", "report.md", "analysis.json"),
                               ("text/html", "text/markdown", "application/json")):
        if (out / name).is_file():
            col.download_button(f"download {name}", (out / name).read_bytes(), file_name=f"{run.name}-{name}",
                                mime=mime, key=f"dl-{name}")

    subsets = pd.DataFrame(report.get("subsets", []))
    comparisons = pd.DataFrame(report.get("comparisons", []))
    st.subheader("Held-out ROUGE-L per training subset")
    if not subsets.empty:
        st.plotly_chart(subset_ci_figure(subsets), key="findings_ci", theme=None)
        st.dataframe(subsets.rename(columns={"low": "CI low", "high": "CI high", "seed_std": "std over seeds",
                                             "n_seeds": "seeds", "n_tasks": "held-out tasks"}).round(2),
                     hide_index=True, key="findings_subsets")
    if not comparisons.empty:
        st.subheader("Paired comparisons")
        st.plotly_chart(forest_figure(comparisons), key="findings_forest", theme=None)
        cols = ["a", "b", "diff", "low", "high", "p", "p_holm", "wilcoxon_p", "wilcoxon_p_holm", "verdict",
                "n_tasks", "n_seeds"]
        st.dataframe(comparisons[[c for c in cols if c in comparisons]].round(4), hide_index=True,
                     key="findings_comparisons")
    by_kind = pd.DataFrame(report.get("by_kind", []))
    by_category = pd.DataFrame(report.get("by_category", []))
    if not by_kind.empty or not by_category.empty:
        st.subheader("Where the gain comes from")
        if not by_kind.empty:
            st.plotly_chart(kind_figure(by_kind), key="findings_kinds", theme=None)
        if not by_category.empty:
            st.plotly_chart(category_figure(by_category), key="findings_categories", theme=None)
    per_task = pd.DataFrame(report.get("per_task", []))
    if not per_task.empty:
        with st.expander("per held-out task (mean over seeds)"):
            st.dataframe(per_task.round(2), hide_index=True, key="findings_tasks")
    with st.expander("settings and methods", expanded=False):
        st.dataframe(pd.DataFrame(list(report.get("settings", {}).items()), columns=["setting", "value"]),
                     hide_index=True, key="findings_settings")
        for line in report.get("methods", []) + [f"Note: {n}" for n in report.get("notes", [])]:
            st.text(line)
        if report.get("png_note"):
            st.text(f"PNG figures: {report['png_note']}")


def show() -> None:
    runs = findings_runs()
    if pending := state.take(STARTED):
        st.session_state[CHOSEN] = pending
    if not runs:
        demo_starter(first=True)
        return
    by_name = {r.name: r for r in runs}
    if st.session_state.get(CHOSEN) not in by_name:  # a run still working, else the newest
        active = [r.name for r in runs if jobs.can_cancel(jobs.watched_status(r))]
        st.session_state[CHOSEN] = active[0] if active else runs[0].name
    run = by_name[st.selectbox("findings run", list(by_name), key=CHOSEN)]
    config = data.run_config(run)
    preset = FINDINGS_PRESETS.get(config.get("preset", ""))
    status = jobs.watched_status(run)
    if not jobs.is_final(status):
        if preset and preset.demo:
            st.warning("Quick demo at small scale: its numbers show how the experiment works, not whether the "
                       "paper's finding holds.", icon=":material/science:")
        st.caption("The report appears here when the run ends; reloading or closing the page does not stop it.")
        run_widgets.live_run(run, charts=True)
        return
    if status.get("state") != "done":
        run_widgets.live_run(run, charts=False)
    show_report(run)
    st.divider()
    demo_starter(first=False)


with page_guard("the findings"):
    show()
