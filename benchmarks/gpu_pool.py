"""A 756-task NIV2-shaped pool on one GPU: the vLLM backend against the torch backend.

    TASKMAP_EXTRAS=vllm ./scripts/setup        # once, on the GPU machine: .venv-vllm with the vllm wheel
    python -m benchmarks.gpu_pool [--tasks 756] [--n 10] [--k 10] [--backends vllm torch] [--json FILE]

The pool: the tasks of ../shared/data/niv2 (train_pool and eval), cycled to `--tasks` with
distinct ids (`<id>__c<copy>`), so no task is a cache hit (instances and perturbations are
seeded by the task id, so copies are scored on other instances and prompts too). Settings: the
default model (SmolLM2-135M-Instruct), n = k = 10, `--dtype auto` (bf16 on GPUs), one GPU, a
fresh cache per backend. Start-up (weights, vLLM worker with its CUDA graphs) is timed apart
from scoring. The goal: the whole pool in under 60 s with vLLM.

Each backend runs alone (torch first, its memory freed before vLLM's worker starts; vLLM's KV
cache is TASKMAP_VLLM_KV_GIB GiB, 16 by default here). Prints a table and writes JSON
(benchmarks/results/gpu_pool.json). Fails at once, with a message, where there is no CUDA GPU
or no vLLM.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.engine_speed import spearman

SHARED_NIV2 = Path(__file__).resolve().parents[2] / "shared" / "data" / "niv2"
RESULTS = Path(__file__).resolve().parent / "results"


def pool_of(size: int, root: Path):
    """`size` tasks: the NIV2 tasks under root cycled, each copy with its own id."""
    from core.data.loaders import load_tasks

    base = [t for part in ("train_pool", "eval") if (root / part).is_dir() for t in load_tasks(str(root / part)).tasks]
    if not base:
        raise SystemExit(f"gpu_pool: no NIV2 tasks under {root} (the shared data beside the checkout)")
    return [dataclasses.replace(base[i % len(base)], id=f"{base[i % len(base)].id}__c{i // len(base)}")
            for i in range(size)]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=756)
    parser.add_argument("--niv2", default=str(SHARED_NIV2))
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--model", default="default")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--backends", nargs="+", default=["torch", "vllm"], choices=["torch", "vllm"])
    parser.add_argument("--json", default=str(RESULTS / "gpu_pool.json"))
    args = parser.parse_args(argv)

    import torch

    if not torch.cuda.is_available():
        raise SystemExit("gpu_pool: no CUDA GPU visible to torch (torch " + torch.__version__ + "); this benchmark "
                         "needs one GPU (and, for --backend vllm, the vllm wheel: TASKMAP_EXTRAS=vllm ./scripts/setup)")
    if "vllm" in args.backends:
        from core.scoring.backends import vllm_backend

        problem = vllm_backend.missing()
        if problem:
            raise SystemExit(f"gpu_pool: {problem}")
    os.environ.setdefault("TASKMAP_VLLM_KV_GIB", "16")

    from core.config import ScoreConfig
    from core.scoring.engine import Engine

    tasks = pool_of(args.tasks, Path(args.niv2))
    result = {"tasks": len(tasks), "n": args.n, "k": args.k, "model": args.model, "dtype": args.dtype,
              "gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "host": platform.node(),
              "runs": {}}
    print(f"{len(tasks)} tasks (NIV2 cycled), n = {args.n}, k = {args.k}, {result['gpu']}", flush=True)
    outputs = {}
    for backend in args.backends:
        config = ScoreConfig(model=args.model, n_instances=args.n, n_perturbations=args.k, dtype=args.dtype,
                             device="cuda", backend=backend)
        t0 = time.perf_counter()
        engine = Engine(config, cache_dir=Path(tempfile.mkdtemp(prefix=f"taskmap-gpu-{backend}-")))
        try:
            _ = engine.scorer  # weights on the GPU / the vLLM worker started (and warmed up)
            start_s = time.perf_counter() - t0
            print(f"{backend}: ready in {start_s:.1f} s ({engine.loaded.precision}, {engine.backend.key})", flush=True)
            t0 = time.perf_counter()
            scored = engine.score(tasks)
            torch.cuda.synchronize()
            seconds = time.perf_counter() - t0
        finally:
            engine.close()
            if hasattr(engine, "loaded") and engine.loaded._model is not None:
                engine.loaded._model = None
            torch.cuda.empty_cache()
        outputs[backend] = scored
        result["runs"][backend] = {"start_s": round(start_s, 1), "score_s": round(seconds, 1),
                                   "tasks_per_s": round(len(tasks) / seconds, 2), "precision": engine.loaded.precision,
                                   "key": engine.backend.key, "sequences": len(scored.sequences)}
        print(f"{backend}: {len(tasks)} tasks in {seconds:.1f} s", flush=True)
    if len(outputs) == 2:
        keys = ["task_id", "instance_id", "perturbation"]
        a = outputs["torch"].sequences.sort_values(keys).reset_index(drop=True)
        b = outputs["vllm"].sequences.sort_values(keys).reset_index(drop=True)
        ta = outputs["torch"].tasks.set_index("task_id")
        tb = outputs["vllm"].tasks.set_index("task_id").loc[ta.index]
        result["agreement"] = {"same_prediction": round(float((a["prediction"] == b["prediction"])[a.perturbation == 0]
                                                              .mean()), 4),
                               "pu_spearman": round(spearman(ta["pu"], tb["pu"]), 4),
                               "max_abs_dPU": float((ta["pu"] - tb["pu"]).abs().max())}
        result["speedup_vllm_vs_torch"] = round(result["runs"]["torch"]["score_s"] / result["runs"]["vllm"]["score_s"], 2)

    print(f"\n{'backend':<8} {'start s':>8} {'score s':>8} {'tasks/s':>8}  goal: the pool in < 60 s with vLLM")
    for backend, run in result["runs"].items():
        print(f"{backend:<8} {run['start_s']:>8.1f} {run['score_s']:>8.1f} {run['tasks_per_s']:>8.2f}"
              + ("  " + ("met" if run["score_s"] < 60 else "not met") if backend == "vllm" else ""))
    if "agreement" in result:
        print(f"vLLM {result['speedup_vllm_vs_torch']}x torch; agreement {result['agreement']}")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
