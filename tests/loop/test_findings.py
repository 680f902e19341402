"""The findings experiment with a tiny model: held-out tasks kept apart, equal-size region subsets
over seeds, per-task scores, the statistics and the report (tables, conclusion, figures drawn in
headless Chromium, PNG), resuming without retraining, and the presets on the command line."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from core.config import EvalConfig, FindingsConfig, ScoreConfig, TrainConfig, run_config_to_dict
from core.loop.findings import split_holdout
from core.loop.findings.analysis import analyze
from core.loop.runs import RunDir, create_run
from core.loop.worker import run_worker
from tests.dashboard.e2e import CHROMIUM, CHROMIUM_ARGS

SEEDS = (0, 1)


@pytest.fixture(scope="module")
def findings_run(tiny_causal_dir, tmp_path_factory) -> RunDir:
    """One tiny findings experiment for the module: the built-in tasks, a third held out, 3 tasks
    per subset, 2 seeds; PNG export on (it needs Chromium, skipped in the report otherwise)."""
    root = tmp_path_factory.mktemp("findings")
    cfg = FindingsConfig(
        pool=("builtin",), model=str(tiny_causal_dir), subset_size=3, seeds=SEEDS, holdout_frac=1 / 3,
        preset="quick",
        score=ScoreConfig(n_instances=2, n_perturbations=2, max_new_tokens=4, dtype="float32"),
        train=TrainConfig(max_instances_per_task=2, epochs=1, batch_size=6, warmup_steps=1),
        eval=EvalConfig(max_instances_per_task=2, max_new_tokens=4))
    run = create_run(root / "runs", "findings", run_config_to_dict(cfg))
    assert run_worker(run.path) == 0
    return run


def test_held_out_tasks_are_never_trained_on(findings_run):
    out = findings_run.path / "findings"
    held = json.loads((out / "heldout.json").read_text())
    assert held["method"] == "holdout" and len(held["task_ids"]) == 12  # a third of 18 + 19 built-in tasks
    scores = pd.read_parquet(out / "taskmap.parquet")
    assert len(scores) == 25 and not set(scores.task_id) & set(held["task_ids"])
    results = pd.read_parquet(out / "results.parquet")
    trained = {t for ids in results.task_ids for t in ids}
    assert trained and not trained & set(held["task_ids"])


def test_each_subset_per_seed_from_its_region_with_per_task_scores(findings_run):
    status = findings_run.status()
    assert status["state"] == "done" and status.get("round") is None  # no training counter left behind
    out = findings_run.path / "findings"
    results = pd.read_parquet(out / "results.parquet")
    cfg = FindingsConfig()
    trained = results[results.subset != "base"]
    assert sorted(zip(trained.subset, trained.seed)) == sorted((s, seed) for s in cfg.subsets for seed in SEEDS)
    assert (trained.n_tasks == 3).all() and len(results[results.subset == "base"]) == 1
    scores = pd.read_parquet(out / "taskmap.parquet")
    region = dict(zip(scores.task_id, scores.region))
    for _, row in trained[trained.subset != "random"].iterrows():
        assert {region[t] for t in row.task_ids} == {row.subset}
    rand = trained[trained.subset == "random"].set_index("seed").task_ids
    assert set(rand[0]) != set(rand[1])  # seeds differ in which random tasks they draw

    per_task = pd.read_parquet(out / "per_task.parquet")
    assert len(per_task) == 12 * (1 + len(trained))  # every held-out task for the base model and each model
    assert per_task.rougeL.between(0, 100).all()
    assert set(per_task.category) - {"(none)"}  # built-in tasks carry categories
    for row in results.itertuples():  # a run's summary is the mean of its per-task scores
        part = per_task[(per_task.subset == row.subset) & (per_task.seed == row.seed)]
        assert row.rougeL == pytest.approx(part.rougeL.mean())
    assert not (findings_run.path / "checkpoints").exists() or not any((findings_run.path / "checkpoints").iterdir())


def test_report_has_intervals_paired_table_and_the_computed_conclusion(findings_run):
    out = findings_run.path / "findings"
    analysis = json.loads((out / "analysis.json").read_text())
    expected = analyze(pd.read_parquet(out / "per_task.parquet"), subset_size=3, demo=True)
    assert analysis["conclusion"] == expected.conclusion  # computed from the per-task scores, not typed
    assert analysis["conclusion"].startswith("Quick demo at small scale. At this scale")
    assert "On 12 held-out tasks × 2 seeds (3 training tasks per subset): ambiguous and difficult" in analysis["conclusion"]
    assert [r["subset"] for r in analysis["subsets"]] == ["base", "ambiguous", "easy", "difficult", "random"]
    assert [(r["a"], r["b"]) for r in analysis["comparisons"]] == [
        ("ambiguous", "difficult"), ("ambiguous", "random"), ("difficult", "random"), ("easy", "base")]

    md = (out / "report.md").read_text()
    assert md.index("Quick demo at small scale") < md.index("## Conclusion") < md.index(expected.conclusion[:60])
    assert "| trained on | ROUGE-L | 95% CI | std over seeds |" in md
    assert "| comparison | difference | 95% CI | p (bootstrap) | p (Holm) |" in md
    for row in expected.subsets.itertuples():
        assert f"| {row.subset} | {row.mean:.1f} | {row.low:.1f} – {row.high:.1f} |" in md
    for row in expected.comparisons.itertuples():
        assert f"| {row.a} − {row.b} | {row.diff:+.1f} | {row.low:+.1f} to {row.high:+.1f} |" in md
    assert "- **seeds**: 2: 0, 1 " in md and "- **held-out tasks**: 12 tasks held out of the pool" in md
    assert "Holm" in md and "Wilcoxon" in md and "bootstrap" in md

    html = (out / "report.html").read_text()
    assert html.count("<script src=") == 0  # self-contained: plotly.js is inlined, nothing fetched
    assert len(re.findall(r"plotly\.js v\d", html)) == 1  # ... once
    assert "id='demo-banner'" in html and "95% CI" in html and "ambiguous − difficult" in html
    assert html.index("id='conclusion'") < html.index("Held-out ROUGE-L per training subset")


@pytest.mark.browser
def test_report_opens_offline_in_chromium_with_its_figures_drawn(findings_run):
    """Headless Chromium loads report.html from disk (no network: --dump-dom after the scripts
    ran) and Plotly draws every figure into its div."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("TASKMAP_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} not installed but TASKMAP_REQUIRE_BROWSER is set")
        pytest.skip(f"{CHROMIUM} not installed")
    report = findings_run.path / "findings" / "report.html"
    dom = subprocess.run([CHROMIUM, *CHROMIUM_ARGS, "--virtual-time-budget=20000", "--dump-dom", report.as_uri()],
                         capture_output=True, text=True, timeout=300).stdout
    parts = re.split(r'<div id="(fig-[a-z]+)"', dom)
    figures = dict(zip(parts[1::2], parts[2::2]))
    assert set(figures) == {"fig-subsets", "fig-forest", "fig-kinds", "fig-categories", "fig-map"}
    for name, html in figures.items():
        assert html.count('class="main-svg"') >= 2, name  # Plotly drew it (plot and hover layers)
    assert all(f'data-unformatted="{s}"' in figures["fig-subsets"] for s in ("base", "ambiguous", "random"))
    assert 'data-unformatted="ambiguous − difficult"' in figures["fig-forest"]
    assert 'id="conclusion"' in dom and "Quick demo at small scale" in dom


