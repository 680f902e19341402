"""The scorer for decoders `core.scoring.packed.forward` supports: packed passes over a prefix bank.

Same contract as `core.scoring.torch_causal.CausalScorer` (teacher-forced answer log-probs; greedy decoding
with the log-prob of every picked token), scheduled for the packed forward:

* the distinct prefixes of a chunk of items run once, packed, into a `PrefixBank`;
* teacher forcing packs rows (body + answer) of similar length into passes of up to
  `batch_tokens` real tokens, each row attending to its prefix in the bank;
* decoding runs each row's body the same way (the prefill), copies prefix + body into one
  `DecodeCache`, and steps every row of the batch together, dropping finished rows as they
  accumulate.

Batches depend only on the items given, so results are reproducible whatever else is scored.
"""

from __future__ import annotations

import copy
from typing import Sequence

import numpy as np
import torch

from core.scoring.base import Decoded, Item, greedy_loop, prefix_chunks
from core.scoring.packed.attention import KEY_ALIGN, PrefixBank, Segment, plan_attention
from core.scoring.packed.decode_cache import CACHE_BLOCK, DecodeCache
from core.scoring.packed.forward import PackedDecoder
from core.scoring.precision import Precision

BANK_BYTES = 2 << 30          # keys + values of the prefixes held at once
DECODE_CACHE_BYTES = 4 << 30  # keys + values of the rows decoded together
DECODE_ROWS = 256             # rows decoded together at most (a pack is decoded as one batch)


def token_batches(order: Sequence[int], lengths: Sequence[int], budget: int, max_rows: int = 1 << 30) -> list[list[int]]:
    """Consecutive runs of `order` whose lengths sum to at most `budget` (or one row)."""
    batches: list[list[int]] = []
    current: list[int] = []
    used = 0
    for i in order:
        if current and (used + lengths[i] > budget or len(current) >= max_rows):
            batches.append(current)
            current, used = [], 0
        current.append(i)
        used += lengths[i]
    if current:
        batches.append(current)
    return batches


