"""Held-out evaluation (METHOD.md §5): batched greedy generation, ROUGE-L and exact match.

Metrics follow NIV2's official evaluation script (natural-instructions eval/automatic):
ROUGE-L F-measure with stemming, the max over a prediction's references, x100; exact match
after lower-casing and removing punctuation, articles and extra whitespace, x100. Reported
overall, for classification and generation tasks separately, and per task. Generation reuses the
scorer's batched decoding (with the shared-prefix KV cache), in the same prompt format.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence

import pandas as pd

from core.config import EvalConfig
from core.data.prompts import PromptVariant
from core.data.tasks import Task

Progress = Callable[[int, int], None]


@lru_cache(maxsize=1)
def _rouge():
    from rouge_score import rouge_scorer
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def normalize_answer(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def rouge_l(prediction: str, references: Sequence[str]) -> float:
    return 100.0 * max(_rouge().score(ref, prediction)["rougeL"].fmeasure for ref in references)


def exact_match(prediction: str, references: Sequence[str]) -> float:
    return 100.0 * max(float(normalize_answer(prediction) == normalize_answer(ref)) for ref in references)


DECODE_ROWS = 48  # instances decoded together (several tasks batch together, as when scoring)


def _chunks(tasks: Sequence[Task], per_task: int) -> list[list[Task]]:
    chunks, current, size = [], [], 0
    for task in tasks:
        current.append(task)
        size += min(len(task.instances), per_task)
        if size >= DECODE_ROWS:
            chunks.append(current)
            current, size = [], 0
    return chunks + ([current] if current else [])


@dataclass
class EvalResult:
    summary: dict[str, float]   # rougeL, rougeL_classification, rougeL_generation, exact_match, ...
    per_task: pd.DataFrame      # task_id, kind, rougeL, exact_match, n_instances
    predictions: pd.DataFrame   # task_id, instance_id, prediction, references, rougeL, exact_match


def summarize(per_instance: pd.DataFrame, kinds: dict[str, str]) -> tuple[dict[str, float], pd.DataFrame]:
    """Task-level means, then the mean over tasks (every task weighs the same, as in NIV2)."""
    per_task = per_instance.groupby("task_id", sort=False).agg(
        rougeL=("rougeL", "mean"), exact_match=("exact_match", "mean"), n_instances=("rougeL", "size")).reset_index()
    per_task.insert(1, "kind", per_task["task_id"].map(kinds))
    summary = {"rougeL": float(per_task["rougeL"].mean()), "exact_match": float(per_task["exact_match"].mean()),
               "n_eval_tasks": int(len(per_task))}
    for kind in ("classification", "generation"):
        part = per_task[per_task["kind"] == kind]
        summary[f"rougeL_{kind}"] = float(part["rougeL"].mean()) if len(part) else float("nan")
        summary[f"exact_match_{kind}"] = float(part["exact_match"].mean()) if len(part) else float("nan")
    return summary, per_task


def evaluate(loaded, tasks: Sequence[Task], cfg: EvalConfig, *, progress: Progress | None = None,
             should_stop: Callable[[], bool] = lambda: False) -> EvalResult:
    """Generate greedily for the first `max_instances_per_task` instances of each task and score."""
    from core.data.encoding import PromptEncoder
    from core.loop.runs import Cancelled
    from core.scoring.backends import make_scorer
    from core.scoring.base import Item

    limit = cfg.max_source_tokens
    if not loaded.is_seq2seq:
        limit = min(limit, loaded.max_positions - cfg.max_new_tokens)
    encoder = PromptEncoder(loaded.tokenizer, loaded.is_seq2seq, limit, cfg.max_new_tokens)
    eos = getattr(getattr(loaded.model, "generation_config", None), "eos_token_id", None)
    scorer = make_scorer(loaded, encoder.stop_ids(eos), cfg.batch_tokens)
    rows = []
    done = 0
    for chunk in _chunks(tasks, cfg.max_instances_per_task):
        if should_stop():
            raise Cancelled()
        work = []  # (task, instance, encoded prompt) for every instance of the chunk
        for task in chunk:
            variant = PromptVariant(0, task.definition, task.examples[: cfg.n_examples])
            for inst in task.instances[: cfg.max_instances_per_task]:
                work.append((task, inst, encoder.encode(variant, inst.input, (task.id, 0))))
        encoder.reset()
        decoded = scorer.decode([Item(e.prefix, e.body) for _, _, e in work], cfg.max_new_tokens)
        for (task, inst, _), dec in zip(work, decoded):
            prediction = encoder.decode_text(dec.tokens)
            rows.append({"task_id": task.id, "instance_id": inst.id, "prediction": prediction,
                         "references": list(inst.outputs), "rougeL": rouge_l(prediction, inst.outputs),
                         "exact_match": exact_match(prediction, inst.outputs)})
        done += len(chunk)
        if progress:
            progress(done, len(tasks))
    predictions = pd.DataFrame(rows)
    summary, per_task = summarize(predictions, {t.id: t.kind for t in tasks})
    return EvalResult(summary, per_task, predictions)
