"""Engine vs plain implementation, same tasks and settings, in one run.

    python -m benchmarks.engine_speed [--tasks DIR] [--limit N] [--n 10] [--k 10] [--model default]

Times the engine (batched, shared-prefix KV reuse, bf16 where supported, answer-only LM head,
P_0 from the decode) against benchmarks.plain (batch 1, fp32, one full forward per sequence,
no reuse) on the same tasks, and reports the throughput ratio and how well the two agree: the
Spearman rank correlation of PU and PP across tasks, and how often the greedy predictions match.
Both start from an empty cache; model loading is timed separately.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from benchmarks.plain import plain_score_task
from core.config import ScoreConfig
from core.engine import Engine
from core.loaders import load_tasks
from core.uncertainty import task_scores

SHARED_POOL = Path(__file__).resolve().parents[2] / "shared" / "data" / "niv2" / "train_pool"


def spearman(a: pd.Series, b: pd.Series) -> float:
    return float(a.rank().corr(b.rank()))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default=str(SHARED_POOL))
    parser.add_argument("--limit", type=int, default=None, help="first N tasks only")
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--model", default="default")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtypes", nargs="+", default=["auto", "mixed"],
                        help="engine precisions to time (auto = bf16 where supported; mixed = fp32 decode, bf16 scoring)")
    parser.add_argument("--skip-plain", action="store_true", help="time the engine only (e.g. large pools on a GPU)")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)

    tasks = load_tasks(args.tasks).tasks[: args.limit]
    engines = {}
    result = {"tasks": len(tasks), "n": args.n, "k": args.k, "cpu": platform.processor() or platform.machine(),
              "threads": torch.get_num_threads(), "torch": torch.__version__}
    for dtype in args.dtypes:
        cache = Path(tempfile.mkdtemp(prefix="taskmap-bench-"))
        config = ScoreConfig(model=args.model, n_instances=args.n, n_perturbations=args.k, device=args.device,
                             dtype=dtype)
        t0 = time.perf_counter()
        engine = Engine(config, cache_dir=cache)
        engine.scorer  # load the weights now, so loading is not counted as scoring
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        fast = engine.score(tasks)
        engine_s = time.perf_counter() - t0
        n_seq = len(fast.sequences)
        name = engine.loaded.precision
        engines[name] = (fast, engine_s)
        result.update({"model": engine.loaded.name, "device": str(engine.loaded.device), "sequences": n_seq,
                       f"engine[{name}]_s": round(engine_s, 1), f"engine[{name}]_seq_per_s": round(n_seq / engine_s, 1),
                       f"engine[{name}]_load_s": round(load_s, 1)})
        print(f"engine {name}: {len(tasks)} tasks, {n_seq} sequences in {engine_s:.1f} s "
              f"({n_seq / engine_s:.1f} seq/s)", flush=True)
        del engine

    if not args.skip_plain:
        plain_config = ScoreConfig(model=args.model, dtype="float32", device=args.device)
        reference = Engine(plain_config, cache_dir=Path(tempfile.mkdtemp(prefix="taskmap-bench-")))  # only for its fp32 model and prompt encoder
        model = reference.loaded.model
        stops = reference.encoder.stop_ids(model.generation_config.eos_token_id)
        pad = reference.loaded.tokenizer.pad_token_id
        rows = []
        t0 = time.perf_counter()
        for i, task in enumerate(tasks, 1):
            rows += plain_score_task(model, reference.encoder, task, n=args.n, k=args.k, p=config.drop_prob,
                                     mode=config.mode, seed=config.seed, max_new_tokens=config.max_new_tokens,
                                     stop_ids=stops, pad_id=pad)
            print(f"  plain {i}/{len(tasks)} {time.perf_counter() - t0:.0f} s", flush=True)
        plain_s = time.perf_counter() - t0
        plain_seq = pd.DataFrame(rows)
        slow = task_scores(plain_seq).set_index("task_id")
        plain0 = plain_seq[plain_seq.perturbation == 0].set_index(["task_id", "instance_id"])
        result.update({"plain_s": round(plain_s, 1), "plain_seq_per_s": round(len(plain_seq) / plain_s, 2)})
        for name, (fast, engine_s) in engines.items():
            quick = fast.tasks.set_index("task_id")
            joined = quick[["pu", "pp"]].join(slow[["pu", "pp"]].add_suffix("_plain"))
            fast0 = fast.sequences[fast.sequences.perturbation == 0].set_index(["task_id", "instance_id"])
            same = (fast0["prediction"] == plain0["prediction"].reindex(fast0.index)).mean()
            result.update({
                f"speedup[{name}]": round(plain_s / engine_s, 2),
                f"pu_spearman[{name}]": round(spearman(joined["pu"], joined["pu_plain"]), 4),
                f"pp_spearman[{name}]": round(spearman(joined["pp"], joined["pp_plain"]), 4),
                f"pu_mean_abs_diff[{name}]": round(float((joined["pu"] - joined["pu_plain"]).abs().mean()), 5),
                f"same_prediction[{name}]": round(float(same), 3),
            })
        plain_seq.to_parquet(Path(tempfile.gettempdir()) / "taskmap-bench-plain.parquet")

    print("\n| metric | value |\n|---|---|")
    for key, value in result.items():
        print(f"| {key} | {value} |")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
