"""The scorer contract and the pieces every scorer shares.

Work comes in as `Item`s: a prompt split into a shared `prefix` (chat-template head,
definition, examples: one per perturbed prompt) and a per-instance `body`, plus the `answer`
tokens to teacher-force (empty when decoding). A `Scorer` does two things with them, and
never runs a pass the result does not need:

* `decode`: the greedy prediction of each item, keeping the log-prob of each token it picks,
  so P_0 needs no extra pass when decoding and scoring share a precision (`p0_from_decode`).
* `score`: the per-token log-probs of each item's answer given its prefix + body.

Batches depend only on the items given (never on what else is being scored), so results are
reproducible and a pack scored again gives the same numbers. The backends that implement
this contract are in `core.scoring.backends`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator, Protocol, Sequence

import numpy as np
import torch

LOGSOFTMAX_ROWS = 1024  # answer positions per fp32 log-softmax chunk (bounds memory: rows x vocab x 4 B)
SHRINK_AT = 4           # rebuild the batch without finished rows once 1/SHRINK_AT of them are done


@dataclass(frozen=True)
class Item:
    prefix: tuple[int, ...]
    body: tuple[int, ...]
    answer: tuple[int, ...] = ()


@dataclass
class Decoded:
    tokens: list[int]
    logprobs: np.ndarray  # log-prob of each generated token (end token included when produced)


class Scorer(Protocol):
    """What the engine needs of a backend."""

    @property
    def p0_from_decode(self) -> bool:
        """Whether `decode`'s log-probs are comparable with `score`'s (same precision), so P_0
        is taken from the decode instead of a teacher-forced pass."""

    def decode(self, items: Sequence[Item], max_new_tokens: int) -> list[Decoded]:
        """Greedy predictions (up to max_new_tokens, the stop token included when produced)."""

    def score(self, items: Sequence[Item]) -> list[np.ndarray]:
        """Per-token log-probs of each item's answer given its prefix and body."""


def length_batches(lengths: Sequence[int], budget: int, max_batch: int = 64) -> list[list[int]]:
    """Group indices into batches of similar length whose padded size stays within `budget` tokens."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        width = lengths[current[0]] if current else lengths[i]  # sorted descending: first is widest
        if current and ((len(current) + 1) * width > budget or len(current) >= max_batch):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def prefix_chunks(items: Sequence[Item], budget: int) -> Iterator[list[int]]:
    """Item indices in chunks whose distinct prefixes together hold at most `budget` tokens
    (their keys and values are kept for the whole chunk)."""
    chunk, seen, used = [], set(), 0
    for i, item in enumerate(items):
        if item.prefix not in seen:
            if chunk and used + len(item.prefix) > budget:
                yield chunk
                chunk, seen, used = [], set(), 0
            seen.add(item.prefix)
            used += len(item.prefix)
        chunk.append(i)
    if chunk:
        yield chunk


def scatter_answers(logp, batch: list[int], items, results: list) -> None:
    """Hand each item of a batch its slice of the batch's concatenated answer log-probs."""
    start = 0
    for i in batch:
        results[i] = logp[start:start + len(items[i].answer)]
        start += len(items[i].answer)


def answer_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p(target) for each row of logits, in fp32, in chunks to bound memory."""
    out = torch.empty(targets.shape[0], dtype=torch.float32, device=logits.device)
    for start in range(0, targets.shape[0], LOGSOFTMAX_ROWS):
        chunk = logits[start:start + LOGSOFTMAX_ROWS]
        out[start:start + LOGSOFTMAX_ROWS] = torch.log_softmax(chunk, -1, dtype=torch.float32).gather(
            -1, targets[start:start + LOGSOFTMAX_ROWS, None]).squeeze(-1)
    return out


def pad_rows(rows: list[list[int]], pad_id: int, *, left: bool, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if not row:
            continue
        span = slice(width - len(row), width) if left else slice(0, len(row))
        ids[i, span], mask[i, span] = torch.tensor(row), 1
    return ids.to(device), mask.to(device)


def cut_at_stop(tokens: list[int], logps: list[float], stop_ids: torch.Tensor) -> Decoded:
    stops = set(stop_ids.tolist())
    end = next((j + 1 for j, t in enumerate(tokens) if t in stops), len(tokens))
    return Decoded(tokens[:end], np.asarray(logps[:end], dtype=np.float32))


def greedy_loop(logits: torch.Tensor, max_new_tokens: int, stop_ids: torch.Tensor, step) -> list[Decoded]:
    """The greedy loop every scorer shares: pick each row's most likely token, record its
    log-prob, stop when every row has hit a stop token, and drop finished rows once they are
    1/SHRINK_AT of the batch. `step(pick, keep)` first keeps only rows `keep` of its own state
    (when `keep` is not None), then returns the next-token logits after `pick`."""
    batch = logits.shape[0]
    device = logits.device
    alive = torch.arange(batch, device=device)  # original row of each live batch row
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    tokens: list[list[int]] = [[] for _ in range(batch)]
    logps: list[list[float]] = [[] for _ in range(batch)]
    for t in range(max_new_tokens):
        logp = torch.log_softmax(logits, -1, dtype=torch.float32)
        pick = logp.argmax(-1)
        picked = logp.gather(-1, pick[:, None]).squeeze(-1)
        for row, tok, lp in zip(alive.tolist(), pick.tolist(), picked.tolist()):
            tokens[row].append(tok)
            logps[row].append(lp)
        finished |= torch.isin(pick, stop_ids)
        if bool(finished.all()) or t == max_new_tokens - 1:
            break
        keep = None
        if int(finished.sum()) * SHRINK_AT >= len(alive):
            keep = (~finished).nonzero().squeeze(-1)
            alive, pick, finished = alive[keep], pick[keep], finished[keep]
        logits = step(pick, keep)
        # rows that finished but were kept keep generating; their extra tokens are cut below
    return [cut_at_stop(toks, lps, stop_ids) for toks, lps in zip(tokens, logps)]




def autocast_to(device: torch.device, dtype: torch.dtype | None):
    """torch.autocast to `dtype`, or nothing when dtype is None."""
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()
