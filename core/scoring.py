"""The hot path: batched greedy decoding and teacher-forced answer log-probabilities.

Work comes in as `Item`s: a prompt split into a shared `prefix` and a per-instance `body`, plus
the `answer` tokens to teacher-force (empty when decoding). The scorer never runs a pass the
result does not need:

* Causal models: items that share a prefix (all instances of one perturbed prompt) run the
  prefix once at batch size 1 and reuse its KV cache for every batch of bodies; only answer
  positions go through the LM head (`logits_to_keep` with a boolean mask); log-softmax in fp32.
* Greedy decoding keeps the per-token log-probs of what it picks, so P_0 needs no extra pass,
  and drops finished rows from the batch once half of them are done.
* Batches are length-bucketed (sorted by length, filled up to a padded-token budget), so
  padding stays small. Batch composition depends only on the items given, so results are
  reproducible whatever else is being scored.
* Seq2seq models run encoder + decoder per item (the encoder sees the whole prompt).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

LOGSOFTMAX_ROWS = 1024  # answer positions per fp32 log-softmax chunk (bounds memory: rows x vocab x 4 B)


@dataclass(frozen=True)
class Item:
    prefix: tuple[int, ...]
    body: tuple[int, ...]
    answer: tuple[int, ...] = ()


@dataclass
class Decoded:
    tokens: list[int]
    logprobs: np.ndarray  # log-prob of each generated token (end token included when produced)


def length_batches(lengths: Sequence[int], budget: int, max_batch: int = 64) -> list[list[int]]:
    """Group indices into batches of similar length whose padded size stays within `budget` tokens."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        width = lengths[current[0]] if current else lengths[i]  # sorted descending: first is widest
        if current and (len(current) + 1) * width > budget or len(current) >= max_batch:
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def _group_by_prefix(items: Sequence[Item]) -> tuple[dict[tuple[int, ...], list[int]], list[int]]:
    """Items whose prefix is shared by at least two items, by prefix; the rest run flat."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, item in enumerate(items):
        groups.setdefault(item.prefix, []).append(i)
    shared = {p: idx for p, idx in groups.items() if p and len(idx) >= 2}
    flat = [i for p, idx in groups.items() if not (p and len(idx) >= 2) for i in idx]
    return shared, sorted(flat)


def _answer_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p(target) for each row of logits, in fp32, in chunks to bound memory."""
    out = torch.empty(targets.shape[0], dtype=torch.float32, device=logits.device)
    for start in range(0, targets.shape[0], LOGSOFTMAX_ROWS):
        chunk = logits[start:start + LOGSOFTMAX_ROWS].float()
        out[start:start + LOGSOFTMAX_ROWS] = torch.log_softmax(chunk, -1).gather(
            -1, targets[start:start + LOGSOFTMAX_ROWS, None]).squeeze(-1)
    return out


