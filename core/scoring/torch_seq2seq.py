"""Encoder-decoder models (T5 / Flan-T5) through transformers' own forward: the encoder reads
the whole prompt (prefix + body, as in the paper), the decoder the answer."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from core.scoring.base import (
    Decoded,
    Item,
    answer_logprobs,
    autocast_to,
    greedy_loop,
    length_batches,
    pad_rows,
    scatter_answers,
)


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
        return pad_rows(rows, self.pad_id, left=False, device=self.device)

    @property
    def p0_from_decode(self) -> bool:
        return self.score_autocast is None

    @torch.inference_mode()
    def score(self, items: Sequence[Item]) -> list[np.ndarray]:
        with autocast_to(self.device, self.score_autocast):
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
            scatter_answers(answer_logprobs(logits[keep], targets).cpu().numpy(), batch, items, results)
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
