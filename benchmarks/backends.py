"""The vLLM backend against the torch backend on the CPU: same tasks, same settings, one run.

    python -m benchmarks.backends [--tasks DIR] [--packs 1] [--n 10] [--k 10] [--dtypes float32 bfloat16]
                                  [--threads 1] [--json FILE]

For each precision, two Engines on the same model with fresh caches, `--backend torch` and
`--backend vllm`, score the first `--packs` packs the engine makes of the pool (the shortest
prompts first), taking turns pack by pack with the first one rotating, so a shared machine that
speeds up or slows down affects both alike. A thin proxy around each scorer times its two
stages (greedy decoding; teacher forcing), which shows whether a per-stage mix (vLLM decoding,
torch teacher forcing) would pay. Start-up (weights / vLLM worker) is timed apart. Agreement
per precision: same greedy predictions, max |P_j difference|, PU Spearman, max |PU difference|.
One vLLM engine at a time: each precision's worker is closed before the next one starts.

Threads: both backends get `--threads` (1 by default: on a shared machine OpenMP threads that
wait on a descheduled partner make 2 threads slower than 1). Never a pass/fail: it prints what
it measured.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from benchmarks.engine_speed import SHARED_POOL, matmul_gflops, spearman
from core.config import ScoreConfig
from core.data.loaders import load_tasks
from core.scoring.engine import Engine
from core.scoring.hardware import cpu_info
from core.scoring.packs import make_packs

RESULTS = Path(__file__).resolve().parent / "results"


class Timed:
    """A scorer with its decode and teacher-forcing seconds counted."""

    def __init__(self, inner):
        self.inner = inner
        self.decode_s = self.score_s = 0.0
        self.decoded = self.scored = 0

    @property
    def p0_from_decode(self) -> bool:
        return self.inner.p0_from_decode

    def decode(self, items, max_new_tokens):
        t0 = time.perf_counter()
        out = self.inner.decode(items, max_new_tokens)
        self.decode_s += time.perf_counter() - t0
        self.decoded += len(items)
        return out

    def score(self, items):
        t0 = time.perf_counter()
        out = self.inner.score(items)
        self.score_s += time.perf_counter() - t0
        self.scored += len(items)
        return out

    def close(self):
        if hasattr(self.inner, "close"):
            self.inner.close()


def agreement(reference, other) -> dict:
    keys = ["task_id", "instance_id", "perturbation"]
    a = reference.sequences.sort_values(keys).reset_index(drop=True)
    b = other.sequences.sort_values(keys).reset_index(drop=True)
    originals = a["perturbation"] == 0
    same = (a["prediction"] == b["prediction"])
    ta = reference.tasks.set_index("task_id")
    tb = other.tasks.set_index("task_id").loc[ta.index]
    return {"same_prediction": round(float(same[originals].mean()), 4),
            "max_abs_dP_same_prediction": float((a["prob"] - b["prob"])[same].abs().max()),
            "pu_spearman": round(spearman(ta["pu"], tb["pu"]), 4),
            "max_abs_dPU": float((ta["pu"] - tb["pu"]).abs().max()),
            "max_abs_dPP": float((ta["pp"] - tb["pp"]).abs().max())}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default=str(SHARED_POOL))
    parser.add_argument("--packs", type=int, default=1, help="the engine's first N packs of the pool")
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--model", default="default")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None, help="write the results here (default benchmarks/results/)")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    os.environ["TASKMAP_VLLM_THREADS"] = str(args.threads)
    base = ScoreConfig(model=args.model, n_instances=args.n, n_perturbations=args.k, device="cpu")
    pool = load_tasks(args.tasks).tasks
    packs = [[pool[i] for i in pack] for pack in
             make_packs(pool, base.n_instances, base.n_examples, base.pack_instances)[: args.packs]]
    cpu = cpu_info()
    result = {"tasks": sum(len(p) for p in packs), "packs": len(packs), "n": args.n, "k": args.k,
              "model": args.model, "cpu": cpu.model, "cpu_kind": cpu.kind, "threads": args.threads,
              "machine": platform.machine(), "load_before": os.getloadavg(),
              "fp32_gflops_before": matmul_gflops(torch.float32), "bf16_gflops_before": matmul_gflops(torch.bfloat16),
              "runs": {}}
    print(f"{result['tasks']} tasks in {len(packs)} pack(s), n = {args.n}, k = {args.k}, {args.threads} thread(s), "
          f"{cpu.model}; load {result['load_before'][0]:.1f}", flush=True)

    for dtype in args.dtypes:
        engines: dict[str, Engine] = {}
        timers: dict[str, Timed] = {}
        runs: dict[str, dict] = {}
        try:
            for backend in ("torch", "vllm"):
                config = dataclasses.replace(base, dtype=dtype, backend=backend)
                t0 = time.perf_counter()
                engine = Engine(config, cache_dir=Path(tempfile.mkdtemp(prefix="taskmap-bench-")))
                timers[backend] = Timed(engine.scorer)  # weights loaded / worker started here
                engine._scorer = timers[backend]
                engines[backend] = engine
                runs[backend] = {"start_s": round(time.perf_counter() - t0, 1), "packs_s": [], "results": []}
                print(f"{dtype} {backend}: ready in {runs[backend]['start_s']} s "
                      f"({engine.loaded.precision}, key {engine.backend.key})", flush=True)
            for index, pack in enumerate(packs):
                order = ["torch", "vllm"] if index % 2 == 0 else ["vllm", "torch"]
                for backend in order:
                    t0 = time.perf_counter()
                    runs[backend]["results"].append(engines[backend].score(pack))
                    runs[backend]["packs_s"].append(round(time.perf_counter() - t0, 1))
                    print(f"  pack {index + 1} {backend}: {runs[backend]['packs_s'][-1]} s "
                          f"(load {os.getloadavg()[0]:.1f})", flush=True)
            if "vllm" in engines and hasattr(timers["vllm"].inner, "stats"):
                runs["vllm"]["worker_stats"] = timers["vllm"].inner.stats()
        finally:
            for engine in engines.values():
                engine.close()  # the vLLM worker stops before the next precision starts one
        merged = {}
        for backend, run in runs.items():
            merged[backend] = type(run["results"][0])(
                pd.concat([r.tasks for r in run["results"]], ignore_index=True),
                pd.concat([r.sequences for r in run["results"]], ignore_index=True), {})
            timer = timers[backend]
            run.update(total_s=round(sum(run["packs_s"]), 1), decode_s=round(timer.decode_s, 1),
                       teacher_forcing_s=round(timer.score_s, 1), decoded=timer.decoded, scored=timer.scored)
            del run["results"]
        t, v = runs["torch"], runs["vllm"]
        mixed = v["decode_s"] + t["teacher_forcing_s"] + (t["total_s"] - t["decode_s"] - t["teacher_forcing_s"])
        runs["ratios"] = {"vllm_vs_torch_total": round(t["total_s"] / v["total_s"], 3),
                          "decode": round(t["decode_s"] / max(v["decode_s"], 1e-9), 3),
                          "teacher_forcing": round(t["teacher_forcing_s"] / max(v["teacher_forcing_s"], 1e-9), 3),
                          "projected_vllm_decode_torch_tf": round(t["total_s"] / mixed, 3)}
        runs["agreement_vllm_vs_torch"] = agreement(merged["torch"], merged["vllm"])
        result["runs"][dtype] = runs
        print(json.dumps({dtype: {k: runs[k] for k in ("ratios", "agreement_vllm_vs_torch")}}, indent=1), flush=True)

    result["load_after"] = os.getloadavg()
    result["fp32_gflops_after"] = matmul_gflops(torch.float32)
    result["bf16_gflops_after"] = matmul_gflops(torch.bfloat16)
    print_table(result)
    out = Path(args.json) if args.json else RESULTS / f"backends_{Path(args.tasks).name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return result


def print_table(result: dict) -> None:
    print(f"\n{result['tasks']} tasks, n = k = {result['n']}/{result['k']}, {result['threads']} thread(s), "
          f"{result['cpu']}; load {result['load_before'][0]:.1f} -> {result['load_after'][0]:.1f}")
    print(f"{'run':<16} {'start s':>8} {'total s':>8} {'decode s':>9} {'TF s':>8} {'vs torch':>9} "
          f"{'same pred':>9} {'PU rho':>7} {'max dPU':>8}")
    for dtype, runs in result["runs"].items():
        agree = runs["agreement_vllm_vs_torch"]
        for backend in ("torch", "vllm"):
            r = runs[backend]
            ratio = runs["ratios"]["vllm_vs_torch_total"] if backend == "vllm" else 1.0
            extra = (f"{agree['same_prediction']:>9.3f} {agree['pu_spearman']:>7.3f} {agree['max_abs_dPU']:>8.1e}"
                     if backend == "vllm" else "")
            print(f"{backend + ' ' + dtype:<16} {r['start_s']:>8.1f} {r['total_s']:>8.1f} {r['decode_s']:>9.1f} "
                  f"{r['teacher_forcing_s']:>8.1f} {ratio:>8.2f}x {extra}")
        ratios = runs["ratios"]
        print(f"  {dtype}: vLLM decode {ratios['decode']:.2f}x, teacher forcing {ratios['teacher_forcing']:.2f}x "
              f"torch's; vLLM decoding + torch teacher forcing would be {ratios['projected_vllm_decode_torch_tf']:.2f}x")


if __name__ == "__main__":
    main()
