"""The hot path: batched greedy decoding and teacher-forced answer log-probabilities.

Work comes in as `Item`s: a prompt split into a shared `prefix` and a per-instance `body`, plus
the `answer` tokens to teacher-force (empty when decoding). The scorer never runs a pass the
result does not need:

* Causal models: every distinct prefix (chat-template head, definition, examples: one per
  perturbed prompt) runs once, in batched right-padded passes; every batch of bodies then
  starts from a cache assembled from its rows' own prefixes (left-padded to the longest, the
  padding masked), so rows of different prompts and tasks share a batch. Only answer positions
  go through the LM head (`logits_to_keep` with a boolean mask); log-softmax runs in fp32.
* Greedy decoding keeps the log-prob of each token it picks, so P_0 needs no extra pass when
  decoding and scoring share a precision. Decoding costs per step whatever the batch, so all of
  a pack's rows decode together and finished rows are dropped as they accumulate.
* Batches are length-bucketed (sorted by body + answer length, filled up to a padded-token
  budget), whatever their rows' prefixes: padding a query token costs a whole pass through
  every layer, padding a prefix column only its attention, so the prefixes are left to vary.
  Batch composition depends only on the items given, so results are reproducible whatever
  else is being scored.
* Decoding first runs each row's body on top of its prefix in length-bucketed batches, then
  decodes all rows together from one cache of prefix + body, left-padded to the longest, so
  neither the first pass nor any decoding step spends work on a padded body.
* Seq2seq models run encoder + decoder per item (the encoder sees the whole prompt).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

LOGSOFTMAX_ROWS = 1024  # answer positions per fp32 log-softmax chunk (bounds memory: rows x vocab x 4 B)
DECODE_BATCH = 128      # rows decoded together at most (a pack of ~64 instances fits in one batch)
DECODE_KV_FACTOR = 32   # decode batches may hold this many times batch_tokens in KV cache
SHRINK_AT = 4           # rebuild the batch without finished rows once 1/SHRINK_AT of them are done
FAST_ATTENTION = True   # teacher-forced passes of bf16 models on CPU use core.cpu_attention


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


def _scatter_answers(logp, batch: list[int], items, results: list) -> None:
    """Hand each item of a batch its slice of the batch's concatenated answer log-probs."""
    start = 0
    for i in batch:
        results[i] = logp[start:start + len(items[i].answer)]
        start += len(items[i].answer)


