"""Scoring a set of tasks end to end: plan, cache lookup, compute, assemble.

    tasks ──► packs ──► (cached? read : decode + teacher-force) ──► per-sequence rows
                                                                 └─► per-task PU / PP / perplexity

Tasks are grouped into packs, the unit of computation, caching and locking: about
`ScoreConfig.pack_instances` sampled instances, so decoding batches across tasks (one-instance
Alpaca tasks need this most). Packs take tasks in order of prompt length, so a pack's rows are padded to similar
widths (a decoding step reads every row's cache up to the widest, and the long tail of
128-token answers is paid once per pack whatever its rows' lengths). Packs are a fixed
function of the task list, so a run that is killed and started again computes the same packs
in the same batches and ends with identical results, recomputing no finished pack.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from core import ENGINE_VERSION
from core.config import ScoreConfig, to_dict
from core.data.encoding import PromptEncoder
from core.data.prompts import make_variants, sample_instances
from core.data.tasks import Problem, Task
from core.io import content_key
from core.scoring.backends import make_scorer
from core.scoring.base import Item
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


def prompt_chars(task: Task, n_examples: int = 2) -> int:
    """A cheap stand-in for a task's prompt length in tokens: definition, shown examples and the
    mean instance input, in characters (no tokenizer needed, same on every machine)."""
    shown = sum(len(e.input) + len(e.output) for e in task.examples[:n_examples])
    mean_input = sum(len(i.input) for i in task.instances) // max(len(task.instances), 1)
    return len(task.definition) + shown + mean_input


def make_packs(tasks: Sequence[Task], n_instances: int, n_examples: int = 2, per_pack: int = 128) -> list[list[int]]:
    """Tasks in order of prompt length, grouped until a pack holds `per_pack` sampled instances
    or more (task indices, each pack in the original order)."""
    order = sorted(range(len(tasks)), key=lambda i: (prompt_chars(tasks[i], n_examples), i))
    packs: list[list[int]] = []
    current: list[int] = []
    size = 0
    for i in order:
        current.append(i)
        size += min(len(tasks[i].instances), n_instances)
        if size >= per_pack:
            packs.append(sorted(current))
            current, size = [], 0
    if current:
        packs.append(sorted(current))
    return packs


@dataclass
class TaskPlan:
    """One task's share of a pack: its sampled instances, its k+1 prompts, and every
    (prompt, instance) pair encoded (encoded[j][i])."""

    task: Task
    key: str
    instances: tuple
    variants: list
    encoded: list

    def item(self, j: int, i: int, answer: tuple[int, ...] = ()) -> Item:
        e = self.encoded[j][i]
        return Item(e.prefix, e.body, answer)


class Engine:
    """One resident model and its scorer, ready to score any number of task sets."""

    def __init__(self, config: ScoreConfig, loaded=None, cache_dir: Path | None = None):
        from core.scoring.models import load_model  # torch-heavy; keep it out of module import time

        self.config = config
        self.loaded = loaded or load_model(config.model, revision=config.revision, dtype=config.dtype,
                                           device=config.device, trust_remote_code=config.trust_remote_code)
        lm = self.loaded
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
        self.run_key = content_key(self.key_parts)[:32]
        self.store = ScoreStore(self.run_key, self.key_parts, root=cache_dir)

    @property
    def scorer(self):
        """Built on first use: loading the weights is skipped when every task is cached."""
        if self._scorer is None:
            eos = getattr(getattr(self.loaded.model, "generation_config", None), "eos_token_id", None)
            self._scorer = make_scorer(self.loaded, self.encoder.stop_ids(eos), self.config.batch_tokens)
        return self._scorer

    # --- one pack ------------------------------------------------------------------------

    def _plan(self, task: Task, key: str) -> TaskPlan:
        cfg = self.config
        instances = sample_instances(task, cfg.n_instances, cfg.seed)
        variants = make_variants(task, k=cfg.n_perturbations, p=cfg.drop_prob, mode=cfg.mode, seed=cfg.seed,
                                 n_examples=cfg.n_examples)
        encoded = [[self.encoder.encode(v, inst.input, (task.id, v.index)) for inst in instances] for v in variants]
        return TaskPlan(task, key, instances, variants, encoded)

    def _compute_pack(self, tasks: Sequence[Task], task_keys: Sequence[str]) -> pa.Table:
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
              sources: Sequence[str] = ()) -> ScoreResult:
        """Every task's sequences and per-task scores (the map's regions are assigned by
        `core.taskmap`, which also writes scored sets)."""
        started = time.time()
        keys = [self.store.task_key(t.content_hash) for t in tasks]
        packs = make_packs(tasks, self.config.n_instances, self.config.n_examples, self.config.pack_instances)
        done = self.store.index()
        n_cached = sum(k in done for k in keys)
        finished = n_cached
        computed = 0
        if progress:
            progress(finished, len(tasks), f"{n_cached} cached")

        def run_pack(pack: list[int], wait: bool) -> bool:
            nonlocal finished, computed
            todo = [i for i in pack if keys[i] not in self.store.index()]
            if not todo:
                return True
            pack_key = self.store.pack_key(keys[i] for i in todo)
            lock = self.store.wait_lock(pack_key) if wait else self.store.try_lock(pack_key)
            if lock is None:
                return False  # another process is computing it; come back later
            try:
                todo = [i for i in todo if keys[i] not in self.store.index()]
                if todo:
                    table = self._compute_pack([tasks[i] for i in todo], [keys[i] for i in todo])
                    self.store.write_pack(pack_key, table, [keys[i] for i in todo])
                    computed += len(todo)
                    finished += len(todo)
                    if progress:
                        progress(finished, len(tasks), tasks[todo[-1]].id)
            finally:
                lock.release()
            return True

        deferred = [pack for pack in packs if not run_pack(pack, wait=False)]
        for pack in deferred:
            run_pack(pack, wait=True)
        if progress and deferred:
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
            "key_parts": self.key_parts,
            "sources": list(sources),
            "n_tasks": len(tasks), "n_cached": n_cached, "n_computed": computed,
            "seconds": round(time.time() - started, 2),
            "skipped": [vars(p) for p in problems],
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        return ScoreResult(table, sequences, manifest, list(problems))


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
