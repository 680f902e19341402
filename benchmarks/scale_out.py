"""Scoring on Ray actors: 1 actor x T threads against N actors x T threads, same tasks, one run.

    python -m benchmarks.scale_out [--tasks DIR] [--workers 2] [--threads 1] [--pack-instances 32]

Each configuration scores the pool from an empty cache (cluster start and model loading timed
apart from scoring); their tables must be identical (same packs, same batches), which the script
checks. The ratio of the scoring times is the scale-out. Packs are the unit of work, so a pool
with few packs cannot keep N actors busy: the default pack size here gives several packs per
actor (`--pack-instances`, an execution setting: it changes batches, not what is computed).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd

from core.config import ScoreConfig
from core.data.loaders import load_tasks
from core.scoring.distributed import RayPool
from core.scoring.engine import Engine
from core.scoring.hardware import cpu_info

SHARED_POOL = Path(__file__).resolve().parents[2] / "shared" / "data" / "niv2" / "train_pool"


def timed_run(config: ScoreConfig, tasks, workers: int, threads: int) -> tuple[dict, pd.DataFrame]:
    cache = Path(tempfile.mkdtemp(prefix="taskmap-scale-"))
    engine = Engine(config, cache_dir=cache)
    with RayPool(config, engine.run_key, cache_dir=cache, workers=workers, threads=threads) as pool:
        started = time.perf_counter()
        pool.start()  # cluster and models first, so they are not counted as scoring
        ready = time.perf_counter()
        result = engine.score(tasks, runner=pool)
        done = time.perf_counter()
    return {"workers": workers, "threads": threads, "start_s": round(ready - started, 1),
            "score_s": round(done - ready, 1), "computed": result.manifest["n_computed"]}, result.sequences


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default=str(SHARED_POOL))
    parser.add_argument("--limit", type=int, default=None, help="first N tasks only")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per actor")
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--pack-instances", type=int, default=32)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)

    tasks = load_tasks(args.tasks).tasks[: args.limit]
    config = ScoreConfig(n_instances=args.n, n_perturbations=args.k, dtype=args.dtype,
                         pack_instances=args.pack_instances)
    cpu = cpu_info()
    one, one_rows = timed_run(config, tasks, 1, args.threads)
    many, many_rows = timed_run(config, tasks, args.workers, args.threads)
    identical = one_rows.drop(columns="task_key").equals(many_rows.drop(columns="task_key"))
    result = {"cpu": cpu.model, "cpu_kind": cpu.kind, "tasks": len(tasks), "sequences": len(one_rows),
              "pack_instances": args.pack_instances, "dtype": Engine(config).loaded.precision,
              "1_actor": one, f"{args.workers}_actors": many,
              "scale_out": round(one["score_s"] / many["score_s"], 2), "tables_identical": identical}
    print(f"| actors x threads | start (s) | scoring (s) |\n|---|---:|---:|\n"
          f"| 1 x {args.threads} | {one['start_s']} | {one['score_s']} |\n"
          f"| {args.workers} x {args.threads} | {many['start_s']} | {many['score_s']} |")
    print(f"scale-out {result['scale_out']}x; tables identical: {identical}; {cpu.model} ({cpu.kind})")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