def _answer_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p(target) for each row of logits, in fp32, in chunks to bound memory."""
    out = torch.empty(targets.shape[0], dtype=torch.float32, device=logits.device)
    for start in range(0, targets.shape[0], LOGSOFTMAX_ROWS):
        chunk = logits[start:start + LOGSOFTMAX_ROWS]
        out[start:start + LOGSOFTMAX_ROWS] = torch.log_softmax(chunk, -1, dtype=torch.float32).gather(
            -1, targets[start:start + LOGSOFTMAX_ROWS, None]).squeeze(-1)
    return out


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
            ids, _ = _pad([list(prefixes[i]) for i in batch], self.pad_id, left=False, device=self.device)
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
        """The grouped bf16 attention where it applies (see core.cpu_attention), else nothing."""
        import contextlib

        from . import cpu_attention

        if FAST_ATTENTION and cpu_attention.applies(self.model, self.device, compute_dtype):
            return cpu_attention.grouped_attention(self.model)
        return contextlib.nullcontext()

    @torch.inference_mode()
    def score(self, items: Sequence[Item]) -> list[np.ndarray]:
        """Per-token log-probs of each item's answer given its prefix + body."""
        compute = self.score_autocast or next(self.model.parameters()).dtype
        with _autocast(self.device, self.score_autocast), self._fast_attention(compute):
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
                ids, row_mask = _pad(rows, self.pad_id, left=False, device=self.device)
                cache, prefix_mask = self._batch_cache(kv, prefixes, spare=ids.shape[1])
                positions = torch.tensor([len(p) for p in prefixes], device=self.device)[:, None] + \
                    torch.arange(ids.shape[1], device=self.device)[None]
                keep = torch.zeros_like(ids, dtype=torch.bool)
                for r, i in enumerate(batch):
                    b = len(split[i][1])
                    keep[r, b - 1:b - 1 + len(items[i].answer)] = True  # positions predicting answer tokens
                logits = self.model(input_ids=ids, attention_mask=torch.cat([prefix_mask, row_mask], 1),
                                    position_ids=positions, past_key_values=cache, use_cache=cache is not None,
                                    logits_to_keep=keep).logits
                logits = logits.reshape(-1, logits.shape[-1])
                targets = torch.tensor([t for i in batch for t in items[i].answer], device=self.device)
                _scatter_answers(_answer_logprobs(logits, targets).cpu().numpy(), batch, items, results)
        return results  # type: ignore[return-value]

    # --- greedy decoding ----------------------------------------------------------------------

    @torch.inference_mode()
    def decode(self, items: Sequence[Item], max_new_tokens: int) -> list[Decoded]:
        # (single-token steps always use the model's own attention; see core.cpu_attention)
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
            ids, body_mask = _pad([list(rows[r][1]) for r in sub], self.pad_id, left=False, device=self.device)
            cache, prefix_mask = self._batch_cache(kv, prefixes, spare=ids.shape[1])
            lead = prefix_mask.shape[1]
            positions = torch.tensor([len(p) for p in prefixes], device=self.device)[:, None] + \
                torch.arange(ids.shape[1], device=self.device)[None]
            last = torch.zeros_like(ids, dtype=torch.bool)
            for j, r in enumerate(sub):
                last[j, len(rows[r][1]) - 1] = True
            out = self.model(input_ids=ids, attention_mask=torch.cat([prefix_mask, body_mask], 1),
                             position_ids=positions, past_key_values=cache, use_cache=True, logits_to_keep=last)
            sub_logits = out.logits.reshape(-1, out.logits.shape[-1])
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


def _plain_kv_cache(model) -> bool:
    """Prefix sharing assembles caches by hand; only do it for plain full-attention KV caches."""
    config = model.config.get_text_config(decoder=True) if hasattr(model.config, "get_text_config") else model.config
    if getattr(config, "sliding_window", None) and getattr(config, "use_sliding_window", True):
        return False
    layer_types = getattr(config, "layer_types", None) or []
    return all(t == "full_attention" for t in layer_types)