class CausalScorer:
    def __init__(self, model, *, pad_id: int, stop_ids: set[int], batch_tokens: int, share_prefix: bool = True):
        self.model = model
        self.device = next(model.parameters()).device
        self.pad_id = pad_id
        self.stop_ids = torch.tensor(sorted(stop_ids), device=self.device)
        self.batch_tokens = batch_tokens
        self.share_prefix = share_prefix

    def _tensor(self, rows: list[list[int]], left: bool) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            if left:
                ids[i, width - len(row):], mask[i, width - len(row):] = torch.tensor(row), 1
            else:
                ids[i, :len(row)], mask[i, :len(row)] = torch.tensor(row), 1
        return ids.to(self.device), mask.to(self.device)

    def _prefix_cache(self, prefix: tuple[int, ...]):
        ids = torch.tensor([prefix], device=self.device)
        return self.model(input_ids=ids, use_cache=True, logits_to_keep=1).past_key_values

    def _plan(self, items: Sequence[Item], extra: int) -> Iterator[tuple[tuple[int, ...], list[int]]]:
        """(prefix to cache, item indices) per batch; the prefix is () for flat batches."""
        if self.share_prefix:
            shared, flat = _group_by_prefix(items)
        else:
            shared, flat = {}, list(range(len(items)))
        for prefix, idx in shared.items():
            lengths = [len(items[i].body) + len(items[i].answer) + extra for i in idx]
            for batch in length_batches(lengths, self.batch_tokens):
                yield prefix, [idx[b] for b in batch]
        lengths = [len(items[i].prefix) + len(items[i].body) + len(items[i].answer) + extra for i in flat]
        for batch in length_batches(lengths, self.batch_tokens):
            yield (), [flat[b] for b in batch]

    # --- teacher forcing ----------------------------------------------------------------------

    @torch.inference_mode()
    def score(self, items: Sequence[Item]) -> list[np.ndarray]:
        """Per-token log-probs of each item's answer given its prefix + body."""
        results: list[np.ndarray | None] = [None] * len(items)
        cache_of: dict[tuple[int, ...], object] = {}
        for prefix, batch in self._plan(items, 0):
            if prefix and prefix not in cache_of:
                cache_of.clear()  # one prefix cache alive at a time: batches of a group are consecutive
                cache_of[prefix] = self._prefix_cache(prefix)
            rows = [list(items[i].body if prefix else items[i].prefix + items[i].body) + list(items[i].answer)
                    for i in batch]
            ids, _ = self._tensor(rows, left=False)  # right padding: causal attention never sees the pads
            keep = torch.zeros_like(ids, dtype=torch.bool)
            for r, i in enumerate(batch):
                n, a = len(rows[r]), len(items[i].answer)
                keep[r, n - a - 1:n - 1] = True  # positions whose next token is an answer token
            kwargs = {}
            if prefix:
                cache = copy.deepcopy(cache_of[prefix])
                cache.batch_repeat_interleave(len(batch))
                kwargs = dict(past_key_values=cache, use_cache=True)
            logits = self.model(input_ids=ids, logits_to_keep=keep, **kwargs).logits
            logits = logits.reshape(-1, logits.shape[-1])
            targets = torch.tensor([t for i in batch for t in items[i].answer], device=self.device)
            logp = _answer_logprobs(logits, targets).cpu().numpy()
            start = 0
            for i in batch:
                results[i] = logp[start:start + len(items[i].answer)]
                start += len(items[i].answer)
        return results  # type: ignore[return-value]

    # --- greedy decoding ----------------------------------------------------------------------

    @torch.inference_mode()
    def decode(self, items: Sequence[Item], max_new_tokens: int) -> list[Decoded]:
        results: list[Decoded | None] = [None] * len(items)
        cache_of: dict[tuple[int, ...], object] = {}
        for prefix, batch in self._plan(items, max_new_tokens):
            if prefix and prefix not in cache_of:
                cache_of.clear()
                cache_of[prefix] = self._prefix_cache(prefix)
            rows = [list(items[i].body if prefix else items[i].prefix + items[i].body) for i in batch]
            ids, row_mask = self._tensor(rows, left=True)
            cache = None
            if prefix:
                cache = copy.deepcopy(cache_of[prefix])
                cache.batch_repeat_interleave(len(batch))
            for i, out in zip(batch, self._greedy(ids, row_mask, len(prefix), cache, max_new_tokens)):
                results[i] = out
        return results  # type: ignore[return-value]

    def _greedy(self, ids, row_mask, prefix_len, cache, max_new_tokens) -> list[Decoded]:
        batch = ids.shape[0]
        mask = torch.cat([torch.ones(batch, prefix_len, dtype=torch.long, device=self.device), row_mask], 1)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, prefix_len:]
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                         past_key_values=cache, use_cache=True, logits_to_keep=1)
        cache, logits = out.past_key_values, out.logits[:, -1]
        next_pos = positions[:, -1:] + 1
        alive = torch.arange(batch, device=self.device)  # original row of each live batch row
        finished = torch.zeros(batch, dtype=torch.bool, device=self.device)
        tokens: list[list[int]] = [[] for _ in range(batch)]
        logps: list[list[float]] = [[] for _ in range(batch)]
        for _ in range(max_new_tokens):
            logp = torch.log_softmax(logits.float(), -1)
            pick = logp.argmax(-1)
            picked_logp = logp.gather(-1, pick[:, None]).squeeze(-1)
            for row, tok, lp in zip(alive.tolist(), pick.tolist(), picked_logp.tolist()):
                tokens[row].append(tok)
                logps[row].append(lp)
            finished |= torch.isin(pick, self.stop_ids)
            if bool(finished.all()):
                break
            if int(finished.sum()) * 2 >= len(alive):  # shrink the batch once half the rows are finished
                keep = (~finished).nonzero().squeeze(-1)
                cache.batch_select_indices(keep)
                alive, pick, mask, next_pos, finished = alive[keep], pick[keep], mask[keep], next_pos[keep], finished[keep]
            mask = torch.cat([mask, torch.ones(len(alive), 1, dtype=torch.long, device=self.device)], 1)
            out = self.model(input_ids=pick[:, None], attention_mask=mask, position_ids=next_pos,
                             past_key_values=cache, use_cache=True)
            cache, logits = out.past_key_values, out.logits[:, -1]
            next_pos = next_pos + 1
            # rows that finished but were kept keep generating; their extra tokens are cut below
        stops = set(self.stop_ids.tolist())
        results = []
        for toks, lps in zip(tokens, logps):
            end = next((j + 1 for j, t in enumerate(toks) if t in stops), len(toks))
            results.append(Decoded(toks[:end], np.asarray(lps[:end], dtype=np.float32)))
        return results


