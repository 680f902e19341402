"""The plain scorer the engine is measured against: what a straightforward implementation does.

Batch size 1, fp32, one full forward per scored sequence (logits at every position), no prefix
reuse, P_0 from its own teacher-forced pass, greedy decoding with `generate`. It sees exactly the
token ids the engine sees (same PromptEncoder), so any difference in scores is numerical.
"""

from __future__ import annotations

import numpy as np
import torch

from core.data.prompts import make_variants, sample_instances
from core.data.tasks import Task


@torch.inference_mode()
def plain_sequence_logprobs(model, prompt: list[int], answer: list[int]) -> np.ndarray:
    ids = torch.tensor([prompt + answer])
    logits = model(input_ids=ids).logits[0].float()
    logp = torch.log_softmax(logits, -1)
    positions = torch.arange(len(prompt) - 1, len(prompt) - 1 + len(answer))
    return logp[positions, torch.tensor(answer)].numpy()


@torch.inference_mode()
def plain_greedy(model, prompt: list[int], max_new_tokens: int, stop_ids: set[int], pad_id: int) -> list[int]:
    ids = torch.tensor([prompt])
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens, do_sample=False,
                         num_beams=1, eos_token_id=sorted(stop_ids), pad_token_id=pad_id)
    tokens = out[0, len(prompt):].tolist()
    end = next((j + 1 for j, t in enumerate(tokens) if t in stop_ids), len(tokens))
    return tokens[:end]


def plain_score_task(model, encoder, task: Task, *, n: int, k: int, p: float, mode: str, seed: int,
                     max_new_tokens: int, stop_ids: set[int], pad_id: int) -> list[dict]:
    """Rows (instance, perturbation, prob) for one task, computed one sequence at a time."""
    instances = sample_instances(task, n, seed)
    variants = make_variants(task, k=k, p=p, mode=mode, seed=seed)
    rows = []
    for inst in instances:
        original = encoder.encode(variants[0], inst.input, (task.id, 0))
        prediction = plain_greedy(model, list(original.prefix + original.body), max_new_tokens, stop_ids, pad_id)
        for v in variants:
            enc = encoder.encode(v, inst.input, (task.id, v.index))
            logprobs = plain_sequence_logprobs(model, list(enc.prefix + enc.body), prediction)
            rows.append({"task_id": task.id, "instance_id": inst.id, "perturbation": v.index,
                         "prob": float(np.exp(logprobs.mean())), "n_tokens": len(prediction),
                         "prediction": encoder.decode_text(prediction), "truncated": enc.truncated})
    encoder.reset()
    return rows
