"""Engine vs plain implementation, same tasks and settings, in one run.

    python -m benchmarks.engine_speed [--tasks DIR] [--limit N] [--n 10] [--k 10] [--model default]

Times the engine (packed bf16 forward, shared-prefix KV reuse, answer-only LM head, P_0 from the
decode) against benchmarks.plain (batch 1, fp32, one full forward per sequence, no reuse) on the
same tasks, and reports the throughput ratio and how well the two agree: the Spearman rank
correlation of PU and PP across tasks, and how often the greedy predictions match.

The methods take turns pack by pack (the engine's own packs; the first method of each pack
rotates), so a shared machine that speeds up or slows down during the hour-long run affects every
method alike instead of whichever happened to run then. Each engine starts from an empty cache
and ends with a rerun of the whole pool, which must be a cache read. Model loading is timed apart.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Callable

import pandas as pd
import torch

from benchmarks.plain import plain_score_task
from core.config import ScoreConfig
from core.data.loaders import load_tasks
from core.scoring.engine import Engine
from core.scoring.hardware import cpu_info
from core.scoring.packs import make_packs
from core.scoring.uncertainty import task_scores

SHARED_POOL = Path(__file__).resolve().parents[2] / "shared" / "data" / "niv2" / "train_pool"


def spearman(a: pd.Series, b: pd.Series) -> float:
    return float(a.rank().corr(b.rank()))


def matmul_gflops(dtype: torch.dtype, size: int = 1024, seconds: float = 1.0) -> float:
    """This machine's matrix-product speed right now: what the engine's run time scales with."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b
    count, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        count += 1
    return round(2 * size**3 * count / (time.perf_counter() - t0) / 1e9, 1)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default=str(SHARED_POOL))
    parser.add_argument("--limit", type=int, default=None, help="first N tasks only")
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--model", default="default")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtypes", nargs="+", default=["auto", "mixed"],
                        help="engine precisions to time (see README: Precision; `taskmap doctor` says what auto and "
                             "mixed are on this machine); the same precision asked twice is timed once")
    parser.add_argument("--skip-plain", action="store_true", help="time the engine only (e.g. large pools on a GPU)")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)

    tasks = load_tasks(args.tasks).tasks[: args.limit]
    cpu = cpu_info()
    result = {"tasks": len(tasks), "n": args.n, "k": args.k, "cpu": cpu.model, "cpu_kind": cpu.kind,
              "cpu_flags": " ".join(sorted(cpu.usable)), "kernel_caps": " ".join(f"{k}={v}" for k, v in cpu.caps),
              "threads": torch.get_num_threads(), "torch": torch.__version__,
              "bf16_gflops_before": matmul_gflops(torch.bfloat16), "fp32_gflops_before": matmul_gflops(torch.float32)}

    engines: dict[str, Engine] = {}
    for dtype in args.dtypes:
        config = ScoreConfig(model=args.model, n_instances=args.n, n_perturbations=args.k, device=args.device,
                             dtype=dtype)
        t0 = time.perf_counter()
        engine = Engine(config, cache_dir=Path(tempfile.mkdtemp(prefix="taskmap-bench-")))
        if engine.loaded.precision in engines:
            continue
        _ = engine.scorer  # load the weights now, so loading is not counted as scoring
        engines[engine.loaded.precision] = engine
        result[f"engine[{engine.loaded.precision}]_load_s"] = round(time.perf_counter() - t0, 1)
    config = next(iter(engines.values())).config
    result.update({"model": next(iter(engines.values())).loaded.name,
                   "device": str(next(iter(engines.values())).loaded.device)})

    methods: dict[str, Callable[[list], None]] = {
        name: (lambda batch, e=engine: e.score(batch)) for name, engine in engines.items()}
    plain_rows: list[dict] = []
    if not args.skip_plain:
        # an fp32 engine only for its model and prompt encoder (the same token ids the engine sees)
        reference = Engine(ScoreConfig(model=args.model, dtype="float32", device=args.device),
                           cache_dir=Path(tempfile.mkdtemp(prefix="taskmap-bench-")))
        model = reference.loaded.model
        stops = reference.encoder.stop_ids(model.generation_config.eos_token_id)
        pad = reference.loaded.tokenizer.pad_token_id

        def plain(batch: list) -> None:
            for task in batch:
                plain_rows.extend(plain_score_task(
                    model, reference.encoder, task, n=args.n, k=args.k, p=config.drop_prob, mode=config.mode,
                    seed=config.seed, max_new_tokens=config.max_new_tokens, stop_ids=stops, pad_id=pad))
        methods["plain"] = plain

    names = list(methods)
    seconds = {name: 0.0 for name in names}
    packs = make_packs(tasks, config.n_instances, config.n_examples, config.pack_instances)
    print(f"{len(tasks)} tasks in {len(packs)} packs; methods: {', '.join(names)}", flush=True)
    for b, pack in enumerate(packs):
        batch = [tasks[i] for i in pack]
        line = []
        for name in names[b % len(names):] + names[: b % len(names)]:
            t0 = time.perf_counter()
            methods[name](batch)
            spent = time.perf_counter() - t0
            seconds[name] += spent
            line.append(f"{name} {spent:.0f} s")
        print(f"  pack {b + 1}/{len(packs)} ({len(batch)} tasks): " + ", ".join(line), flush=True)
    result.update({"bf16_gflops_after": matmul_gflops(torch.bfloat16),
                   "fp32_gflops_after": matmul_gflops(torch.float32)})

    scored = {}
    for name, engine in engines.items():
        t0 = time.perf_counter()
        scored[name] = engine.score(tasks)  # every task is cached by now
        rerun_s = time.perf_counter() - t0
        fresh = scored[name].manifest["n_computed"]
        n_seq = len(scored[name].sequences)
        result.update({"sequences": n_seq, f"engine[{name}]_s": round(seconds[name], 1),
                       f"engine[{name}]_seq_per_s": round(n_seq / seconds[name], 1),
                       f"engine[{name}]_rerun_s": round(rerun_s, 2)})
        if fresh:
            raise RuntimeError(f"the rerun of engine[{name}] computed {fresh} tasks: it should be a cache read")
        print(f"engine {name}: {n_seq} sequences in {seconds[name]:.1f} s; rerun (cache read) {rerun_s:.2f} s")

    if plain_rows:
        plain_seq = pd.DataFrame(plain_rows)
        slow = task_scores(plain_seq).set_index("task_id")
        plain0 = plain_seq[plain_seq.perturbation == 0].set_index(["task_id", "instance_id"])
        result.update({"plain_s": round(seconds["plain"], 1),
                       "plain_seq_per_s": round(len(plain_seq) / seconds["plain"], 2)})
        for name, fast in scored.items():
            joined = fast.tasks.set_index("task_id")[["pu", "pp"]].join(slow[["pu", "pp"]].add_suffix("_plain"))
            fast0 = fast.sequences[fast.sequences.perturbation == 0].set_index(["task_id", "instance_id"])
            same = (fast0["prediction"] == plain0["prediction"].reindex(fast0.index)).mean()
            result.update({
                f"speedup[{name}]": round(seconds["plain"] / seconds[name], 2),
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
