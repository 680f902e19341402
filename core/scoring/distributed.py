"""Scoring packs on Ray actors: one model per actor, packs as the unit of work.

    driver (Engine.score) ── claims a pack (its lock) ──► RayPool.submit ──► an idle actor
          ◄── RayPool.next_done (ray.wait) ── the pack's rows ── Engine.compute_pack on the actor
          └─► writes the shard into the cache, releases the lock, counts progress

The engine keeps every guarantee it has in one process: the same packs and batches (so the same
rows: tables equal a one-process run's), one lock per pack (concurrent runs never compute a pack
twice), a shard written atomically as each pack lands (a killed driver started again reads the
finished packs back), and no actor started when every task is cached. The driver writes the
shards, so actors on other machines need no access to the cache.

Faults are Ray's to handle: actors restart (`max_restarts`) and retry the pack they were given
(`max_task_retries`, set on the actor class: per-call retries are spent while the actor is still
restarting); a pack whose actor is gone for good goes to a live one, once.

A cluster started here listens on 127.0.0.1 only, keeps its auth token in a private directory
(never ~/.ray, which Ray would write world-readable), and is shut down when the run ends; `ray
stop` is never called (it would stop every cluster on the machine). The measured facts behind
each setting are in README (Scale-out on Ray).
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

from core.io import REPO_ROOT

# before `import ray`: the node IP stays 127.0.0.1 (so every server binds loopback only), no
# usage reports, and joining a cluster that is not there fails in seconds instead of minutes
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0", "RAY_DEDUP_LOGS": "0",
           "RAY_py_gcs_connect_timeout_s": "3", "RAY_gcs_server_port_wait_time_s": "1",
           "RAY_gcs_rpc_server_connect_timeout_s": "2"}
INSTALL_HINT = "pip install 'taskmap[ray]' (or: pip install ray)"


class ClusterError(RuntimeError):
    """Why no cluster could be started or joined, in one line."""


def usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def check_options(workers: int, threads: int, address: str | None) -> None:
    """Fail fast, before any model or cluster is touched, on options that cannot work here.
    Torch-free, so the CLI checks them before importing the engine."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise ClusterError(f"--workers / --ray-address need Ray, which is not installed: {INSTALL_HINT}")
    if workers < 0 or threads < 0:
        raise ClusterError("--workers and --threads must be >= 0")
    if address:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ClusterError(f"--ray-address must be HOST:PORT, got {address!r}")
        try:  # ray.init on an address where nothing listens would retry for minutes
            socket.create_connection((host, int(port)), timeout=3).close()
        except OSError as exc:
            raise ClusterError(f"no Ray cluster answers at {address}: {exc.strerror or exc}") from None
        return
    have = usable_cpus()
    need = workers * (threads or 1)
    if need > have:
        raise ClusterError(f"--workers {workers} x {threads or 1} thread(s) needs {need} CPUs; this machine has "
                           f"{have} (use --workers {max(1, have // (threads or 1))}, or --ray-address to use a cluster)")


def run_scoring(config, tasks, *, progress=None, problems=(), sources=(), cache_dir: Path | None = None,
                loaded=None):
    """Score `tasks` as `config` says: in this process, or on the Ray actors its `workers` /
    `ray_address` ask for (options that cannot work fail before the model is loaded). Everything
    started for the run (a Ray cluster, a vLLM worker) is stopped when it ends."""
    from core.scoring.engine import Engine

    distributed = bool(config.workers or config.ray_address)
    if distributed:
        check_options(config.workers, config.threads, config.ray_address)
    engine = Engine(config, loaded=loaded, cache_dir=cache_dir)
    pool = RayPool(config, engine.run_key, cache_dir=cache_dir, workers=config.workers, threads=config.threads,
                   address=config.ray_address) if distributed else None
    try:
        return engine.score(tasks, progress=progress, problems=problems, sources=sources, runner=pool)
    finally:
        engine.close()
        if pool is not None:
            pool.close()


