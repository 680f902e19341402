"""Argument groups several commands share, derived from the config records' own fields.

Flags, defaults, choices, bounds and help all come from `core.config.options`, so a config
field is described once; a command picks the fields it exposes and reads them back into a
frozen config with `config_from`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Iterable

from core.config import EvalConfig, RegionRule, ScoreConfig, TrainConfig, options

SCORE_METHOD = ("n_instances", "n_perturbations", "drop_prob", "mode", "labels", "n_examples", "seed",
                "max_new_tokens", "max_source_tokens", "batch_tokens", "pack_instances")
MODEL = ("model", "revision", "dtype", "device", "trust_remote_code")
SCALE_OUT = ("backend", "workers", "threads", "ray_address")


def _bounded(kind: type, opt) -> Any:
    """An argparse type that also checks the field's bounds, with the flag in the message."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind.__name__}, got {text!r}") from None
        if opt.min is not None and value < opt.min:
            raise argparse.ArgumentTypeError(f"must be >= {opt.min}, got {value}")
        if opt.max is not None and value > opt.max:
            raise argparse.ArgumentTypeError(f"must be <= {opt.max}, got {value}")
        return value
    parse.__name__ = kind.__name__
    return parse


def add_fields(group, cls, names: Iterable[str], *, prefix: str, defaults: Any = None,
               flags: dict[str, str] | None = None) -> None:
    """Add one flag per named field of `cls`; each lands in args.<prefix><field>.
    defaults: a config instance whose values are the defaults (default: the class defaults)."""
    described = options(cls)
    for name in names:
        opt = described[name]
        default = getattr(defaults, name) if defaults is not None else opt.default
        flag = (flags or {}).get(name, opt.flag)
        kwargs: dict[str, Any] = dict(dest=prefix + name, help=opt.help, default=default)
        if opt.type is bool:
            group.add_argument(flag, action="store_true", **kwargs)
            continue
        kind = next((t for t in (bool, int, float, str) if opt.type is t or str(opt.type).startswith(t.__name__)), str)
        if opt.choices is not None:
            kwargs["choices"] = opt.choices
        else:
            kwargs["type"] = _bounded(kind, opt) if kind in (int, float) else kind
            kwargs["metavar"] = flag.lstrip("-").replace("-", "_").upper()
        group.add_argument(flag, **kwargs)


def config_from(cls, args: argparse.Namespace, prefix: str, **fixed: Any):
    """The config whose described fields were added with `add_fields(prefix=...)`; `fixed`
    sets the others."""
    values = {name: getattr(args, prefix + name) for name in options(cls) if hasattr(args, prefix + name)}
    return cls(**{**values, **fixed})


# --- the groups -------------------------------------------------------------------------------

def add_task_args(p: argparse.ArgumentParser, nargs: str = "+") -> None:
    p.add_argument("tasks", nargs=nargs, default=["builtin"] if nargs == "*" else None,
                   help="'builtin', a directory of task*.json (or a NIV2 checkout), task files, JSON/JSONL "
                        "Alpaca/Self-Instruct records, or hf:NAME[:SPLIT] for a datasets dataset")
    p.add_argument("--split", default=None, help="keep only the tasks named in this split file "
                   "(e.g. splits/default/train_tasks.txt of a NIV2 checkout)")
    p.add_argument("--limit", type=int, default=None, help="keep only the first N tasks (quick looks)")


def load_task_args(a: argparse.Namespace):
    from core.data.loaders import load_tasks

    result = load_tasks(a.tasks if len(a.tasks) > 1 else a.tasks[0], split=a.split)
    if a.limit:
        result.tasks[:] = result.tasks[: a.limit]
    return result


def add_model_args(p: argparse.ArgumentParser) -> None:
    add_fields(p.add_argument_group("model"), ScoreConfig, MODEL, prefix="score_")


def add_score_args(p: argparse.ArgumentParser, seed_flag: str = "--seed") -> None:
    g = p.add_argument_group("method (METHOD.md §2-3; defaults are the paper's)")
    add_fields(g, ScoreConfig, SCORE_METHOD, prefix="score_", flags={"seed": seed_flag})
    g = p.add_argument_group("backend and scale-out (see README: Scale-out)")
    add_fields(g, ScoreConfig, SCALE_OUT, prefix="score_")


def score_config(a: argparse.Namespace) -> ScoreConfig:
    return config_from(ScoreConfig, a, "score_")


def add_rule_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("task-map region rule (see README: the task-map rule)")
    add_fields(g, RegionRule, options(RegionRule), prefix="rule_")


def rule_from_args(a: argparse.Namespace) -> RegionRule:
    return config_from(RegionRule, a, "rule_")


TRAIN_FIELDS = ("max_instances_per_task", "learning_rate", "lr_scheduler", "warmup_steps", "epochs", "batch_size",
                "grad_accum", "max_source_tokens", "max_target_tokens", "mixed_precision", "processes")


def add_train_args(p: argparse.ArgumentParser, train: TrainConfig | None = None, evaluation: EvalConfig | None = None) -> None:
    g = p.add_argument_group("training (the paper: 200 instances/task, lr 5e-5 constant, 50 warm-up steps, "
                             "8 epochs, batch 128)")
    add_fields(g, TrainConfig, TRAIN_FIELDS, prefix="train_", defaults=train)
    g = p.add_argument_group("held-out evaluation")
    add_fields(g, EvalConfig, ("max_instances_per_task", "max_new_tokens"), prefix="eval_", defaults=evaluation)


def train_eval_from_args(a: argparse.Namespace) -> tuple[TrainConfig, EvalConfig]:
    """Training and evaluation prompts are built like scoring prompts (same examples, same limit)."""
    train = config_from(TrainConfig, a, "train_", n_examples=a.score_n_examples)
    evaluation = config_from(EvalConfig, a, "eval_", n_examples=a.score_n_examples,
                             max_source_tokens=a.score_max_source_tokens)
    return train, evaluation


def add_pool_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("tasks")
    g.add_argument("--pool", nargs="+", default=["builtin"], help="task sources to select from (as for `score`)")
    g.add_argument("--pool-split", default=None, help="split file restricting the pool (e.g. splits/default/train_tasks.txt)")
    g.add_argument("--eval", nargs="+", default=None, dest="eval_tasks",
                   help="held-out task sources (default: the pool itself, which only makes sense for smoke tests)")
    g.add_argument("--eval-split", default=None, help="split file restricting the held-out tasks")
    g.add_argument("--runs-dir", default="runs", help="where run directories are created")
    g.add_argument("--name", default=None, help="run name prefix (default: derived from the pool and the time)")
    g.add_argument("--detach", action="store_true", help="start background workers and return (watch with `taskmap runs`)")


def default_out_dir(sources: list[str], model: str) -> Path:
    from core.io import slug

    source = "builtin" if sources == ["builtin"] else "+".join(Path(s.rstrip("/")).stem for s in sources[:2])
    model_name = "smollm2-135m-instruct" if model == "default" else Path(model.rstrip("/")).name
    return Path("results") / slug(f"{source}__{model_name}".lower(), fallback="tasks")
