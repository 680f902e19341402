"""The active loop with a tiny model: run files, selections, retraining, resume after cancel / kill -9."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from core.config import EvalConfig, LoopConfig, ScoreConfig, TrainConfig, run_config_to_dict
from core.loop.runs import RunDir, create_run, launch_worker
from core.loop.worker import EXIT_BUSY, run_worker
from tests.conftest import REPO, shared_path


def loop_config(model_dir, **overrides) -> LoopConfig:
    base = dict(
        pool=("builtin",), eval_tasks=(str(shared_path("niv2", "eval")),), model=str(model_dir), policy="uncertainty",
        seed=0, initial_tasks=4, per_round=4, rounds=2,
        score=ScoreConfig(n_instances=3, n_perturbations=2, max_new_tokens=6, dtype="float32"),
        train=TrainConfig(max_instances_per_task=4, epochs=1, batch_size=4, warmup_steps=1),
        eval=EvalConfig(max_instances_per_task=2, max_new_tokens=6))
    return LoopConfig(**{**base, **overrides})


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TASKMAP_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def start(tmp_path, name, config) -> RunDir:
    return create_run(tmp_path / "runs", name, run_config_to_dict(config))


def checkpoint_info(run: RunDir, r: int) -> dict:
    return json.loads((run.round_dir(r) / "checkpoint" / "taskmap_checkpoint.json").read_text())


def test_two_round_loop_writes_the_run_contract(tiny_causal_dir, tmp_path, cache):
    run = start(tmp_path, "u", loop_config(tiny_causal_dir, keep_checkpoints="all"))
    assert run.status()["state"] == "queued"
    assert run_worker(run.path) == 0
    status = run.status()
    assert status["state"] == "done" and status["attempt"] == 1 and status["pid"] == os.getpid()

    evals = run.metrics("eval")
    assert [e["round"] for e in evals] == [0, 1, 2]
    assert [e["n_tasks"] for e in evals] == [4, 8, 12]
    for e in evals:
        for key in ("rougeL", "rougeL_classification", "rougeL_generation", "exact_match"):
            assert 0 <= e[key] <= 100
    train = run.metrics("train")
    assert train and all({"round", "step", "loss", "lr"} <= set(t) for t in train)
    assert {t["round"] for t in train} == {0, 1, 2}

    selections = [json.loads((run.round_dir(r) / "selection.json").read_text())["task_ids"] for r in range(3)]
    assert all(len(s) == 4 for s in selections)
    assert len(set().union(*map(set, selections))) == 12  # disjoint across rounds
    assert [s["policy"] for s in run.metrics("select")] == ["random", "uncertainty", "uncertainty"]
    # round r selects the highest-PU task not yet selected, as scored with round r-1's model
    import pandas as pd
    scores = pd.read_parquet(run.round_dir(1) / "taskmap.parquet")
    assert scores["selected_before"].sum() == 4
    remaining = scores[~scores["selected_before"]]
    cls = remaining[remaining.kind == "classification"].sort_values("pu", ascending=False)
    assert cls["task_id"].iloc[0] in selections[1]
    # retrain from base: each round's checkpoint is trained on everything selected so far
    for r in range(3):
        info = checkpoint_info(run, r)
        assert sorted(info["tasks"]) == sorted(sum(selections[: r + 1], []))
        assert info["init"] is None
    assert (run.round_dir(2) / "eval.parquet").is_file()


def test_continue_from_previous_and_round0_shared(tiny_causal_dir, tmp_path, cache):
    first = start(tmp_path, "prev", loop_config(tiny_causal_dir, retrain_from="previous", rounds=1,
                                                keep_checkpoints="all"))
    assert run_worker(first.path) == 0
    info = checkpoint_info(first, 1)
    new = json.loads((first.round_dir(1) / "selection.json").read_text())["task_ids"]
    assert sorted(info["tasks"]) == sorted(new)
    assert info["init"].endswith("rounds/00/checkpoint")

    other = start(tmp_path, "rand", loop_config(tiny_causal_dir, policy="random", rounds=1))
    assert run_worker(other.path) == 0
    assert other.stages(0)["train"]["reused"] is True  # same seed -> same initial set -> same training
    assert json.loads((other.round_dir(0) / "selection.json").read_text()) == \
        {**json.loads((first.round_dir(0) / "selection.json").read_text())}
    assert other.metrics("eval")[0]["rougeL"] == first.metrics("eval")[0]["rougeL"]


def test_single_round_on_given_tasks(tiny_causal_dir, tmp_path, cache):
    ids = ("taskmap001_sentiment_polarity", "taskmap019_country_capital")
    run = start(tmp_path, "one", loop_config(tiny_causal_dir, rounds=0, initial_task_ids=ids))
    assert run_worker(run.path) == 0
    assert json.loads((run.round_dir(0) / "selection.json").read_text())["task_ids"] == list(ids)
    assert len(run.metrics("eval")) == 1 and run.rounds() == [0]


def test_second_worker_on_same_run_is_refused(tiny_causal_dir, tmp_path, cache):
    from filelock import FileLock
    run = start(tmp_path, "busy", loop_config(tiny_causal_dir))
    with FileLock(str(run.lock_path)):
        assert run_worker(run.path) == EXIT_BUSY
    assert run.status()["state"] == "queued"


# --- interruptions --------------------------------------------------------------------------

# long enough that a kill reliably lands inside round 1's training
SLOW = dict(train=TrainConfig(max_instances_per_task=20, epochs=6, batch_size=2, warmup_steps=1))


def _wait_for(predicate, timeout=600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _in_round_1_training(run: RunDir) -> bool:
    return any(e.get("round") == 1 for e in run.metrics("train"))


def _final_evals(run: RunDir) -> list[tuple]:
    latest = {}
    for e in run.metrics("eval"):
        latest[e["round"]] = (e["n_tasks"], round(e["rougeL"], 6), round(e["exact_match"], 6))
    return [latest[r] for r in sorted(latest)]


@pytest.fixture(scope="module")
def reference_evals(tiny_causal_dir, tmp_path_factory):
    """The same loop, uninterrupted, in a cache of its own."""
    root = tmp_path_factory.mktemp("reference")
    old = os.environ["TASKMAP_CACHE"]
    os.environ["TASKMAP_CACHE"] = str(root / "cache")
    try:
        run = create_run(root / "runs", "ref", run_config_to_dict(loop_config(tiny_causal_dir, rounds=1, **SLOW)))
        assert run_worker(run.path) == 0
        return _final_evals(run)
    finally:
        os.environ["TASKMAP_CACHE"] = old


@pytest.fixture
def launch(cache):
    """launch_worker, with every detached worker killed at teardown (a failing test must not leave one running)."""
    pids = []

    def start_worker(run):
        pids.append(launch_worker(run, extra_env={"TASKMAP_CACHE": str(cache)}))
        return pids[-1]

    yield start_worker
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


@pytest.mark.parametrize("how", ["cancel", "kill9"])
def test_interrupt_mid_round_then_resume(how, tiny_causal_dir, tmp_path, cache, reference_evals, launch):
    run = start(tmp_path, how, loop_config(tiny_causal_dir, rounds=1, **SLOW))
    pid = launch(run)
    assert _wait_for(lambda: _in_round_1_training(run)), (run.log_path.read_text())
    round0_stages = run.stages(0)
    if how == "cancel":
        run.request_cancel()
        assert _wait_for(lambda: run.status()["state"] == "cancelled")
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        assert run.status()["state"] == "interrupted"  # nobody wrote it: the worker is gone
        assert run.raw_status()["state"] == "running"
    assert not run.stage_done(1, "train")

    resumed = subprocess.run([sys.executable, "-m", "core.cli", "resume", str(run.path)], cwd=REPO,
                             env={**os.environ, "TASKMAP_CACHE": str(cache), "PYTHONPATH": str(REPO)},
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    status = run.status()
    assert status["state"] == "done" and status["attempt"] == 2
    assert run.stages(0) == round0_stages  # finished round 0 was not redone
    assert _final_evals(run) == reference_evals  # same final metrics as an uninterrupted run
    attempts = {e["attempt"] for e in run.metrics("train") if e["round"] == 1}
    assert attempts == {1, 2}


def test_sigterm_cancels_cleanly(tiny_causal_dir, tmp_path, launch):
    run = start(tmp_path, "term", loop_config(tiny_causal_dir, rounds=1, **SLOW))
    pid = launch(run)
    assert _wait_for(lambda: len(run.metrics("train")) > 0)
    os.kill(pid, signal.SIGTERM)
    os.waitpid(pid, 0)
    assert run.status()["state"] == "cancelled"
