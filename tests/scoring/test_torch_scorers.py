"""The scorer against a plain per-sequence computation on the same token ids (fp32).

The plain reference here is deliberately naive: one sequence at a time, full forward, no
cache; the engine's batching, prefix reuse, answer-only LM head and decode log-probs must
reproduce it to float tolerance, for causal (Llama through the packed forward and through
transformers' own, GPT-2) and seq2seq (T5) models.
"""

from dataclasses import dataclass

import numpy as np
import pytest

from core.scoring.backends import make_scorer
from core.scoring.base import Item, length_batches
from core.scoring.models import load_model
from tests.scoring.reference import TOL, plain_greedy, plain_logprobs, random_items


@dataclass
class Case:
    lm: object
    packed: bool | None  # which causal scorer (None: make_scorer's choice)

    @property
    def tokenizer(self):
        return self.lm.tokenizer

    @property
    def is_seq2seq(self):
        return self.lm.is_seq2seq

    @property
    def model(self):
        return self.lm.model

    def scorer(self, stops, **kwargs):
        return make_scorer(self.lm, stops, packed=self.packed, **kwargs)


@pytest.fixture(params=["llama-packed", "llama-transformers", "gpt2", "t5"])
def model_case(request, tiny_causal_dir, tiny_gpt2_dir, tiny_t5_dir):
    name = request.param.split("-")[0]
    path = {"llama": tiny_causal_dir, "gpt2": tiny_gpt2_dir, "t5": tiny_t5_dir}[name]
    loaded = load_model(str(path), dtype="float32", device="cpu")
    return Case(loaded, {"llama-packed": True, "llama-transformers": False}.get(request.param))


def test_cases_use_the_scorer_they_name(model_case):
    kind = type(model_case.scorer({0})).__name__
    expected = {True: "PackedScorer", False: "CausalScorer"}.get(model_case.packed)
    if expected:
        assert kind == expected


def test_teacher_forced_logprobs_equal_plain(model_case):
    lm = model_case
    items = random_items(len(lm.tokenizer), lm.is_seq2seq)
    scorer = lm.scorer({lm.tokenizer.eos_token_id}, batch_tokens=120)
    got = scorer.score(items)
    for item, g in zip(items, got):
        assert g.shape == (len(item.answer),)
        np.testing.assert_allclose(g, plain_logprobs(lm.model, item, lm.is_seq2seq), atol=TOL, rtol=2e-6)


def test_batched_equals_unbatched(model_case):
    lm = model_case
    items = random_items(len(lm.tokenizer), lm.is_seq2seq, seed=1)
    stops = {lm.tokenizer.eos_token_id}
    big = lm.scorer(stops, batch_tokens=100_000).score(items)
    one_by_one = [lm.scorer(stops, batch_tokens=1).score([it])[0] for it in items]
    for a, b in zip(big, one_by_one):
        np.testing.assert_allclose(a, b, atol=TOL, rtol=2e-6)


def test_greedy_decode_equals_plain_greedy(model_case):
    lm = model_case
    stops = {lm.tokenizer.eos_token_id}
    items = [Item(it.prefix, it.body) for it in random_items(len(lm.tokenizer), lm.is_seq2seq, seed=2)]
    decoded = lm.scorer(stops, batch_tokens=200).decode(items, max_new_tokens=10)
    for item, d in zip(items, decoded):
        tokens, logps = plain_greedy(lm.model, item, 10, stops, lm.is_seq2seq)
        assert d.tokens == tokens
        np.testing.assert_allclose(d.logprobs, logps, atol=TOL, rtol=2e-6)
        # P_0 from the decode is the teacher-forced probability of the same tokens
        forced = plain_logprobs(lm.model, Item(item.prefix, item.body, tuple(tokens)), lm.is_seq2seq)
        np.testing.assert_allclose(d.logprobs, forced, atol=TOL, rtol=2e-6)


def test_decode_stops_at_end_token_and_shrinks(tiny_causal_dir):
    lm = load_model(str(tiny_causal_dir), dtype="float32", device="cpu")
    items = [Item(it.prefix, it.body) for it in random_items(len(lm.tokenizer), False, seed=3)]
    # make every token a stop token for half the items' first picks: use the set of all first picks
    scorer = make_scorer(lm, {lm.tokenizer.eos_token_id}, batch_tokens=10_000)
    first = {d.tokens[0] for d in scorer.decode(items, max_new_tokens=1)}
    stop_scorer = make_scorer(lm, first, batch_tokens=10_000)
    out = stop_scorer.decode(items, max_new_tokens=8)
    assert all(len(d.tokens) == 1 and d.tokens[0] in first for d in out)


def test_length_batches_respect_budget():
    lengths = [5, 50, 7, 48, 6, 49, 100]
    batches = length_batches(lengths, budget=110)
    assert sorted(i for b in batches for i in b) == list(range(7))
    for b in batches:
        assert len(b) * max(lengths[i] for i in b) <= 110 or len(b) == 1
    # sorted by length: no row in a batch is longer than the shortest row of an earlier batch
    widths = [(min(lengths[i] for i in b), max(lengths[i] for i in b)) for b in batches]
    assert all(earlier[0] >= later[1] for earlier, later in zip(widths, widths[1:]))
