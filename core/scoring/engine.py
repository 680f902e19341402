"""Scoring a set of tasks end to end: plan packs, look up the cache, compute, assemble.

    tasks ──► packs ──► (cached? read : decode + teacher-force) ──► per-sequence rows
                                                                 └─► per-task PU / PP / perplexity

Packs (core.scoring.packs) are computed here, one after another, or by a pool of workers
(core.scoring.distributed: Ray actors, each holding the model) that this loop keeps busy. Either
way the engine claims each pack with a lock before it is computed and writes its shard as it
lands, so concurrent runs on one cache never compute a pack twice, and a run killed at any moment
and started again recomputes no finished pack and ends with identical results.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from core import ENGINE_VERSION
from core.config import ScoreConfig, to_dict
from core.data.encoding import PromptEncoder
from core.data.prompts import make_variants, sample_instances
from core.data.tasks import Problem, Task
from core.io import content_key
from core.scoring.backends import resolve_backend
from core.scoring.packs import PackJob, TaskPlan, make_packs
from core.scoring.store import ScoreStore
from core.scoring.uncertainty import sequence_prob, task_scores

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]  # (tasks done, tasks total, message)


@dataclass
class ScoreResult:
    tasks: pd.DataFrame
    sequences: pd.DataFrame
    manifest: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)


class PackRunner(Protocol):
    """Computes claimed packs, up to `slots` at once (core.scoring.distributed.RayPool)."""

    slots: int

    def submit(self, job: PackJob) -> None: ...

    def next_done(self) -> tuple[PackJob, pa.Table]: ...

    def cancel(self) -> list[PackJob]: ...


class _InProcess:
    """Packs computed here, one at a time, when they are submitted."""

    slots = 1

    def __init__(self, engine: Engine):
        self.engine, self.done = engine, []

    def submit(self, job: PackJob) -> None:
        self.done.append((job, self.engine.compute_pack(job.tasks, job.task_keys)))

    def next_done(self) -> tuple[PackJob, pa.Table]:
        return self.done.pop(0)

    def cancel(self) -> list[PackJob]:
        jobs, self.done = [job for job, _ in self.done], []
        return jobs


class Engine:
    """One resident model and its scorer, ready to score any number of task sets."""

    def __init__(self, config: ScoreConfig, loaded=None, cache_dir: Path | None = None):
        from core.scoring.models import load_model  # torch-heavy; keep it out of module import time

        self.config = config
        self.cache_dir = cache_dir
        self.loaded = loaded or load_model(config.model, revision=config.revision, dtype=config.dtype,
                                           device=config.device, trust_remote_code=config.trust_remote_code)
        lm = self.loaded
        self.backend = resolve_backend(config.backend, lm)
        limit = config.max_source_tokens
        if not lm.is_seq2seq:
            limit = min(limit, lm.max_positions - config.max_new_tokens)
        self.encoder = PromptEncoder(lm.tokenizer, lm.is_seq2seq, limit, config.max_new_tokens)
        self._scorer = None
        self.key_parts = {
            "engine_version": ENGINE_VERSION,
            "model": lm.fingerprint,
            "dtype": lm.precision,
            "device_type": lm.device.type,
            "prompt": self.encoder.fingerprint(),
            "method": {k: v for k, v in to_dict(config).items() if k not in ScoreConfig.EXECUTION_FIELDS},
        }
        if self.backend.name != "torch":  # torch results keep the keys they had before backends existed
            self.key_parts["backend"] = self.backend.key
        self.run_key = content_key(self.key_parts)[:32]
        self.store = ScoreStore(self.run_key, self.key_parts, root=cache_dir)

    @property
    def scorer(self):
        """Built on first use: loading the weights is skipped when every task is cached."""
        if self._scorer is None:
            stops = self.encoder.stop_ids(self.loaded.generation_eos(load_weights=self.backend.needs_weights))
            self._scorer = self.backend.build(self.loaded, stops, self.config.batch_tokens)
        return self._scorer

    def close(self) -> None:
        """Stop what the scorer started (a vLLM worker process); the engine can score again after."""
        if self._scorer is not None and hasattr(self._scorer, "close"):
            self._scorer.close()
        self._scorer = None

    # --- one pack ------------------------------------------------------------------------

    def _plan(self, task: Task, key: str) -> TaskPlan:
        cfg = self.config
        instances = sample_instances(task, cfg.n_instances, cfg.seed)
        variants = make_variants(task, k=cfg.n_perturbations, p=cfg.drop_prob, mode=cfg.mode, seed=cfg.seed,
                                 n_examples=cfg.n_examples)
        encoded = [[self.encoder.encode(v, inst.input, (task.id, v.index)) for inst in instances] for v in variants]
        return TaskPlan(task, key, instances, variants, encoded)

    def compute_pack(self, tasks: Sequence[Task], task_keys: Sequence[str]) -> pa.Table:
        """Every sequence row of these tasks (one pack): decode, teacher-force, assemble."""
        cfg, enc = self.config, self.encoder
        plans = [self._plan(task, key) for task, key in zip(tasks, task_keys)]
        enc.reset()
        originals = [(p, i) for p, plan in enumerate(plans) for i in range(len(plan.instances))]

        # the answers: the model's own greedy predictions (P_0 comes with them) or the gold outputs
        answers: dict[tuple[int, int], tuple[int, ...]] = {}
        p0: dict[tuple[int, int], np.ndarray] = {}
        answer_cut: dict[tuple[int, int], bool] = {}
        if cfg.labels == "model":
            items = [plans[p].item(0, i) for p, i in originals]
            for (p, i), dec in zip(originals, self.scorer.decode(items, cfg.max_new_tokens)):
                answers[p, i], p0[p, i], answer_cut[p, i] = tuple(dec.tokens), dec.logprobs, False
            if not self.scorer.p0_from_decode:  # decoded in another precision: P_0 is re-scored
                p0.clear()
        else:
            for p, i in originals:
                answers[p, i], answer_cut[p, i] = enc.encode_answer(plans[p].instances[i].outputs[0])

        # teacher-force every answer under every prompt it still needs, in one call, so rows of
        # all the pack's tasks and prompts batch together
        needed = [(p, j, i) for p, plan in enumerate(plans) for j in range(len(plan.variants))
                  for i in range(len(plan.instances)) if not (j == 0 and (p, i) in p0)]
        items = [plans[p].item(j, i, answers[p, i]) for p, j, i in needed]
        forced = dict(zip(needed, self.scorer.score(items)))

        rows: list[dict[str, Any]] = []
        for p, plan in enumerate(plans):
            for j, variant in enumerate(plan.variants):
                for i, inst in enumerate(plan.instances):
                    logprobs = p0[p, i] if (j == 0 and (p, i) in p0) else forced[p, j, i]
                    mean_lp, prob = sequence_prob(logprobs)
                    encoded = plan.encoded[j][i]
                    row = {
                        "task_key": plan.key, "task_id": plan.task.id, "instance_id": inst.id, "perturbation": j,
                        "definition": variant.definition, "definition_dropped": list(variant.definition_dropped),
                        "example_inputs": [e.input for e in variant.examples],
                        "input": inst.input, "gold": list(inst.outputs),
                        "prediction": enc.decode_text(answers[p, i]), "n_tokens": len(answers[p, i]),
                        "mean_logprob": mean_lp, "prob": prob,
                        "truncated": bool(encoded.truncated or answer_cut[p, i]),
                    }
                    if cfg.audit:
                        row["input_ids"] = list(encoded.prefix + encoded.body)
                        row["prediction_ids"] = list(answers[p, i])
                    rows.append(row)
        return pa.Table.from_pylist(rows)

    # --- a task set -----------------------------------------------------------------------

    def score(self, tasks: Sequence[Task], *, progress: Progress | None = None, problems: Sequence[Problem] = (),
              sources: Sequence[str] = (), runner: PackRunner | None = None) -> ScoreResult:
        """Every task's sequences and per-task scores (the map's regions are assigned by
        `core.taskmap`, which also writes scored sets). Uncached packs are computed here, or by
        `runner` (a pool of workers) when given; a run whose every task is cached uses neither."""
        started = time.time()
        keys = [self.store.task_key(t.content_hash) for t in tasks]
        packs = make_packs(tasks, self.config.n_instances, self.config.n_examples, self.config.pack_instances)
        n_cached = sum(k in self.store.index() for k in keys)
        counts = {"finished": n_cached, "computed": 0}
        if progress:
            progress(n_cached, len(tasks), f"{n_cached} cached")

        def claim(index: int, wait: bool) -> PackJob | None | bool:
            """The pack's uncached tasks, locked for this process; None when nothing is left to
            compute; False when another process holds the lock (come back later)."""
            todo = [i for i in packs[index] if keys[i] not in self.store.index()]
            if not todo:
                return None
            job = PackJob(index, self.store.pack_key(keys[i] for i in todo), [tasks[i] for i in todo],
                          [keys[i] for i in todo])
            job.lock = self.store.wait_lock(job.key) if wait else self.store.try_lock(job.key)
            if job.lock is None:
                return False
            if any(k in self.store.index() for k in job.task_keys):  # finished while we waited
                job.release()
                return claim(index, wait)
            return job

        def land(job: PackJob, table: pa.Table) -> None:
            self.store.write_pack(job.key, table, job.task_keys)
            job.release()
            counts["finished"] += len(job.task_keys)
            counts["computed"] += len(job.task_keys)
            if progress:
                progress(counts["finished"], len(tasks), job.tasks[-1].id)

        self._run_packs(len(packs), claim, land, runner)
        if progress and counts["finished"] < len(tasks):
            progress(len(tasks), len(tasks), "done")

        sequences = self.store.read_tasks(keys).to_pandas() if tasks else pd.DataFrame()
        table = build_task_table(tasks, sequences)
        truncated = table[table["n_truncated"] > 0] if len(table) else table
        for _, row in truncated.iterrows():
            log.warning("%s: %d of %d scored prompts were truncated to %d tokens", row["task_id"],
                        row["n_truncated"], row["n_sequences"], self.encoder.max_prompt_tokens)
        manifest = {
            "engine_version": ENGINE_VERSION,
            "run_key": self.run_key,
            "config": to_dict(self.config),
            "model": {"name": self.loaded.name, "fingerprint": self.loaded.fingerprint,
                      "dtype": self.key_parts["dtype"], "device": str(self.loaded.device),
                      "prompt_style": self.encoder.style},
            "backend": self.backend.key,
            "key_parts": self.key_parts,
            "sources": list(sources),
            "n_tasks": len(tasks), "n_cached": n_cached, "n_computed": counts["computed"],
            "seconds": round(time.time() - started, 2),
            "skipped": [vars(p) for p in problems],
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        return ScoreResult(table, sequences, manifest, list(problems))

    def _run_packs(self, n_packs: int, claim, land, runner: PackRunner | None) -> None:
        """Keep the runner's slots busy with claimed packs, in plan order; packs another process
        holds are come back to at the end, waiting for their lock."""
        later: list[int] = []
        pending = iter(range(n_packs))
        active: PackRunner | None = None
        in_flight = 0
        try:
            while True:
                while active is None or in_flight < active.slots:
                    index = next(pending, None)
                    if index is None:
                        break
                    job = claim(index, wait=False)
                    if job is False:
                        later.append(index)
                    elif job is not None:
                        active = active or runner or _InProcess(self)  # a pool starts on the first pack
                        active.submit(job)
                        in_flight += 1
                if in_flight:
                    land(*active.next_done())
                    in_flight -= 1
                    continue
                if not later:
                    return
                job = claim(later.pop(0), wait=True)  # nothing in flight: wait for the other process
                if job is not None:
                    active = active or runner or _InProcess(self)
                    active.submit(job)
                    in_flight += 1
        finally:
            if active is not None and in_flight:
                for job in active.cancel():
                    job.release()


def build_task_table(tasks: Sequence[Task], sequences: pd.DataFrame) -> pd.DataFrame:
    """Per-task scores joined with what the map and the policies need to know about each task."""
    meta = pd.DataFrame({
        "task_id": [t.id for t in tasks],
        "kind": [t.kind for t in tasks],
        "categories": [list(t.categories) for t in tasks],
        "category": [t.categories[0] if t.categories else "" for t in tasks],
        "definition": [t.definition for t in tasks],
        "n_available": [len(t.instances) for t in tasks],
        "source": [t.source for t in tasks],
    })
    scores = task_scores(sequences) if len(sequences) else task_scores(pd.DataFrame())
    return meta.merge(scores, on="task_id", how="left")