def _pad(rows: list[list[int]], pad_id: int, *, left: bool, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if not row:
            continue
        span = slice(width - len(row), width) if left else slice(0, len(row))
        ids[i, span], mask[i, span] = torch.tensor(row), 1
    return ids.to(device), mask.to(device)


def _cut_at_stop(tokens: list[int], logps: list[float], stop_ids: torch.Tensor) -> Decoded:
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
    return [_cut_at_stop(toks, lps, stop_ids) for toks, lps in zip(tokens, logps)]


class Seq2SeqScorer:
    """Encoder-decoder models (T5 / Flan-T5): the encoder reads prefix + body, the decoder the answer."""

    def __init__(self, model, *, pad_id: int, stop_ids: set[int], batch_tokens: int,
                 score_autocast: torch.dtype | None = None):
        self.model = model
        self.device = next(model.parameters()).device
        self.pad_id = pad_id
        self.stop_ids = torch.tensor(sorted(stop_ids), device=self.device)
        self.batch_tokens = batch_tokens
        self.score_autocast = score_autocast
        self.start_id = model.config.decoder_start_token_id
        if self.start_id is None:
            self.start_id = pad_id

    def _pad(self, rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        return _pad(rows, self.pad_id, left=False, device=self.device)

    @property
    def p0_from_decode(self) -> bool:
        return self.score_autocast is None

    @torch.inference_mode()
    def score(self, items: Sequence[Item]) -> list[np.ndarray]:
        with _autocast(self.device, self.score_autocast):
            return self._score(items)

    def _score(self, items: Sequence[Item]) -> list[np.ndarray]:
        results: list[np.ndarray | None] = [None] * len(items)
        lengths = [len(it.prefix) + len(it.body) + len(it.answer) for it in items]
        for batch in length_batches(lengths, self.batch_tokens):
            src, src_mask = self._pad([list(items[i].prefix + items[i].body) for i in batch])
            dec, dec_mask = self._pad([[self.start_id] + list(items[i].answer[:-1]) for i in batch])
            logits = self.model(input_ids=src, attention_mask=src_mask, decoder_input_ids=dec,
                                decoder_attention_mask=dec_mask).logits
            keep = dec_mask.bool()
            targets = torch.tensor([t for i in batch for t in items[i].answer], device=self.device)
            _scatter_answers(_answer_logprobs(logits[keep], targets).cpu().numpy(), batch, items, results)
        return results  # type: ignore[return-value]

    @torch.inference_mode()
    def decode(self, items: Sequence[Item], max_new_tokens: int) -> list[Decoded]:
        results: list[Decoded | None] = [None] * len(items)
        lengths = [len(it.prefix) + len(it.body) + max_new_tokens for it in items]
        for batch in length_batches(lengths, self.batch_tokens):
            src, src_mask = self._pad([list(items[i].prefix + items[i].body) for i in batch])
            encoder_out = self.model.get_encoder()(input_ids=src, attention_mask=src_mask)
            cache = None

            def step(pick, keep):
                nonlocal cache, src_mask
                if keep is not None:
                    cache.batch_select_indices(keep)
                    encoder_out.last_hidden_state = encoder_out.last_hidden_state[keep]
                    src_mask = src_mask[keep]
                out = self.model(encoder_outputs=encoder_out, attention_mask=src_mask, decoder_input_ids=pick[:, None],
                                 past_key_values=cache, use_cache=True)
                cache = out.past_key_values
                return out.logits[:, -1]

            start = torch.full((len(batch),), self.start_id, dtype=torch.long, device=self.device)
            for i, out in zip(batch, greedy_loop(step(start, None), max_new_tokens, self.stop_ids, step)):
                results[i] = out
        return results  # type: ignore[return-value]


def make_scorer(loaded, stop_ids: set[int], batch_tokens: int = 0, share_prefix: bool = True,
                packed: bool | None = None):
    """The scorer for a LoadedModel; batch_tokens 0 picks a budget for the device.

    Decoders that `core.packed` supports get the packed scorer on CPU (where it was measured
    faster); `packed` forces the choice either way (False: transformers' own forward).
    """
    from . import packed as packed_forward

    if not batch_tokens:
        batch_tokens = 32768 if loaded.device.type == "cuda" else 4096
    pad_id = loaded.tokenizer.pad_token_id if loaded.tokenizer.pad_token_id is not None else min(stop_ids)
    autocast = getattr(loaded, "score_autocast", None)
    if loaded.is_seq2seq:
        return Seq2SeqScorer(loaded.model, pad_id=pad_id, stop_ids=stop_ids, batch_tokens=batch_tokens,
                             score_autocast=autocast)
    if packed is None:
        packed = share_prefix and loaded.device.type == "cpu"
    if packed and packed_forward.supports(loaded.model):
        from .packed_scorer import PackedScorer

        return PackedScorer(loaded.model, pad_id=pad_id, stop_ids=stop_ids, batch_tokens=batch_tokens,
                            score_autocast=autocast)
    return CausalScorer(loaded.model, pad_id=pad_id, stop_ids=stop_ids, batch_tokens=batch_tokens,
                        share_prefix=share_prefix, score_autocast=autocast)


def _autocast(device: torch.device, dtype: torch.dtype | None):
    import contextlib
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()
