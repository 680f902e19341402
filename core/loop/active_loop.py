"""The active instruction tuning loop (METHOD.md §5), one policy and one seed per run directory.

    round 0:   score the pool with the base model (the first map) -> the random initial set
               (or the given task ids) -> train -> evaluate
    round r:   score the pool with round r-1's model -> select per_round new tasks with the
               policy -> train (from the base model on everything selected so far, or on from the
               previous checkpoint) -> evaluate

Every stage of every round is recorded in rounds/<r>/stages.json once finished, with its
outputs beside it, so a resumed run starts at the first unfinished stage and redoes nothing
else. Everything is seeded; a resumed run ends with the metrics an uninterrupted one would have.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import pandas as pd

from core.config import LoopConfig
from core.io import atomic_write_json
from core.loop.policies import SelectionRequest, select
from core.loop.rounds import evaluate_cached, load_task_set, resolve_model_dir, score_pool, train_cached
from core.loop.runs import Cancelled, RunDir

Status = Callable[..., None]


class LoopRunner:
    def __init__(self, run: RunDir, cfg: LoopConfig, *, status: Status, log: Callable[[str], None],
                 should_stop: Callable[[], bool], attempt: int = 1):
        self.run, self.cfg, self.status, self.log = run, cfg, status, log
        self.should_stop, self.attempt = should_stop, attempt
        self.rule = cfg.rule

    def _check(self) -> None:
        if self.should_stop():
            raise Cancelled()

    def _metric(self, event: str, **fields) -> None:
        self.run.append_metric(event, attempt=self.attempt, **fields)

    def _stage(self, r: int, stage: str) -> bool:
        """True when the stage still has to run (and announces it)."""
        if self.run.stage_done(r, stage):
            return False
        self._check()
        self.status(round=r, stage=stage, progress=None)
        self._metric("stage", round=r, stage=stage, state="start")
        self.log(f"round {r}: {stage}")
        return True

    def _done(self, r: int, stage: str, **info) -> None:
        self.run.mark_stage(r, stage, **info)
        self._metric("stage", round=r, stage=stage, state="done")

    def checkpoint(self, r: int) -> Path:
        return self.run.round_dir(r) / "checkpoint"

    def run_all(self) -> None:
        cfg = self.cfg
        pool = load_task_set(cfg.pool, cfg.pool_split, "pool", self.log)
        held_out = load_task_set(cfg.eval_tasks or cfg.pool, cfg.eval_split, "eval", self.log)
        by_id = {t.id: t for t in pool}
        base = resolve_model_dir(cfg.model)
        selected: list[str] = []
        for r in range(cfg.rounds + 1):
            rd = self.run.round_dir(r)
            rd.mkdir(parents=True, exist_ok=True)
            start_model = base if r == 0 else self.checkpoint(r - 1)

            if self._stage(r, "score"):
                def progress(done, total, message, r=r):
                    self.status(progress={"done": done, "total": total, "unit": "tasks"})
                    self._check()
                table = score_pool(start_model, pool, cfg.score, self.rule, progress)
                table["selected_before"] = table["task_id"].isin(set(selected))
                table.to_parquet(rd / "taskmap.parquet", index=False)
                self._done(r, "score", model=str(start_model))
            scores = pd.read_parquet(rd / "taskmap.parquet")

            if self._stage(r, "select"):
                if r == 0 and cfg.initial_task_ids:
                    request = SelectionRequest("curated", len(cfg.initial_task_ids), curated=cfg.initial_task_ids)
                elif r == 0:
                    request = SelectionRequest("random", cfg.initial_tasks, seed=cfg.seed, quota=cfg.quota)
                else:
                    request = SelectionRequest(cfg.policy, cfg.per_round, seed=cfg.seed * 1000 + r, quota=cfg.quota,
                                               exclude=tuple(selected), curated=cfg.curated, rule=self.rule)
                # round 0's random set depends on the pool and the seed only, never on a model's
                # scores, so every policy of a seed starts from the same tasks
                pick_from = scores if r > 0 else scores[["task_id", "kind"]]
                choice = select(pick_from, request)
                choice.table.to_parquet(rd / "selection.parquet", index=False)
                atomic_write_json(rd / "selection.json", {"round": r, "policy": request.policy,
                                                          "task_ids": choice.task_ids, "shortfall": choice.shortfall})
                self._metric("select", round=r, policy=request.policy, task_ids=choice.task_ids)
                if choice.shortfall:
                    self.log(f"round {r}: {choice.shortfall} fewer tasks than asked were available")
                self._done(r, "select", n=len(choice.task_ids))
            new_ids = json.loads((rd / "selection.json").read_text())["task_ids"]
            selected += [t for t in new_ids if t not in selected]

            if self._stage(r, "train"):
                from_base = cfg.retrain_from == "base" or r == 0
                train_ids = selected if from_base else new_ids

                def on_log(rec, r=r):
                    if not rec.pop("forwarded", False):  # a multi-process job logs its own records
                        self._metric("train", round=r, n_tasks=len(selected), **rec)
                    self.status(progress={"done": rec["step"], "total": rec["total_steps"], "unit": "steps"})

                job = {"sources": list(cfg.pool), "split": cfg.pool_split, "run_dir": str(self.run.path),
                       "metric_fields": {"round": r, "n_tasks": len(selected), "attempt": self.attempt}}
                _, reused = train_cached(base, [by_id[t] for t in train_ids], cfg.train, self.checkpoint(r),
                                         init=None if from_base else self.checkpoint(r - 1), on_log=on_log,
                                         should_stop=self.should_stop, log=self.log, job=job)
                self._done(r, "train", tasks=len(train_ids), reused=reused)

            if self._stage(r, "eval"):
                def eval_progress(done, total):
                    self.status(progress={"done": done, "total": total, "unit": "eval tasks"})

                summary, per_task, _ = evaluate_cached(self.checkpoint(r), held_out, cfg.eval, cfg.score.dtype,
                                                       eval_progress, self.should_stop)
                per_task.to_parquet(rd / "eval.parquet", index=False)
                self._metric("eval", round=r, n_tasks=len(selected), **summary)
                self.log(f"round {r}: {len(selected)} tasks trained, ROUGE-L {summary['rougeL']:.2f}")
                self._done(r, "eval", **summary)

            # round 0's checkpoint is kept: every policy of this seed reuses it (hard links, one copy)
            if cfg.keep_checkpoints == "last" and r > 1 and self.run.stage_done(r, "train"):
                shutil.rmtree(self.checkpoint(r - 1), ignore_errors=True)
