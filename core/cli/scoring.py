"""`taskmap score | map | export | tasks`: score task sets, draw and export their map."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.cli.args import (
    add_fields,
    add_model_args,
    add_rule_args,
    add_score_args,
    add_task_args,
    default_out_dir,
    load_task_args,
    rule_from_args,
    score_config,
)
from core.config import ScoreConfig
from core.taskmap.regions import REGIONS, region_counts


def cmd_score(a: argparse.Namespace) -> int:
    from tqdm import tqdm

    from core.scoring.distributed import run_scoring
    from core.taskmap.results import save_scored

    loaded = load_task_args(a)
    if loaded.problems:
        print(loaded.summary(), file=sys.stderr)
    if not loaded.tasks:
        print("error: no valid task to score", file=sys.stderr)
        return 2
    config = score_config(a)
    out = Path(a.out) if a.out else default_out_dir(a.tasks, config.model)
    bar = tqdm(total=len(loaded.tasks), unit="task", desc="scoring", dynamic_ncols=True)

    def progress(done: int, total: int, message: str) -> None:
        bar.n = done
        bar.set_postfix_str(message[:40])
        bar.refresh()

    try:
        result = run_scoring(config, loaded.tasks, progress=progress, problems=loaded.problems, sources=a.tasks,
                             cache_dir=Path(a.cache_dir) if a.cache_dir else None)
    finally:
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
    from core.figures.map import task_map_figure
    from core.taskmap.results import load_scored

    scored = load_scored(a.scored)
    rule = rule_from_args(a)
    tasks = scored.with_rule(rule)
    model = scored.manifest.get("model", {}).get("name", "?")
    fig = task_map_figure(tasks, rule, title=f"Task map: {scored.name} ({len(tasks)} tasks, {model})")
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


def add_commands(sub) -> None:
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
    add_fields(g, ScoreConfig, ("audit",), prefix="score_")
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

    p = sub.add_parser("tasks", help="load and validate tasks, list them and everything skipped")
    add_task_args(p)
    p.set_defaults(func=cmd_tasks)
