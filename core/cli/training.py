"""`taskmap loop | findings | compare`: active instruction tuning runs and the experiments on them."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from core.cli.args import (
    add_fields,
    add_model_args,
    add_pool_args,
    add_rule_args,
    add_score_args,
    add_train_args,
    config_from,
    rule_from_args,
    score_config,
    train_eval_from_args,
)
from core.config import (
    FINDINGS_PRESETS,
    FINDINGS_SUBSETS,
    FindingsConfig,
    LoopConfig,
    resolve_source,
    run_config_to_dict,
    shared_data_dir,
)
from core.io import slug

LOOP_FIELDS = ("initial_tasks", "per_round", "rounds", "retrain_from", "keep_checkpoints")


def _run_name(a: argparse.Namespace, kind: str) -> str:
    base = a.name or f"{slug(Path(a.pool[0].rstrip('/')).stem, fallback='tasks')}-{time.strftime('%Y%m%d-%H%M%S')}"
    return base if kind == "loop" else f"{base}-{kind}"


def run_foreground_or_detached(runs, detach: bool) -> int:
    from core.loop.runs import launch_worker
    from core.loop.worker import run_worker

    if detach:
        for run in runs:
            print(f"started worker {launch_worker(run)} for {run.path}")
        return 0
    code = 0
    for run in runs:
        print(f"== {run.path}")
        code = run_worker(run.path, echo=True) or code
    return code


def cmd_loop(a: argparse.Namespace) -> int:
    from core.loop.runs import create_run

    train, evaluation = train_eval_from_args(a)
    score = score_config(a)
    quota = a.quota if a.quota in ("pool", "none") else float(a.quota)
    runs, name = [], _run_name(a, "loop")
    for policy in a.policy:
        for seed in a.seed:
            config = config_from(LoopConfig, a, "loop_", pool=tuple(a.pool), pool_split=a.pool_split,
                                 eval_tasks=tuple(a.eval_tasks or ()), eval_split=a.eval_split, model=score.model,
                                 policy=policy, seed=seed, initial_task_ids=tuple(a.initial_task_ids or ()),
                                 quota=quota, curated=tuple(a.curated or ()), score=score, train=train,
                                 eval=evaluation, rule=rule_from_args(a))
            runs.append(create_run(Path(a.runs_dir), f"{name}-{policy}-s{seed}", run_config_to_dict(config)))
    return run_foreground_or_detached(runs, a.detach)


PRESET_TRAIN = ("max_instances_per_task", "learning_rate", "lr_scheduler", "warmup_steps", "epochs", "batch_size",
                "grad_accum", "max_source_tokens", "max_target_tokens")
PRESET_EVAL = ("max_instances_per_task", "max_new_tokens")
PRESET_RULE = ("ambiguous_frac", "easy_frac", "difficult_frac")


def findings_config(a: argparse.Namespace) -> FindingsConfig:
    """The findings config from the command line: the preset's values, overridden by every option
    given explicitly (the parser leaves options that were not given out of the namespace)."""
    from dataclasses import replace

    preset = FINDINGS_PRESETS[a.preset]
    given = vars(a)
    train = replace(preset.train, n_examples=a.score_n_examples,
                    **{f: given[f"train_{f}"] for f in PRESET_TRAIN if f"train_{f}" in given})
    train = replace(train, **{f: given[f"train_{f}"] for f in ("mixed_precision", "processes") if f"train_{f}" in given})
    evaluation = replace(preset.eval, n_examples=a.score_n_examples, max_source_tokens=a.score_max_source_tokens,
                         **{f: given[f"eval_{f}"] for f in PRESET_EVAL if f"eval_{f}" in given})
    rule = rule_from_args(a)
    rule = replace(rule, **{f: getattr(preset.rule, f) for f in PRESET_RULE if f"rule_{f}" not in given})
    pool = tuple(a.pool) if a.pool else tuple(resolve_source(s) for s in preset.pool)
    if a.eval_tasks:
        eval_tasks = tuple(a.eval_tasks)
    elif a.pool or a.pool_split:  # a pool of one's own: its held-out tasks are one's own too
        eval_tasks = ()
    else:
        eval_tasks = tuple(resolve_source(s) for s in preset.eval_tasks)
    preset_sources = [resolve_source(s) for s in (*preset.pool, *preset.eval_tasks) if s.startswith("shared:")]
    for source in (*pool, *eval_tasks):
        if source in preset_sources and not Path(source).exists():
            raise FileNotFoundError(f"task source {source} not found (preset {preset.name!r}: the shared data "
                                    f"folder is {shared_data_dir()}; set TASKMAP_SHARED or pass --pool/--eval)")
    holdout = given.get("findings_holdout_frac", preset.holdout_frac if not eval_tasks else 0.0)
    return FindingsConfig(
        pool=pool, pool_split=a.pool_split, eval_tasks=eval_tasks, eval_split=a.eval_split, model=a.score_model,
        subsets=tuple(a.subsets), subset_size=given.get("findings_subset_size", preset.subset_size),
        seeds=tuple(given.get("seeds", preset.seeds)), holdout_frac=holdout,
        keep_checkpoints=a.findings_keep_checkpoints, skip_png=a.findings_skip_png, preset=preset.name,
        score=score_config(a), train=train, eval=evaluation, rule=rule)


def cmd_findings(a: argparse.Namespace) -> int:
    from core.loop.runs import create_run

    config = findings_config(a)
    if a.name is None and not a.pool:
        a.name = f"{config.preset}-{time.strftime('%Y%m%d-%H%M%S')}"
    run = create_run(Path(a.runs_dir), _run_name(a, "findings"), run_config_to_dict(config))
    held = (", ".join(config.eval_tasks) if config.eval_tasks else
            f"{config.holdout_frac:.0%} of the pool" if config.holdout_frac else "the pool itself (not unseen tasks)")
    print(f"findings, preset {config.preset}: pool {', '.join(config.pool)}; held-out {held}; "
          f"seeds {', '.join(map(str, config.seeds))}")
    if FINDINGS_PRESETS[config.preset].demo:
        print("(a quick demo at small scale: it shows how the experiment works, not whether the finding holds)")
    code = run_foreground_or_detached([run], a.detach)
    report = run.path / "findings" / "report.md"
    if report.is_file():
        conclusion = report.read_text().split("## Conclusion", 1)[-1].split("##", 1)[0].strip()
        print(f"\nConclusion: {conclusion}\n")
        print(f"report: {report.with_suffix('.html')} (open it in a browser; also report.md, figures/*.png)")
    return code


def cmd_compare(a: argparse.Namespace) -> int:
    from core.loop.compare import comparison_table, curves_figure, eval_points, load_runs

    points = eval_points(load_runs(a.runs))
    if points.empty:
        print("error: no evaluated loop rounds in the given runs", file=sys.stderr)
        return 2
    print(comparison_table(points))
    out = Path(a.out)
    curves_figure(points).write_html(out, include_plotlyjs=True)
    points.to_csv(out.with_suffix(".csv"), index=False)
    print(f"wrote {out} and {out.with_suffix('.csv')}")
    return 0


def add_commands(sub) -> None:
    from core.loop.policies import policy_names

    p = sub.add_parser("loop", help="run active instruction tuning: score, select, train, evaluate, per round",
                       description="One run directory per (policy, seed): round 0 trains on a random initial set "
                                   "(shared by all policies of a seed); each later round scores the pool with the "
                                   "current model, selects new tasks with the policy, retrains and evaluates.")
    add_pool_args(p)
    g = p.add_argument_group("schedule")
    g.add_argument("--policy", nargs="+", default=["uncertainty", "random"], choices=policy_names(), metavar="POLICY",
                   help=f"selection policies (one run each): {', '.join(policy_names())}")
    g.add_argument("--seed", nargs="+", type=int, default=[0], help="seeds (one run each per policy)")
    g.add_argument("--initial-tasks", nargs="+", default=None, dest="initial_task_ids",
                   help="train round 0 on exactly these task ids instead")
    g.add_argument("--quota", default="pool", help="classification share of each selection: 'pool' (the pool's own), "
                                                   "'none', or a number such as 0.35 (the paper: 24 of 68)")
    g.add_argument("--curated", nargs="+", default=None, help="task ids for the curated policy, in order")
    add_fields(g, LoopConfig, LOOP_FIELDS, prefix="loop_")
    add_model_args(p)
    add_score_args(p, seed_flag="--score-seed")
    add_train_args(p)
    add_rule_args(p)
    p.set_defaults(func=cmd_loop)

    presets = "; ".join(f"{p.name}: {p.description}" for p in FINDINGS_PRESETS.values())
    p = sub.add_parser("findings", help="train on ambiguous / easy / difficult / random subsets and report",
                       description="Score the pool with the base model, then train on equal-size subsets of the "
                                   "ambiguous, easy and difficult regions and of random tasks over several seeds, "
                                   "evaluate each on the held-out tasks, and write findings/report.html (one "
                                   "self-contained file), report.md and the figures as PNG: each subset's mean with a "
                                   "95% bootstrap interval, the paired differences with Holm-adjusted tests, and a "
                                   "computed conclusion. Presets: " + presets
                                   + ". Options given explicitly override the preset's values.")
    add_pool_args(p)
    p.set_defaults(pool=None)
    g = p.add_argument_group("experiment")
    g.add_argument("--preset", choices=list(FINDINGS_PRESETS), default="default",
                   help="sizes (and, for quick / self-instruct, the tasks) of the experiment; see above")
    g.add_argument("--subsets", nargs="+", default=list(FINDINGS_SUBSETS), choices=list(FINDINGS_SUBSETS),
                   metavar="SUBSETS", help="subsets to train on: ambiguous, easy, difficult, random")
    add_fields(g, FindingsConfig, ("subset_size", "holdout_frac", "keep_checkpoints", "skip_png"), prefix="findings_")
    g.add_argument("--seeds", nargs="+", type=int, help="seeds (the preset's by default; at least 3 for an interval)")
    add_model_args(p)
    add_score_args(p, seed_flag="--score-seed")
    add_train_args(p)
    add_rule_args(p)
    # options a preset sets are left out of the namespace unless given, so the preset fills them in
    preset_dests = {"seeds", "findings_subset_size", "findings_holdout_frac",
                    *(f"train_{f}" for f in (*PRESET_TRAIN, "mixed_precision", "processes")),
                    *(f"eval_{f}" for f in PRESET_EVAL), *(f"rule_{f}" for f in PRESET_RULE)}
    for action in p._actions:
        if action.dest in preset_dests:
            action.default = argparse.SUPPRESS
    p.set_defaults(func=cmd_findings)

    p = sub.add_parser("compare", help="ROUGE-L against tasks trained, per policy, over seeds",
                       description="Gather the evaluations of loop runs and draw ROUGE-L (overall / classification / "
                                   "generation) against the number of training tasks: one line per policy, mean "
                                   "and ±1 std over seeds. Prints a table, writes HTML and CSV.")
    p.add_argument("runs", nargs="+", help="run directories, or directories holding runs")
    p.add_argument("--out", default="compare.html", help="HTML output (a CSV of the points goes beside it)")
    p.set_defaults(func=cmd_compare)