def test_figures_exported_as_png_or_the_report_says_why(findings_run):
    out = findings_run.path / "findings"
    analysis = json.loads((out / "analysis.json").read_text())
    if not Path(CHROMIUM).exists():
        assert analysis["png"] == [] and "Chrom" in analysis["png_note"]
        assert "No PNG figures" in (out / "report.md").read_text()
        return
    assert analysis["png_note"] is None
    assert sorted(analysis["png"]) == sorted(f"figures/{n}.png" for n in ("subsets", "forest", "kinds", "categories", "map"))
    for name in analysis["png"]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name})" in (out / "report.md").read_text()


def test_resume_reuses_finished_jobs_and_rewrites_the_same_report(findings_run, tmp_path):
    copy = RunDir(tmp_path / "findings")
    shutil.copytree(findings_run.path, copy.path)
    out = copy.path / "findings"
    before = json.loads((out / "analysis.json").read_text())
    for name in ("report.md", "report.html", "analysis.json", "results.parquet", "per_task.parquet"):
        (out / name).unlink()
    trained = len(copy.metrics("train"))
    cfg = copy.config()
    cfg["skip_png"] = True
    (copy.path / "config.json").write_text(json.dumps(cfg))
    copy.update_status(state="interrupted")
    assert run_worker(copy.path) == 0
    assert len(copy.metrics("train")) == trained  # nothing retrained: every job's scores were kept
    after = json.loads((out / "analysis.json").read_text())
    assert after["conclusion"] == before["conclusion"] and after["subsets"] == before["subsets"]
    assert "PNG export skipped" in (out / "report.md").read_text()


