"""Scoring on Ray actors (core.scoring.distributed): a local cluster of 2 CPU actors on loopback,
the tiny model, packs of the built-in tasks. Skipped only where Ray is not installed (the test
extra installs it, so CI runs these)."""

import importlib.util
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

if importlib.util.find_spec("ray") is None:  # never import ray here: the pool sets its environment first
    pytest.skip("ray is not installed (pip install 'taskmap[ray]')", allow_module_level=True)

from core.config import ScoreConfig  # noqa: E402
from core.data.loaders import load_tasks  # noqa: E402
from core.scoring.distributed import ClusterError, RayPool, ScoringActor, check_options, usable_cpus  # noqa: E402
from core.scoring.engine import Engine  # noqa: E402

SMALL = dict(n_instances=4, n_perturbations=3, max_new_tokens=8, dtype="float32", device="cpu", pack_instances=8)


class SlowActor(ScoringActor):
    """Each pack takes at least 2 s and is logged (start / end, pack, pid) beside the cache, so a
    test can kill an actor in the middle of one."""

    def __init__(self, config, cache_dir, threads, run_key):
        super().__init__(config, cache_dir, threads, run_key)
        self.trace = Path(cache_dir) / "trace.txt"

    def compute_pack(self, tasks, task_keys):
        first = task_keys[0][:12]
        with open(self.trace, "a") as f:
            f.write(f"start {first} {os.getpid()}\n")
        time.sleep(2)
        table = super().compute_pack(tasks, task_keys)
        with open(self.trace, "a") as f:
            f.write(f"end {first} {os.getpid()}\n")
        return table


def listening(pids: set[int]) -> list[str]:
    lines = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout.splitlines()
    return [line.split()[3] for line in lines if any(f"pid={p}," in line for p in pids)]


@pytest.fixture(scope="module")
def setting(tiny_causal_dir, tmp_path_factory):
    tasks = load_tasks("builtin").tasks[:8]
    config = ScoreConfig(model=str(tiny_causal_dir), **SMALL)
    reference = Engine(config, cache_dir=tmp_path_factory.mktemp("one-process")).score(tasks)
    return tasks, config, reference


def test_two_actors_equal_one_process_on_loopback_and_a_rerun_starts_none(setting, tmp_path):
    import psutil

    tasks, config, reference = setting
    engine = Engine(config, cache_dir=tmp_path)
    with RayPool(config, engine.run_key, cache_dir=tmp_path, workers=2, threads=1) as pool:
        result = engine.score(tasks, runner=pool)
        assert pool.started and len(pool.actors) == 2
        ours = {p.pid for p in psutil.Process().children(recursive=True)} | {os.getpid()}
        addresses = listening(ours)
        assert addresses and all(a.startswith(("127.", "[::ffff:127.")) for a in addresses), addresses
        token = Path(os.environ["RAY_AUTH_TOKEN_PATH"])  # a private token, never ~/.ray's world-readable one
        assert token.parent.name.startswith("tmray-auth-") and oct(token.stat().st_mode)[-3:] == "600"
    assert result.manifest["n_computed"] == len(tasks)
    pd.testing.assert_frame_equal(reference.sequences, result.sequences, check_exact=True)
    pd.testing.assert_frame_equal(reference.tasks, result.tasks, check_exact=True)

    again = Engine(config, cache_dir=tmp_path)
    with RayPool(config, again.run_key, cache_dir=tmp_path, workers=2, threads=1) as pool:
        cached = again.score(tasks, runner=pool)
        assert not pool.started  # every pack cached: no cluster, no actor, no weights
    assert cached.manifest["n_computed"] == 0 and again.loaded._model is None
    pd.testing.assert_frame_equal(reference.sequences, cached.sequences, check_exact=True)


def test_an_actor_killed_mid_pack_is_restarted_and_nothing_is_recomputed(setting, tmp_path):
    tasks, config, reference = setting
    trace = tmp_path / "trace.txt"

    def kill_the_third_pack():
        while True:
            starts = [line.split() for line in (trace.read_text().splitlines() if trace.exists() else [])
                      if line.startswith("start")]
            if len(starts) >= 3:
                time.sleep(0.5)
                os.kill(int(starts[2][2]), signal.SIGKILL)
                return
            time.sleep(0.05)

    engine = Engine(config, cache_dir=tmp_path)
    with RayPool(config, engine.run_key, cache_dir=tmp_path, workers=2, threads=1, actor_cls=SlowActor) as pool:
        threading.Thread(target=kill_the_third_pack, daemon=True).start()
        result = engine.score(tasks, runner=pool)
    lines = [line.split() for line in trace.read_text().splitlines()]
    started = [pack for what, pack, _ in lines if what == "start"]
    ended = [pack for what, pack, _ in lines if what == "end"]
    assert len(set(started)) == 4 and len(started) == 5  # the killed pack ran again, no other did
    assert sorted(ended) == sorted(set(started))         # each pack finished exactly once
    pd.testing.assert_frame_equal(reference.sequences, result.sequences, check_exact=True)


def test_options_that_cannot_work_fail_before_anything_starts():
    too_many = usable_cpus() + 1
    with pytest.raises(ClusterError, match=f"needs {too_many} CPUs"):
        check_options(too_many, 1, None)
    with pytest.raises(ClusterError, match="no Ray cluster answers at 127.0.0.1:1"):
        check_options(0, 0, "127.0.0.1:1")
    with pytest.raises(ClusterError, match="HOST:PORT"):
        check_options(0, 0, "nowhere")
