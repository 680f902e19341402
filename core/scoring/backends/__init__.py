"""Scorer backends by name.

Each module in this folder registers the backends it offers with `register`; the engine asks
for one by name (`ScoreConfig.backend`, `--backend`) through `make_scorer`. Adding a backend
is one new module here, with no edit to any other: this package imports its modules when a
backend is first looked up. A backend module must import its heavy dependencies (vLLM, say)
only inside `build`, so that listing backends stays cheap and works where they are absent.
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
    missing(): None when the backend can run here, else one line saying what is missing."""

    name: str
    description: str
    build: Callable[..., Scorer]
    missing: Callable[[], str | None] = lambda: None


_REGISTRY: dict[str, Backend] = {}
_discovered = False


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
        raise BackendUnavailable(f"unknown scoring backend {name!r}; choose from {', '.join(names())}")
    return _REGISTRY[name]


def make_scorer(loaded, stop_ids: set[int], batch_tokens: int = 0, backend: str = "torch", **options) -> Scorer:
    """The scorer of `backend` for a LoadedModel; batch_tokens 0 lets the backend pick."""
    chosen = get(backend)
    problem = chosen.missing()
    if problem:
        raise BackendUnavailable(problem)
    return chosen.build(loaded, stop_ids, batch_tokens, **options)
