"""The Findings page: the one-button quick demo when no findings run exists, its live progress,
and a finished run's report with the conclusion first (AppTest; a browser test drives the demo
with a tiny model end to end)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.config import FINDINGS_PRESETS, FindingsConfig, run_config_to_dict
from core.loop.runs import create_run
from tests.dashboard.e2e import go_to, open_app, set_number, set_text, shot, wait_for_text, wait_idle
from tests.dashboard.fixtures import make_home
from tests.dashboard.helpers import assert_clean, charts, shown, texts

PAGE = "views/findings.py"


@pytest.fixture
def launched(monkeypatch):
    runs = []
    monkeypatch.setattr("dashboard.jobs.launch_worker", lambda run, python=None, extra_env=None: runs.append(run) or os.getpid())
    return runs


def findings_page(app):
    app.run()
    app.switch_page(PAGE).run()
    return app


def finished_run(runs_root: Path, tasks: pd.DataFrame, name: str = "findings-quick-demo", demo: bool = True):
    """A findings run whose report was written by core.loop.findings.report from known scores:
    ambiguous clearly above the others on 10 held-out tasks x 3 seeds."""
    from core.loop.findings.report import write_report

    cfg = FindingsConfig(pool=("builtin",), seeds=(0, 1, 2), holdout_frac=1 / 3, preset="quick" if demo else "default",
                         skip_png=True)
    run = create_run(runs_root, name, run_config_to_dict(cfg))
    rng = np.random.default_rng(0)
    effects = {"base": 20, "ambiguous": 40, "easy": 25, "difficult": 30, "random": 31}
    held = [f"heldout{i}" for i in range(10)]
    per_task = pd.DataFrame([{"subset": s, "seed": seed, "task_id": t, "kind": "classification" if i % 2 else "generation",
                              "category": f"Category {i % 3}", "rougeL": m + i + rng.normal(0, 0.5),
                              "exact_match": 5.0, "n_instances": 8}
                             for s, m in effects.items() for seed in ([-1] if s == "base" else (0, 1, 2))
                             for i, t in enumerate(held)])
    results = pd.DataFrame([{"subset": s, "seed": seed, "n_tasks": 3, "task_ids": list(tasks.task_id[:3])}
                            for s in effects for seed in ([-1] if s == "base" else (0, 1, 2))])
    out = run.path / "findings"
    out.mkdir(parents=True)
    write_report(out, results, per_task, tasks, cfg, {"subset_size": 3, "pool_tasks": len(tasks), "seconds": 300,
                                                      "heldout": {"method": "holdout", "frac": 1 / 3, "seed": 0}},
                 log=lambda m: None)
    run.update_status(state="done", message="finished", pid=os.getpid(), host=os.uname().nodename)
    return run


def test_no_findings_run_offers_the_quick_demo_and_starts_it(tmp_path, monkeypatch, launched):
    from streamlit.testing.v1 import AppTest

    from tests.dashboard.conftest import APP

    home = make_home(tmp_path / "home", runs=False)
    monkeypatch.setenv("TASKMAP_HOME", str(home.root))
    app = findings_page(AppTest.from_file(str(APP), default_timeout=60))
    assert_clean(app)
    assert "No findings run yet" in texts(app)
    app.button(key="demo_start").click().run()
    assert_clean(app)
    assert len(launched) == 1
    config = json.loads(launched[0].config_path.read_text())
    quick = FINDINGS_PRESETS["quick"]
    expected = run_config_to_dict(FindingsConfig(pool=("builtin",), model="default", seeds=(0, 1, 2), holdout_frac=1 / 3,
                                                 preset="quick", train=quick.train, eval=quick.eval))
    assert json.loads(json.dumps(expected)) == config  # exactly `taskmap findings --preset quick`
    # the page now watches the new run and says it is a small demo
    assert app.selectbox(key="findings_run").value == launched[0].name
    assert "Quick demo at small scale" in texts(app)
    assert f"Run {launched[0].name}:" in texts(app) and "queued" in texts(app)


def test_demo_options_change_model_seeds_and_scoring(tmp_path, monkeypatch, launched):
    from streamlit.testing.v1 import AppTest

    from tests.dashboard.conftest import APP

    home = make_home(tmp_path / "home", runs=False)
    monkeypatch.setenv("TASKMAP_HOME", str(home.root))
    (home.root / "data" / "model").mkdir()
    (home.root / "data" / "model" / "config.json").write_text("{}")
    app = findings_page(AppTest.from_file(str(APP), default_timeout=60))
    app.radio(key="demo_model_kind").set_value("a local Hugging Face folder").run()
    app.text_input(key="demo_model_path").input(str(home.root / "data" / "model")).run()
    app.number_input(key="demo_seeds").set_value(2).run()
    app.number_input(key="demo_n").set_value(2).run()
    app.button(key="demo_start").click().run()
    config = json.loads(launched[0].config_path.read_text())
    assert config["model"] == str(home.root / "data" / "model") and config["seeds"] == [0, 1]
    assert config["score"]["n_instances"] == 2 and config["preset"] == "quick"


def test_finished_run_shows_the_conclusion_first_and_the_report(app, home):
    run = finished_run(home.root / "runs", home.tasks)
    findings_page(app)
    app.selectbox(key="findings_run").set_value(run.name).run()
    assert_clean(app)
    analysis = json.loads((run.path / "findings" / "analysis.json").read_text())
    assert shown(app.warning[0].value).startswith("Quick demo at small scale")
    first = shown(app.success[0].value)  # the conclusion is escaped like any text from a run
    assert first == f"**Conclusion** (supported): {analysis['conclusion']}"
    assert "ambiguous beats difficult" in first
    bars = [c for c in charts(app) if c["data"] and c["data"][0]["type"] == "bar"][0]
    assert bars["data"][0]["x"] == ["base", "ambiguous", "easy", "difficult", "random"]
    assert bars["data"][0]["y"] == pytest.approx([r["mean"] for r in analysis["subsets"]])
    forest = [c for c in charts(app) if any("−" in str(y) for t in c["data"] for y in (t.get("y") or []))][0]
    assert list(forest["data"][0]["y"]) == ["easy − base", "difficult − random", "ambiguous − random",
                                            "ambiguous − difficult"]
    comparisons = next(d.value for d in app.dataframe if "verdict" in d.value)
    assert list(comparisons["verdict"])[:2] == ["ambiguous > difficult", "ambiguous > random"]
    labels = [b.label for b in app.get("download_button")]
    assert "download report.html" in labels and "download report.md" in labels
    assert app.button(key="demo_start")  # another demo can be started below the report


def test_an_older_run_without_statistics_shows_its_report_as_written(app, home):
    findings_page(app)
    app.selectbox(key="findings_run").set_value(home.findings.name).run()
    assert_clean(app)
    assert "predates the statistics" in texts(app)
    # shown as its Markdown text (it names models and pools), never rendered as markup
    assert any("# Findings: ambiguous vs difficult" in c.value and "Training on **ambiguous** tasks" in c.value
               for c in app.code)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(1800)  # a whole (tiny) experiment: minutes when the machine is shared
def test_demo_button_runs_the_quick_demo_with_a_tiny_model_and_shows_the_report(app_server, page, tmp_path,
                                                                              tiny_causal_dir):
    home = make_home(tmp_path / "home", runs=False)
    server = app_server(home.root, {"TASKMAP_ALLOWED_DIRS": str(Path(tiny_causal_dir).parent)})
    open_app(page, server)
    go_to(page, "Findings")
    wait_for_text(page, "No findings run yet")
    page.get_by_text("demo options").click()
    page.get_by_text("a local Hugging Face folder", exact=True).click()
    wait_idle(page)
    set_text(page, "model folder (with config.json)", str(tiny_causal_dir))
    set_number(page, "seeds", 2)
    set_number(page, "scoring: instances per task (n)", 2)
    set_number(page, "scoring: perturbed prompts (k)", 2)
    shot(page, "30_findings_demo_form")
    page.get_by_role("button", name="Run the quick demo").click()
    wait_for_text(page, "Quick demo at small scale")
    wait_for_text(page, "stage ", timeout=120)  # the worker runs and the page follows it
    shot(page, "31_findings_demo_running")
    wait_for_text(page, "Conclusion", timeout=900)
    wait_idle(page)
    shot(page, "32_findings_demo_report")
    run_dir = next((home.root / "runs").iterdir())
    analysis = json.loads((run_dir / "findings" / "analysis.json").read_text())
    assert analysis["conclusion"].startswith("Quick demo at small scale. At this scale")
    assert page.get_by_text(analysis["conclusion"][:80], exact=False).count() >= 1
    assert page.locator(".js-plotly-plot").count() >= 3
    assert page.get_by_role("button", name="download report.html").count() == 1
