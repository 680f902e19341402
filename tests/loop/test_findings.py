"""The findings experiment with a tiny model: equal-size region subsets over seeds, the report."""

import pandas as pd

from core.config import EvalConfig, FindingsConfig, ScoreConfig, TrainConfig, run_config_to_dict
from core.loop.runs import create_run
from core.loop.worker import run_worker


def test_findings_trains_each_subset_per_seed_and_writes_the_report(tiny_causal_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TASKMAP_CACHE", str(tmp_path / "cache"))
    cfg = FindingsConfig(
        pool=("builtin",), eval_tasks=("builtin",), model=str(tiny_causal_dir), subset_size=3, seeds=(0, 1),
        score=ScoreConfig(n_instances=3, n_perturbations=2, max_new_tokens=6, dtype="float32"),
        train=TrainConfig(max_instances_per_task=3, epochs=1, batch_size=4, warmup_steps=1),
        eval=EvalConfig(max_instances_per_task=2, max_new_tokens=6))
    run = create_run(tmp_path / "runs", "findings", run_config_to_dict(cfg))
    assert run_worker(run.path) == 0
    status = run.status()
    assert status["state"] == "done" and status.get("round") is None  # no training counter left behind

    out = run.path / "findings"
    results = pd.read_parquet(out / "results.parquet")
    trained = results[results.subset != "base"]
    assert sorted(zip(trained.subset, trained.seed)) == sorted((s, seed) for s in cfg.subsets for seed in (0, 1))
    assert (trained.n_tasks == 3).all() and len(results[results.subset == "base"]) == 1
    # each region subset comes from its region of the base model's map
    scores = pd.read_parquet(out / "taskmap.parquet")
    region = dict(zip(scores.task_id, scores.region))
    for _, row in trained[trained.subset != "random"].iterrows():
        assert {region[t] for t in row.task_ids} == {row.subset}
    # seeds differ in which random tasks they draw
    rand = trained[trained.subset == "random"].set_index("seed").task_ids
    assert set(rand[0]) != set(rand[1])
    assert results.rougeL.between(0, 100).all()

    report = (out / "report.md").read_text()
    for subset in ("base", *cfg.subsets):
        assert f"| {subset} |" in report
    html = (out / "report.html").read_text()
    assert "<table>" in html and html.count("<tr>") == 1 + 1 + len(cfg.subsets) and "plotly" in html