class PackedScorer:
    """Decoder-only models through `core.scoring.packed.forward.PackedDecoder`."""

    def __init__(self, model, *, pad_id: int, stop_ids: set[int], batch_tokens: int, precision: Precision):
        self.model = model
        self.precision = precision
        self.decoder = PackedDecoder(model, int8=precision.linear == "int8")
        self.device = self.decoder.device
        self.pad_id = pad_id
        self.stop_ids = torch.tensor(sorted(stop_ids), device=self.device)
        self.batch_tokens = batch_tokens
        self.dtype = next(model.parameters()).dtype
        # `--dtype mixed`: decode with the model as loaded, teacher-force with a copy of its weights
        # in the scoring precision (autocast would cast every weight again at every call: 2-3x
        # slower), or through int8 products of the same weights
        if precision.scoring is None:
            self.scoring = self.decoder
        elif precision.scoring == "int8":
            self.scoring = PackedDecoder(model, int8=True)
        else:
            self.scoring = PackedDecoder(copy.deepcopy(model).to(getattr(torch, precision.scoring)))
        d = self.decoder
        per_token = 2 * len(d.layers) * d.kv_heads * d.head_dim * torch.finfo(self.dtype).bits // 8
        self.bank_tokens = max(batch_tokens, BANK_BYTES // per_token)
        self.decode_tokens = max(32 * batch_tokens, DECODE_CACHE_BYTES // per_token)

    @property
    def p0_from_decode(self) -> bool:
        return self.precision.p0_from_decode

    def _tensor(self, values) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.long, device=self.device)

    # --- passes ------------------------------------------------------------------------------

    def _bank(self, d: PackedDecoder, items: Sequence[Item], chunk: list[int], workspace: int) -> PrefixBank:
        """Run every distinct prefix of the chunk once, packed, into a new bank: their shared
        head (if any) first, then each prefix's own tokens over it."""
        prefixes = sorted({items[i].prefix for i in chunk if items[i].prefix}, key=lambda p: (len(p), p))
        bank = d.bank(prefixes, max(workspace, self.batch_tokens))
        root = bank.root
        if root:
            self._pass(d, [((), root)], bank, kv_start=0)
        lengths = [len(p) - len(root) for p in prefixes]
        for batch in token_batches(range(len(prefixes)), lengths, self.batch_tokens):
            members = [prefixes[i] for i in batch]
            # consecutive in the bank: the pass writes its keys straight into the prefixes' rows
            self._pass(d, [(root, p[len(root):]) for p in members], bank, kv_start=bank.spans[members[0]][0])
        return bank

    def _pass(self, d: PackedDecoder, rows: list[tuple[tuple[int, ...], tuple[int, ...]]], bank: PrefixBank,
              kv_start: int | None = None) -> torch.Tensor:
        """One packed pass over rows of (prefix, tokens): the hidden states of the tokens, whose
        keys and values land in the bank's workspace (or from `kv_start`)."""
        segments, offset, ids, positions = [], 0, [], []
        for prefix, tokens in rows:
            segments.append(Segment(offset, len(tokens), bank.rows(prefix)))
            ids.extend(tokens)
            positions.append(torch.arange(len(prefix), len(prefix) + len(tokens)))
            offset += len(tokens)
        start = bank.size if kv_start is None else kv_start
        plan = plan_attention(segments, start, self.device, d.dtype)
        return d.forward(self._tensor(ids), torch.cat(positions).to(self.device), plan, bank, start)

    # --- teacher forcing ----------------------------------------------------------------------

    @torch.inference_mode()
    def score(self, items: Sequence[Item]) -> list[np.ndarray]:
        """Per-token log-probs of each item's answer given its prefix + body."""
        d = self.scoring
        results: list[np.ndarray | None] = [None] * len(items)
        for chunk in prefix_chunks(items, self.bank_tokens):
            # the last answer token is only ever a target, never an input
            lengths = {i: len(items[i].body) + len(items[i].answer) - 1 for i in chunk}
            bank = self._bank(d, items, chunk, max(lengths.values()))
            order = sorted(chunk, key=lambda i: (lengths[i], len(items[i].prefix), i))
            for batch in token_batches(order, lengths, self.batch_tokens):
                h = self._pass(d, [(items[i].prefix, items[i].body + items[i].answer[:-1]) for i in batch], bank)
                wanted, offset = [], 0
                for i in batch:
                    start = offset + len(items[i].body) - 1  # the position predicting the first answer token
                    wanted.extend(range(start, start + len(items[i].answer)))
                    offset += lengths[i]
                targets = self._tensor([t for i in batch for t in items[i].answer])
                logp = d.answer_logprobs(d.final(h.index_select(0, self._tensor(wanted))), targets)
                logp = logp.cpu().numpy()
                start = 0
                for i in batch:
                    results[i] = logp[start:start + len(items[i].answer)]
                    start += len(items[i].answer)
        return results  # type: ignore[return-value]

    # --- greedy decoding ----------------------------------------------------------------------

    @torch.inference_mode()
    def decode(self, items: Sequence[Item], max_new_tokens: int) -> list[Decoded]:
        results: list[Decoded | None] = [None] * len(items)
        for chunk in prefix_chunks(items, self.bank_tokens):
            bank = self._bank(self.decoder, items, chunk, max(len(items[i].body) for i in chunk))
            # decoding costs per step whatever the batch, so rows go together, bounded by their cache
            kv_lengths = {i: len(items[i].prefix) + len(items[i].body) + max_new_tokens for i in chunk}
            order = sorted(chunk, key=lambda i: (-kv_lengths[i], i))
            for batch in token_batches(order, kv_lengths, self.decode_tokens, max_rows=DECODE_ROWS):
                cache, logits = self._prefill([items[i] for i in batch], bank)
                for i, out in zip(batch, self._greedy(cache, logits, max_new_tokens)):
                    results[i] = out
        return results  # type: ignore[return-value]

    def _prefill(self, rows: list[Item], bank: PrefixBank):
        """Run every row's body over its prefix; gather each distinct prefix's keys and values once
        and each row's body into one decode cache. Returns the cache and the logits that pick
        each row's first new token."""
        d, dtype, device = self.decoder, self.dtype, self.device
        body_lengths = [len(r.body) for r in rows]
        width = max(body_lengths)
        # every column up to `width` is written below; the spare ones are read (masked) before
        # they are written, so they must hold finite values
        keys = [torch.empty(len(rows), d.kv_heads, width + CACHE_BLOCK, d.head_dim, dtype=dtype, device=device)
                for _ in d.layers]
        values = [torch.empty_like(k) for k in keys]
        for tensor in keys + values:
            tensor[:, :, width:].zero_()
        logits = torch.empty(len(rows), d.lm_head.weight.shape[0], dtype=dtype, device=device)
        for sub in token_batches(range(len(rows)), body_lengths, self.batch_tokens):
            h = self._pass(d, [(rows[r].prefix, rows[r].body) for r in sub], bank)
            ends = np.cumsum([body_lengths[r] for r in sub]) - 1
            logits[self._tensor(sub)] = d.linear(d.lm_head, d.final(h.index_select(0, self._tensor(ends.tolist()))))
            # each row's body sits in the workspace; padding columns read row 0 (finite, and masked)
            source = torch.zeros(len(sub), width, dtype=torch.long)
            offset = bank.size
            for j, r in enumerate(sub):
                source[j, width - body_lengths[r]:] = torch.arange(offset, offset + body_lengths[r])
                offset += body_lengths[r]
            source = source.view(-1).to(device)
            first, last = sub[0], sub[-1] + 1  # token_batches of a range: consecutive rows
            for layer in range(len(d.layers)):
                for cache, banked in ((keys, bank.keys), (values, bank.values)):
                    gathered = banked[layer].index_select(0, source).view(len(sub), width, d.kv_heads, d.head_dim)
                    cache[layer][first:last, :, :width] = gathered.transpose(1, 2)
        # the prefixes, once each, padded to the longest
        number = {p: i for i, p in enumerate(dict.fromkeys(r.prefix for r in rows))}
        prompts = list(number)
        prompt_of_row = [number[r.prefix] for r in rows]
        prefix_width = max(len(p) for p in prompts)
        if prefix_width:
            prefix_width = -(-prefix_width // KEY_ALIGN) * KEY_ALIGN
        source = torch.zeros(len(prompts), prefix_width, dtype=torch.long)
        for j, p in enumerate(prompts):
            own = [row for span in bank.rows(p) for row in span]
            source[j, :len(own)] = torch.tensor(own, dtype=torch.long)
        source = source.view(-1).to(device)
        prefix_keys, prefix_values = [], []
        for layer in range(len(d.layers)) if prefix_width else ():
            k = bank.keys[layer].index_select(0, source).view(len(prompts), prefix_width, d.kv_heads, d.head_dim)
            v = bank.values[layer].index_select(0, source).view(len(prompts), prefix_width, d.kv_heads, d.head_dim)
            prefix_keys.append(k.permute(0, 2, 3, 1).contiguous())
            prefix_values.append(v.transpose(1, 2).contiguous())
        lengths = self._tensor(body_lengths)
        positions = self._tensor([len(r.prefix) + len(r.body) for r in rows])
        cache = DecodeCache(keys, values, lengths, width, positions, prompt_of_row, prefix_keys, prefix_values,
                            [len(p) for p in prompts], dtype)
        return cache, logits

    def _greedy(self, cache: DecodeCache, logits: torch.Tensor, max_new_tokens: int) -> list[Decoded]:
        def step(pick, keep):
            if keep is not None:
                cache.select(keep)
            return self.decoder.step(pick, cache)

        return greedy_loop(logits, max_new_tokens, self.stop_ids, step)
