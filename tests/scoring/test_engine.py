"""Engine end to end with a tiny model: tables, cache keys, cache reads, resume, concurrency."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from core.config import ScoreConfig
from core.data.loaders import load_tasks
from core.scoring.engine import Engine
from core.scoring.packs import make_packs, prompt_chars
from core.taskmap.results import save_scored
from tests.conftest import REPO, make_task

SMALL = dict(n_instances=4, n_perturbations=3, max_new_tokens=8, dtype="float32", device="cpu", pack_instances=32)


def builtin(n: int | None = None):
    return load_tasks("builtin").tasks[:n]


def engine(model_dir, cache, **overrides) -> Engine:
    return Engine(ScoreConfig(model=str(model_dir), **{**SMALL, **overrides}), cache_dir=cache)


def test_tables_have_the_documented_columns(tiny_causal_dir, tmp_path):
    tasks = builtin(3)
    result = engine(tiny_causal_dir, tmp_path / "c").score(tasks)
    per_task = save_scored(tmp_path / "out", result).tasks
    seq = result.sequences
    assert len(seq) == 3 * 4 * (3 + 1)
    for column in ["task_id", "instance_id", "perturbation", "definition", "definition_dropped", "example_inputs",
                   "input", "gold", "prediction", "n_tokens", "mean_logprob", "prob", "truncated"]:
        assert column in seq, column
    for column in ["task_id", "kind", "categories", "pu", "pp", "perplexity", "n_instances", "n_perturbations",
                   "n_sequences", "region", "definition"]:
        assert column in per_task, column
    assert seq["prob"].between(0, 1).all() and (seq["n_tokens"] >= 1).all()
    assert np.allclose(seq["prob"], np.exp(seq["mean_logprob"]))
    # the perturbed definition of each row is the original with the recorded words dropped
    for _, row in seq[seq.perturbation > 0].head(6).iterrows():
        original = next(t for t in tasks if t.id == row["task_id"]).definition.split()
        dropped = set(row["definition_dropped"])
        assert row["definition"] == " ".join(w for i, w in enumerate(original) if i not in dropped)
    # the same prediction is scored under every prompt of an instance
    assert (seq.groupby(["task_id", "instance_id"])["prediction"].nunique() == 1).all()
    written = pd.read_parquet(tmp_path / "out" / "tasks.parquet")
    assert list(written["task_id"]) == [t.id for t in tasks]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["config"]["n_instances"] == 4 and manifest["n_computed"] == 3


def test_second_run_is_a_cache_read_without_loading_weights(tiny_causal_dir, tmp_path):
    tasks = builtin(5)
    first = engine(tiny_causal_dir, tmp_path).score(tasks)
    again = engine(tiny_causal_dir, tmp_path)
    second = again.score(tasks)
    assert second.manifest["n_computed"] == 0 and second.manifest["n_cached"] == 5
    assert again.loaded._model is None  # the weights were never loaded
    pd.testing.assert_frame_equal(first.sequences, second.sequences)
    pd.testing.assert_frame_equal(first.tasks, second.tasks)


def test_cache_key_covers_what_changes_results(tiny_causal_dir, tmp_path):
    base = engine(tiny_causal_dir, tmp_path).run_key
    for change in [dict(drop_prob=0.3), dict(n_perturbations=4), dict(seed=1), dict(n_instances=5),
                   dict(mode="TD"), dict(labels="gold"), dict(max_new_tokens=9), dict(n_examples=1),
                   dict(dtype="bfloat16"), dict(audit=True)]:
        assert engine(tiny_causal_dir, tmp_path, **change).run_key != base, change
    assert engine(tiny_causal_dir, tmp_path, batch_tokens=64).run_key == base


def test_changed_task_content_recomputes_only_that_task(tiny_causal_dir, tmp_path):
    tasks = [make_task(f"task{i}_demo") for i in range(4)]
    engine(tiny_causal_dir, tmp_path).score(tasks)
    edited = list(tasks)
    edited[2] = make_task("task2_demo", definition="A different definition. Answer yes or no.")
    result = engine(tiny_causal_dir, tmp_path).score(edited)
    assert result.manifest["n_computed"] == 1 and result.manifest["n_cached"] == 3


def test_weights_change_changes_the_key(tiny_causal_dir, tmp_path):
    from tests.tiny_models import tiny_causal
    other = tiny_causal(tmp_path / "other-weights", seed=1)
    assert engine(other, tmp_path).run_key != engine(tiny_causal_dir, tmp_path).run_key


def test_gold_labels_score_the_reference(tiny_causal_dir, tmp_path):
    tasks = builtin(2)
    result = engine(tiny_causal_dir, tmp_path, labels="gold").score(tasks)
    seq = result.sequences
    gold_first = seq["gold"].map(lambda g: g[0])
    assert (seq["prediction"] == gold_first).all()
    assert result.tasks["pu"].notna().all()


def test_audit_ids_recompute_with_plain_transformers(tiny_causal_dir, tmp_path):
    from transformers import AutoModelForCausalLM
    result = engine(tiny_causal_dir, tmp_path, audit=True).score(builtin(2))
    model = AutoModelForCausalLM.from_pretrained(tiny_causal_dir, dtype=torch.float32)
    for _, row in result.sequences.sample(12, random_state=0).iterrows():
        prompt, answer = list(row["input_ids"]), list(row["prediction_ids"])
        with torch.no_grad():
            logits = model(torch.tensor([prompt + answer])).logits[0]
        logp = torch.log_softmax(logits, -1)[torch.arange(len(prompt) - 1, len(prompt) + len(answer) - 1),
                                            torch.tensor(answer)]
        assert float(torch.exp(logp.mean())) == pytest.approx(row["prob"], abs=1e-5)


def test_seq2seq_engine(tiny_t5_dir, tmp_path):
    result = engine(tiny_t5_dir, tmp_path).score(builtin(2))
    assert result.manifest["model"]["prompt_style"] == "seq2seq"
    assert result.tasks["pp"].between(0, 1).all()


def test_packs_group_tasks_of_similar_prompt_length():
    tasks = builtin()
    packs = make_packs(tasks, 10, per_pack=64)
    assert sorted(i for pack in packs for i in pack) == list(range(len(tasks)))  # each task once
    assert all(pack == sorted(pack) for pack in packs)
    widths = [[prompt_chars(tasks[i]) for i in pack] for pack in packs]
    assert all(max(a) <= min(b) for a, b in zip(widths, widths[1:]))  # packs follow prompt length
    assert all(sum(min(len(tasks[i].instances), 10) for i in pack) >= 64 for pack in packs[:-1])


def test_interrupted_run_resumes_without_recomputing(tiny_causal_dir, tmp_path, monkeypatch):
    tasks = builtin()
    packs = make_packs(tasks, SMALL["n_instances"], per_pack=SMALL["pack_instances"])
    assert len(packs) >= 3
    reference = engine(tiny_causal_dir, tmp_path / "clean").score(tasks)

    calls = {"n": 0}
    original = Engine.compute_pack

    def failing(self, pack_tasks, keys):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated interrupt")
        return original(self, pack_tasks, keys)

    monkeypatch.setattr(Engine, "compute_pack", failing)
    with pytest.raises(KeyboardInterrupt):
        engine(tiny_causal_dir, tmp_path / "resume").score(tasks)
    monkeypatch.setattr(Engine, "compute_pack", original)
    done_before = len(packs[0]) + len(packs[1])
    resumed = engine(tiny_causal_dir, tmp_path / "resume").score(tasks)
    assert resumed.manifest["n_cached"] == done_before
    assert resumed.manifest["n_computed"] == len(tasks) - done_before
    pd.testing.assert_frame_equal(reference.sequences, resumed.sequences)


def _score_cmd(model_dir, tasks_dir, out, extra=()):
    return [sys.executable, "-m", "core.cli", "score", str(tasks_dir), "--model", str(model_dir), "--out", str(out),
            "--n", "12", "--k", "4", "--max-new-tokens", "12", "--dtype", "float32", "--device", "cpu",
            "--pack-instances", "64", *extra]


def _env(cache):
    return {**os.environ, "TASKMAP_CACHE": str(cache), "PYTHONPATH": str(REPO)}


def _shards(cache):
    return list(Path(cache).glob("scores/*/shards/*.parquet"))


def test_kill_9_mid_run_then_rerun_is_identical(tiny_causal_dir, tmp_path):
    tasks_dir = REPO / "data" / "tasks"
    clean = subprocess.run(_score_cmd(tiny_causal_dir, tasks_dir, tmp_path / "clean-out"), env=_env(tmp_path / "c1"),
                           capture_output=True, text=True, cwd=REPO)
    assert clean.returncode == 0, clean.stderr
    total_packs = len(_shards(tmp_path / "c1"))
    assert total_packs >= 5

    proc = subprocess.Popen(_score_cmd(tiny_causal_dir, tasks_dir, tmp_path / "out"), env=_env(tmp_path / "c2"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    deadline = time.time() + 120
    while len(_shards(tmp_path / "c2")) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = len(_shards(tmp_path / "c2"))
    assert 2 <= finished < total_packs, "the run must be killed in the middle"

    rerun = subprocess.run(_score_cmd(tiny_causal_dir, tasks_dir, tmp_path / "out"), env=_env(tmp_path / "c2"),
                           capture_output=True, text=True, cwd=REPO)
    assert rerun.returncode == 0, rerun.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["n_cached"] >= 2 and manifest["n_computed"] == manifest["n_tasks"] - manifest["n_cached"]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "clean-out" / "sequences.parquet"),
                                  pd.read_parquet(tmp_path / "out" / "sequences.parquet"))
    assert not list((tmp_path / "c2").glob("scores/*/shards/*.tmp"))


def test_two_concurrent_runs_share_the_cache_safely(tiny_causal_dir, tmp_path):
    tasks_dir = REPO / "data" / "tasks"
    env = _env(tmp_path / "cache")
    procs = [subprocess.Popen(_score_cmd(tiny_causal_dir, tasks_dir, tmp_path / f"out{i}"), env=env, cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    manifests = [json.loads((tmp_path / f"out{i}" / "manifest.json").read_text()) for i in range(2)]
    assert sum(m["n_computed"] for m in manifests) == manifests[0]["n_tasks"]  # every pack computed once
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out0" / "sequences.parquet"),
                                  pd.read_parquet(tmp_path / "out1" / "sequences.parquet"))
    assert not list((tmp_path / "cache").glob("scores/*/shards/*.tmp"))
