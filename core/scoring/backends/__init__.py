"""Scorer backends by name.

Each module in this folder registers the backends it offers with `register`; the engine asks
for one by name (`ScoreConfig.backend`, `--backend`) through `resolve_backend` and builds its
scorer with `make_scorer`. Adding a backend is one new module here, with no edit to any other:
this package imports its modules when a backend is first looked up. A backend module imports
its heavy dependencies (vLLM, say) only inside `build`, so listing backends stays cheap and works
where they are absent.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable

from core.scoring.base import Scorer


class BackendUnavailable(RuntimeError):
    """A backend that cannot run here; the message says what is missing and how to get it."""


@dataclass(frozen=True)
class Backend:
    """name: what `--backend` takes. build(loaded, stop_ids, batch_tokens) -> Scorer.
    missing(): None when the backend can run here, else one line saying what is missing and how
    to install it. needs_weights: whether it runs the model in this process (torch) or
    elsewhere (vLLM's worker), so the engine loads the weights only when they are used here.
    version(): what goes into the cache key besides the name (results of another version of the
    engine are not mixed)."""

    name: str
    description: str
    build: Callable[..., Scorer]
    missing: Callable[[], str | None] = lambda: None
    needs_weights: bool = True
    version: Callable[[], str] = lambda: ""

    @property
    def key(self) -> str:
        version = self.version()
        return f"{self.name}-{version}" if version else self.name


_REGISTRY: dict[str, Backend] = {}
_discovered = False
AUTO = "auto"


def register(backend: Backend) -> Backend:
    _REGISTRY[backend.name] = backend
    return backend


def _discover() -> None:
    global _discovered
    if not _discovered:
        for module in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{module.name}")
        _discovered = True


def names() -> list[str]:
    _discover()
    return sorted(_REGISTRY)


def get(name: str) -> Backend:
    _discover()
    if name not in _REGISTRY:
        raise BackendUnavailable(f"unknown scoring backend {name!r}; choose from auto, {', '.join(names())}")
    return _REGISTRY[name]


def resolve_backend(name: str, loaded=None) -> Backend:
    """The backend to use for `name` ("auto": taskmap's own torch scorers, which the benchmarks
    measured fastest on CPU; see benchmarks/RESULTS.md), checked to be able to run here."""
    chosen = get("torch" if name == AUTO else name)
    problem = chosen.missing()
    if problem:
        raise BackendUnavailable(problem)
    return chosen


def make_scorer(loaded, stop_ids: set[int], batch_tokens: int = 0, backend: str = "torch", **options) -> Scorer:
    """The scorer of `backend` for a LoadedModel; batch_tokens 0 lets the backend pick."""
    return resolve_backend(backend, loaded).build(loaded, stop_ids, batch_tokens, **options)

