"""The findings experiment, run: one task map, then a model per (subset, seed), each evaluated.

From one task map (the pool scored with the base model), train the base model on equal-size
subsets — the ambiguous, easy and difficult regions and random tasks — over several seeds,
evaluate each on held-out tasks (and the untrained base model), and keep every held-out task's
score: the statistics (core.loop.findings.analysis) rest on the (task x seed) grid, not on one
mean per run. A region larger than the subset size is sampled with the seed, so each subset's
spread covers both which tasks and how training went, as the random subset's does.

Files, in the run directory's findings/:
  taskmap.parquet   the pool scored with the base model, regions assigned
  heldout.json      the held-out task ids and how they were chosen
  jobs/<name>.parquet  per held-out task scores of one finished job ("base", "<subset>-s<seed>");
                    a resumed run skips finished jobs, so trained models need not be kept
  results.parquet   one row per job: subset, seed, tasks trained on, summary metrics
  per_task.parquet  one row per (job, held-out task): subset, seed, task_id, kind, category, scores
  report.md / report.html / figures/*.png / analysis.json   (core.loop.findings.report)
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from core.config import FindingsConfig, RegionRule, to_dict
from core.data.tasks import Task
from core.io import atomic_write_json
from core.loop.policies import SelectionRequest, select
from core.loop.rounds import evaluate_cached, load_task_set, resolve_model_dir, score_pool, train_cached
from core.loop.runs import Cancelled, RunDir

SUMMARY_METRICS = ("rougeL", "rougeL_classification", "rougeL_generation", "exact_match")


def subset_tasks(scores: pd.DataFrame, subset: str, size: int, seed: int, rule: RegionRule) -> list[str]:
    if subset == "random":
        return select(scores, SelectionRequest("random", size, seed=seed, quota="none")).task_ids
    region = scores[scores["region"] == subset]
    if len(region) <= size:
        return list(region["task_id"])
    rng = np.random.default_rng([seed, len(subset)])
    return sorted(region["task_id"].iloc[rng.choice(len(region), size, replace=False)])


def split_holdout(tasks: Sequence[Task], frac: float, seed: int) -> tuple[list[Task], list[Task]]:
    """(pool, held-out): `frac` of each kind's tasks held out, drawn with `seed` (at least one
    task of a kind that has two or more), the rest kept in their original order."""
    rng = np.random.default_rng([seed, 7919])
    held: set[str] = set()
    for kind in sorted({t.kind for t in tasks}):
        ids = sorted(t.id for t in tasks if t.kind == kind)
        n = int(round(frac * len(ids)))
        if frac > 0 and len(ids) >= 2:
            n = min(max(n, 1), len(ids) - 1)
        held.update(rng.choice(ids, n, replace=False).tolist() if n else [])
    return [t for t in tasks if t.id not in held], [t for t in tasks if t.id in held]


def category_of(task: Task) -> str:
    return task.categories[0] if task.categories else "(none)"


def job_name(subset: str, seed: int | None) -> str:
    return "base" if subset == "base" else f"{subset}-s{seed}"


class FindingsRunner:
    def __init__(self, run: RunDir, cfg: FindingsConfig, *, status, log, should_stop: Callable[[], bool],
                 attempt: int = 1):
        self.run, self.cfg, self.status, self.log, self.should_stop = run, cfg, status, log, should_stop
        self.attempt = attempt
        self.rule = cfg.rule
        self.out = run.path / "findings"

    # --- tasks -----------------------------------------------------------------------------
    def tasks(self) -> tuple[list[Task], list[Task], dict]:
        """(pool, held-out, how the held-out tasks were chosen)."""
        cfg = self.cfg
        pool = load_task_set(cfg.pool, cfg.pool_split, "pool", self.log)
        if cfg.eval_tasks:
            held_out = load_task_set(cfg.eval_tasks, cfg.eval_split, "eval", self.log)
            how = {"method": "given", "sources": list(cfg.eval_tasks), "split": cfg.eval_split}
            overlap = {t.id for t in pool} & {t.id for t in held_out}
            if overlap and len(overlap) == len(pool):
                how = {"method": "pool", "note": "the held-out tasks are the pool itself: these are not unseen tasks"}
            elif overlap:
                pool = [t for t in pool if t.id not in overlap]
                self.log(f"{len(overlap)} held-out task(s) also in the pool were removed from the pool")
                how["removed_from_pool"] = sorted(overlap)
        elif cfg.holdout_frac > 0:
            pool, held_out = split_holdout(pool, cfg.holdout_frac, cfg.holdout_seed)
            how = {"method": "holdout", "frac": cfg.holdout_frac, "seed": cfg.holdout_seed}
        else:
            held_out = pool
            how = {"method": "pool", "note": "evaluated on the pool itself: these are not unseen tasks"}
        if not pool or not held_out:
            raise ValueError(f"the experiment needs pool and held-out tasks, got {len(pool)} and {len(held_out)}")
        return pool, held_out, how

    # --- jobs ------------------------------------------------------------------------------
    def _job_path(self, name: str) -> Path:
        return self.out / "jobs" / f"{name}.parquet"

    def _finished_job(self, name: str) -> pd.DataFrame | None:
        path = self._job_path(name)
        return pd.read_parquet(path) if path.is_file() else None

    def _save_job(self, name: str, per_task: pd.DataFrame, held_out: Sequence[Task]) -> pd.DataFrame:
        by_id = {t.id: t for t in held_out}
        frame = per_task[["task_id", "rougeL", "exact_match", "n_instances"]].copy()
        frame.insert(1, "kind", [by_id[t].kind for t in frame["task_id"]])
        frame.insert(2, "category", [category_of(by_id[t]) for t in frame["task_id"]])
        path = self._job_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        frame.to_parquet(tmp, index=False)
        tmp.replace(path)
        return frame

    def run_all(self) -> pd.DataFrame:
        cfg, started = self.cfg, time.time()
        self.out.mkdir(parents=True, exist_ok=True)
        pool, held_out, how = self.tasks()
        atomic_write_json(self.out / "heldout.json", {"task_ids": [t.id for t in held_out], **how})
        by_id = {t.id: t for t in pool}
        base = resolve_model_dir(cfg.model)
        self.log(f"pool {len(pool)} tasks, held-out {len(held_out)} tasks ({how['method']})")

        self.status(stage="score", round=None, progress={"done": 0, "total": len(pool), "unit": "tasks"})

        def score_progress(done, total, message):
            self.status(progress={"done": done, "total": total, "unit": "tasks"})
            if self.should_stop():
                raise Cancelled()

        # scored under the model's own name ("default" for the built-in model), so the cache that
        # `taskmap score` and ./scripts/run filled serves this map too
        scores = score_pool(cfg.model, pool, cfg.score, self.rule, score_progress)
        scores.to_parquet(self.out / "taskmap.parquet", index=False)
        sizes = {r: int((scores["region"] == r).sum()) for r in ("ambiguous", "easy", "difficult")}
        regions_used = [s for s in cfg.subsets if s in sizes]
        size = cfg.subset_size or max(1, min(sizes[s] for s in regions_used) if regions_used else len(pool) // 5)
        self.log(f"task map: {sizes}; subset size {size}")

        jobs = [(seed, subset) for seed in cfg.seeds for subset in cfg.subsets]
        total = len(jobs) + 1
        rows, per_task = [], []

        def record(subset, seed, ids, frame):
            summary = _summary(frame)
            rows.append({"subset": subset, "seed": -1 if seed is None else seed, "n_tasks": len(ids),
                         "task_ids": list(ids), **summary})
            per_task.append(frame.assign(subset=subset, seed=-1 if seed is None else seed))
            return summary

        self.status(stage="eval base", progress={"done": 0, "total": total, "unit": "models"})
        frame = self._finished_job("base")
        if frame is None:
            summary, table, _ = evaluate_cached(base, held_out, cfg.eval, cfg.score.dtype, should_stop=self.should_stop)
            frame = self._save_job("base", table, held_out)
            self.run.append_metric("eval", subset="base", seed=-1, round=-1, n_tasks=0, attempt=self.attempt,
                                   **_summary(frame))
        record("base", None, [], frame)

        try:
            for i, (seed, subset) in enumerate(jobs):
                if self.should_stop():
                    raise Cancelled()
                ids = subset_tasks(scores, subset, size, seed, self.rule)
                name = job_name(subset, seed)
                frame = self._finished_job(name)
                if frame is not None:
                    record(subset, seed, ids, frame)
                    continue
                self.status(stage=f"train {subset} seed {seed}", round=i,
                            progress={"done": i + 1, "total": total, "unit": "models"})
                train_cfg = type(cfg.train)(**{**cfg.train.__dict__, "seed": seed})
                fields = {"subset": subset, "seed": seed, "round": i, "attempt": self.attempt}

                def on_log(rec, fields=fields):
                    if not rec.pop("forwarded", False):  # a multi-process job logs its own records
                        self.run.append_metric("train", **fields, **rec)

                checkpoint = self.run.path / "checkpoints" / name
                job = {"sources": list(cfg.pool), "split": cfg.pool_split, "run_dir": str(self.run.path),
                       "metric_fields": fields}
                train_cached(base, [by_id[t] for t in ids], train_cfg, checkpoint, on_log=on_log,
                             should_stop=self.should_stop, log=self.log, job=job)
                self.status(stage=f"eval {subset} seed {seed}")
                _, table, _ = evaluate_cached(checkpoint, held_out, cfg.eval, cfg.score.dtype,
                                              should_stop=self.should_stop)
                frame = self._save_job(name, table, held_out)
                summary = record(subset, seed, ids, frame)
                self.run.append_metric("eval", subset=subset, seed=seed, round=i, n_tasks=len(ids), attempt=self.attempt,
                                       **summary)
                self.log(f"{subset} seed {seed}: ROUGE-L {summary['rougeL']:.2f}")
                if cfg.keep_checkpoints == "none":
                    shutil.rmtree(checkpoint, ignore_errors=True)
        except Cancelled:
            if len(rows) > 1:  # a cancelled run still reports what it finished
                self._report(rows, per_task, pool, how, size, sizes, started, scores,
                             partial=f"cancelled after {len(rows) - 1} of {len(jobs)} trained models; the statistics "
                                     "use the finished ones")
            raise
        self.status(stage="report", round=None, progress=None)  # "round" counted trainings; done now
        return self._report(rows, per_task, pool, how, size, sizes, started, scores)

    def _report(self, rows, per_task, pool, how, size, sizes, started, scores, partial: str | None = None):
        cfg = self.cfg
        results = pd.DataFrame(rows)
        results.to_parquet(self.out / "results.parquet", index=False)
        table = pd.concat(per_task, ignore_index=True)[["subset", "seed", "task_id", "kind", "category", "rougeL",
                                                        "exact_match", "n_instances"]]
        table.to_parquet(self.out / "per_task.parquet", index=False)
        seconds = time.time() - started
        self.log(f"experiment {'stopped' if partial else 'finished'} after {seconds / 60:.1f} min; writing the report")
        from core.loop.findings.report import write_report

        info = {"pool_tasks": len(pool), "heldout": how, "subset_size": size, "region_sizes": sizes,
                "seconds": seconds, "partial": partial, "config": to_dict(cfg)}
        atomic_write_json(self.out / "run_info.json", info)
        written = write_report(self.out, results, table, scores, cfg, info, log=self.log)
        self.log("report: " + ", ".join(str(p.name) for p in written))
        return results


def _summary(frame: pd.DataFrame) -> dict[str, float]:
    """Task-level means (every held-out task weighs the same, as in NIV2), overall and per kind."""
    out = {"rougeL": float(frame["rougeL"].mean()), "exact_match": float(frame["exact_match"].mean()),
           "n_eval_tasks": int(len(frame))}
    for kind in ("classification", "generation"):
        part = frame[frame["kind"] == kind]
        out[f"rougeL_{kind}"] = float(part["rougeL"].mean()) if len(part) else float("nan")
    return out