class ScoringActor:
    """One Engine (one model) on a Ray worker; computes whole packs."""

    def __init__(self, config, cache_dir: str | None, threads: int, run_key: str):
        import torch

        if threads:
            torch.set_num_threads(threads)
        from core.scoring.engine import Engine

        self.engine = Engine(config, cache_dir=Path(cache_dir) if cache_dir else None)
        if self.engine.run_key != run_key:
            raise RuntimeError(f"this actor's cache key {self.engine.run_key} is not the driver's {run_key}: the model, "
                               f"its precision or its device type differ on {socket.gethostname()}")
        _ = self.engine.scorer  # load the weights now: a model that cannot load fails here, not mid-run

    def pid(self) -> int:
        return os.getpid()

    def compute_pack(self, tasks, task_keys):
        return self.engine.compute_pack(tasks, task_keys)


class RayPool:
    """Ray actors that compute packs for `Engine.score(..., runner=pool)`: `workers` actors on
    a local cluster started on first use, or on the cluster at `address`. run_key: the driver
    engine's, which every actor's engine must have (same weights, precision, device type).
    Close it when done (it is a context manager)."""

    def __init__(self, config, run_key: str, *, cache_dir: Path | None = None, workers: int = 0, threads: int = 0,
                 address: str | None = None, max_restarts: int = 2, max_task_retries: int = 2,
                 actor_cls: type = ScoringActor, verbose: bool = False):
        self.config, self.run_key, self.cache_dir, self.address = config, run_key, cache_dir, address
        self.workers = workers
        self.threads = threads or (max(1, usable_cpus() // workers) if workers and not address else 0)
        self.max_restarts, self.max_task_retries = max_restarts, max_task_retries
        self.actor_cls, self.verbose = actor_cls, verbose
        self.actors: list = []
        self._idle: list = []
        self._running: dict = {}  # ObjectRef -> (job, actor, attempts)
        self._retry: list = []     # (job, attempts) whose actor died for good
        self._tmp: str | None = None
        self.started = False
        self.seconds_to_start = 0.0

    # --- the cluster ------------------------------------------------------------------------

    def start(self) -> None:
        check_options(self.workers, self.threads, self.address)
        for key, value in RAY_ENV.items():
            os.environ.setdefault(key, value)
        started = time.time()
        try:
            self._join() if self.address else self._start_local()
            self._start_actors()
        except BaseException:
            self.close()
            raise
        self.started = True
        self.seconds_to_start = time.time() - started

    def _start_local(self) -> None:
        _private_token()  # read when ray is imported: set it first
        import ray
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False  # in case ray was imported before RAY_ENV was set
        # Unix socket paths under the temp dir must fit 107 bytes: keep it short, under /tmp
        self._tmp = tempfile.mkdtemp(prefix="tmray-", dir="/tmp")
        os.environ.pop("RAY_ADDRESS", None)
        ray.init(address="local", num_cpus=self.workers * self.threads, include_dashboard=False,
                 log_to_driver=self.verbose, logging_level="INFO" if self.verbose else "WARNING",
                 _temp_dir=self._tmp, _node_ip_address="127.0.0.1")
        if ray.util.get_node_ip_address() != "127.0.0.1":
            raise ClusterError(f"the local Ray cluster did not bind to 127.0.0.1 (node IP "
                               f"{ray.util.get_node_ip_address()}); refusing to run it")

    def _join(self) -> None:
        import ray

        try:
            ray.init(address=self.address, log_to_driver=self.verbose, logging_level="WARNING")
        except (ConnectionError, RuntimeError) as exc:
            raise ClusterError(f"cannot join the Ray cluster at {self.address}: {str(exc).splitlines()[0]}") from None

    def _start_actors(self) -> None:
        import ray

        gpu = self.config.device != "cpu" and ray.cluster_resources().get("GPU", 0) >= 1
        if not self.workers:  # joining: one actor per GPU, or per `threads` CPUs, of the cluster
            have = ray.cluster_resources().get("GPU" if gpu else "CPU", 0)
            self.threads = self.threads or (1 if gpu else 2)
            self.workers = max(1, int(have // (1 if gpu else self.threads)))
        env = {"OMP_NUM_THREADS": str(self.threads or 1), "MKL_NUM_THREADS": str(self.threads or 1),
               "TOKENIZERS_PARALLELISM": "false", "TRANSFORMERS_VERBOSITY": "error"}
        for name in ("TASKMAP_CACHE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HOME", "MKL_CBWR",
                     "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "FBGEMM_ENABLE_INSTRUCTIONS"):
            if os.environ.get(name):
                env[name] = os.environ[name]
        # actors import taskmap (and an actor class given to the pool) as this process does
        paths = [str(REPO_ROOT), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
        env["PYTHONPATH"] = os.pathsep.join(p for p in dict.fromkeys(paths) if p)
        resources = dict(num_gpus=1, num_cpus=1) if gpu else dict(num_cpus=self.threads)
        actor = ray.remote(max_restarts=self.max_restarts, max_task_retries=self.max_task_retries,
                           **resources)(self.actor_cls)
        cache_dir = str(self.cache_dir) if self.cache_dir else None
        self.actors = [actor.options(runtime_env={"env_vars": env}).remote(self.config, cache_dir, self.threads, self.run_key)
                       for _ in range(self.workers)]
        try:
            ray.get([a.pid.remote() for a in self.actors])  # every model loaded, or the error now
        except ray.exceptions.RayActorError as exc:
            raise ClusterError(f"a scoring actor could not start: {str(exc).splitlines()[0]}") from None
        self._idle = list(self.actors)

    def close(self) -> None:
        if _ray_initialized():
            import ray

            for actor in self.actors:
                try:
                    ray.kill(actor)
                except Exception:  # noqa: BLE001 - already gone
                    pass
            if ray.is_initialized():
                ray.shutdown()  # the cluster this process started or joined, nothing else
        self.actors, self._idle, self._running, self._retry = [], [], {}, []
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        self.started = False

    def __enter__(self) -> RayPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- the engine's PackRunner ---------------------------------------------------------------

    @property
    def slots(self) -> int:
        return len(self.actors) or self.workers or 1

    def submit(self, job) -> None:
        if not self.started:
            self.start()
        self._send(job, 1)

    def _send(self, job, attempts: int) -> None:
        actor = self._idle.pop(0)
        self._running[actor.compute_pack.remote(job.tasks, job.task_keys)] = (job, actor, attempts)

    def next_done(self):
        import ray
        from ray.exceptions import RayActorError

        while True:
            while self._retry and self._idle:
                self._send(*self._retry.pop(0))
            if not self._running:
                raise ClusterError("every scoring actor has died; see the Ray logs (--verbose shows them)")
            [ref], _ = ray.wait(list(self._running), num_returns=1)
            job, actor, attempts = self._running.pop(ref)
            try:
                table = ray.get(ref)
            except RayActorError:  # gone beyond Ray's own restarts and retries: a live actor redoes it, once
                if actor in self.actors:
                    self.actors.remove(actor)
                if attempts >= 2 or not self.actors:
                    raise
                self._retry.append((job, attempts + 1))
                continue
            self._idle.append(actor)
            return job, table

    def cancel(self) -> list:
        jobs = [job for job, _, _ in self._running.values()] + [job for job, _ in self._retry]
        self._running, self._retry = {}, []
        return jobs


def _ray_initialized() -> bool:
    import sys

    return "ray" in sys.modules and sys.modules["ray"].is_initialized()


_TOKEN_DIR: str | None = None


def _private_token() -> None:
    """Token auth with a random token in a private directory, one per driver process (Ray caches
    the token per process: a second cluster started here must use the same one)."""
    global _TOKEN_DIR
    if _TOKEN_DIR is None:
        import atexit

        _TOKEN_DIR = tempfile.mkdtemp(prefix="tmray-auth-", dir="/tmp")  # mode 0700
        path = os.path.join(_TOKEN_DIR, "auth_token")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(os.urandom(32).hex())
        atexit.register(shutil.rmtree, _TOKEN_DIR, True)
        os.environ["RAY_AUTH_MODE"] = "token"
        os.environ["RAY_AUTH_TOKEN_PATH"] = path