class Seq2SeqScorer:
    """Encoder-decoder models (T5 / Flan-T5): the encoder reads prefix + body, the decoder the answer."""

    def __init__(self, model, *, pad_id: int, stop_ids: set[int], batch_tokens: int):
        self.model = model
        self.device = next(model.parameters()).device
        self.pad_id = pad_id
        self.stop_ids = torch.tensor(sorted(stop_ids), device=self.device)
        self.batch_tokens = batch_tokens
        self.start_id = model.config.decoder_start_token_id
        if self.start_id is None:
            self.start_id = pad_id

    def _pad(self, rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, :len(row)], mask[i, :len(row)] = torch.tensor(row), 1
        return ids.to(self.device), mask.to(self.device)

    @torch.inference_mode()
    def score(self, items: Sequence[Item]) -> list[np.ndarray]:
        results: list[np.ndarray | None] = [None] * len(items)
        lengths = [len(it.prefix) + len(it.body) + len(it.answer) for it in items]
        for batch in length_batches(lengths, self.batch_tokens):
            src, src_mask = self._pad([list(items[i].prefix + items[i].body) for i in batch])
            dec, dec_mask = self._pad([[self.start_id] + list(items[i].answer[:-1]) for i in batch])
            logits = self.model(input_ids=src, attention_mask=src_mask, decoder_input_ids=dec,
                                decoder_attention_mask=dec_mask).logits
            keep = dec_mask.bool()
            targets = torch.tensor([t for i in batch for t in items[i].answer], device=self.device)
            logp = _answer_logprobs(logits[keep], targets).cpu().numpy()
            start = 0
            for i in batch:
                results[i] = logp[start:start + len(items[i].answer)]
                start += len(items[i].answer)
        return results  # type: ignore[return-value]

    @torch.inference_mode()
    def decode(self, items: Sequence[Item], max_new_tokens: int) -> list[Decoded]:
        results: list[Decoded | None] = [None] * len(items)
        lengths = [len(it.prefix) + len(it.body) + max_new_tokens for it in items]
        stops = set(self.stop_ids.tolist())
        for batch in length_batches(lengths, self.batch_tokens):
            src, src_mask = self._pad([list(items[i].prefix + items[i].body) for i in batch])
            encoder_out = self.model.get_encoder()(input_ids=src, attention_mask=src_mask)
            alive = torch.arange(len(batch), device=self.device)
            finished = torch.zeros(len(batch), dtype=torch.bool, device=self.device)
            pick = torch.full((len(batch),), self.start_id, dtype=torch.long, device=self.device)
            cache = None
            tokens: list[list[int]] = [[] for _ in batch]
            logps: list[list[float]] = [[] for _ in batch]
            for _ in range(max_new_tokens):
                out = self.model(encoder_outputs=encoder_out, attention_mask=src_mask, decoder_input_ids=pick[:, None],
                                 past_key_values=cache, use_cache=True)
                cache = out.past_key_values
                logp = torch.log_softmax(out.logits[:, -1].float(), -1)
                pick = logp.argmax(-1)
                picked = logp.gather(-1, pick[:, None]).squeeze(-1)
                for row, tok, lp in zip(alive.tolist(), pick.tolist(), picked.tolist()):
                    tokens[row].append(tok)
                    logps[row].append(lp)
                finished |= torch.isin(pick, self.stop_ids)
                if bool(finished.all()):
                    break
                if int(finished.sum()) * 2 >= len(alive):
                    keep = (~finished).nonzero().squeeze(-1)
                    cache.batch_select_indices(keep)
                    encoder_out.last_hidden_state = encoder_out.last_hidden_state[keep]
                    alive, pick, src_mask, finished = alive[keep], pick[keep], src_mask[keep], finished[keep]
            for r, i in enumerate(batch):
                toks = tokens[r]
                end = next((j + 1 for j, t in enumerate(toks) if t in stops), len(toks))
                results[i] = Decoded(toks[:end], np.asarray(logps[r][:end], dtype=np.float32))
        return results  # type: ignore[return-value]


def make_scorer(loaded, stop_ids: set[int], batch_tokens: int = 0, share_prefix: bool = True):
    """The scorer for a LoadedModel; batch_tokens 0 picks a budget for the device."""
    if not batch_tokens:
        batch_tokens = 32768 if loaded.device.type == "cuda" else 4096
    pad_id = loaded.tokenizer.pad_token_id if loaded.tokenizer.pad_token_id is not None else min(stop_ids)
    if loaded.is_seq2seq:
        return Seq2SeqScorer(loaded.model, pad_id=pad_id, stop_ids=stop_ids, batch_tokens=batch_tokens)
    return CausalScorer(loaded.model, pad_id=pad_id, stop_ids=stop_ids, batch_tokens=batch_tokens,
                        share_prefix=share_prefix)