def test_holdout_split_per_kind_and_reproducible():
    from tests.conftest import make_task

    tasks = [make_task(f"c{i}", kind="classification") for i in range(9)] + [make_task(f"g{i}") for i in range(6)]
    pool, held = split_holdout(tasks, 1 / 3, seed=0)
    assert sorted(t.kind for t in held).count("classification") == 3 and len(held) == 5
    assert not {t.id for t in pool} & {t.id for t in held} and len(pool) + len(held) == 15
    assert [t.id for t in split_holdout(tasks, 1 / 3, seed=0)[1]] == [t.id for t in held]
    assert [t.id for t in split_holdout(tasks, 1 / 3, seed=1)[1]] != [t.id for t in held]


def test_presets_on_the_command_line(monkeypatch, tmp_path):
    from core.cli import build_parser
    from core.cli.training import findings_config

    parse = lambda *argv: findings_config(build_parser().parse_args(["findings", *argv]))
    quick = parse("--preset", "quick")
    assert (quick.pool, quick.eval_tasks, quick.preset, quick.seeds) == (("builtin",), (), "quick", (0, 1, 2))
    assert quick.holdout_frac == pytest.approx(1 / 3) and quick.train.epochs == 1.0
    assert quick.score == ScoreConfig()  # the scoring `scripts/run` does: its cache serves the demo
    custom = parse("--preset", "quick", "--epochs", "2", "--seeds", "4", "5", "--eval-instances", "3")
    assert (custom.train.epochs, custom.seeds, custom.eval.max_instances_per_task) == (2.0, (4, 5), 3)
    assert custom.train.max_instances_per_task == quick.train.max_instances_per_task  # the rest stays the preset's
    default = parse("--pool", "a", "--eval", "b")
    assert default.preset == "default" and default.seeds == (0, 1, 2, 3, 4) and default.holdout_frac == 0
    assert (default.pool, default.eval_tasks) == (("a",), ("b",))
    paper = parse("--preset", "paper", "--easy-frac", "0.2")
    assert (paper.train.max_instances_per_task, paper.train.epochs, paper.eval.max_instances_per_task) == (200, 8.0, 100)
    assert (paper.rule.ambiguous_frac, paper.rule.easy_frac) == (0.11, 0.2)
    shared = tmp_path / "shared"
    for rel in ("data/alpaca_cleaned/alpaca_cleaned_subset_sample2k.json",
                "data/self_instruct/user_oriented_instructions.jsonl"):
        (shared / rel).parent.mkdir(parents=True, exist_ok=True)
        (shared / rel).write_text("[]")
    monkeypatch.setenv("TASKMAP_SHARED", str(shared))
    si = parse("--preset", "self-instruct")
    assert si.pool == (str(shared / "data/alpaca_cleaned/alpaca_cleaned_subset_sample2k.json"),)
    assert si.eval_tasks == (str(shared / "data/self_instruct/user_oriented_instructions.jsonl"),)
    assert si.subset_size == 100 and si.holdout_frac == 0
    monkeypatch.setenv("TASKMAP_SHARED", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="shared data"):
        parse("--preset", "self-instruct")
