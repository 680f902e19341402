"""The packed forward (core.scoring.packed) and its scorer against transformers' own forward.

The packed path is what scores Llama-family decoders on CPU: its planning (groups, the prefix
bank's shared head, key alignment), its decode cache (prefixes once per prompt, rows dropped as
they finish) and its prepacked bf16 weights must all leave the numbers where transformers puts
them: equal in fp32, equal bits with and without prepacking, and bf16-close in bf16.
"""

import numpy as np
import pytest
import torch

from core.scoring.backends import make_scorer
from core.scoring.base import Item
from core.scoring.hardware import cpu_info
from core.scoring.models import load_model
from core.scoring.packed import attention
from core.scoring.packed.attention import KEY_ALIGN, MIN_ROOT, Segment, plan_attention
from core.scoring.packed.forward import supports
from core.scoring.precision import Precision
from tests.scoring.reference import TOL, plain_greedy, plain_logprobs, random_items


@pytest.fixture(scope="module")
def tiny_qwen2_dir(tmp_path_factory):
    from tests.tiny_models import tiny_qwen2
    return tiny_qwen2(tmp_path_factory.mktemp("tiny-qwen2"))


def shared_head_items(vocab: int, seed: int = 0, rows: int = 24) -> list[Item]:
    """Prompts of one template: every prefix starts with the same head, as chat prompts do."""
    rng = np.random.default_rng(seed)
    head = tuple(rng.integers(5, vocab, size=MIN_ROOT + 7).tolist())
    prefixes = [head + tuple(rng.integers(5, vocab, size=rng.integers(3, 30)).tolist()) for _ in range(5)]
    return [Item(prefixes[i % 5], tuple(rng.integers(5, vocab, size=rng.integers(1, 15)).tolist()),
                 tuple(rng.integers(5, vocab, size=rng.integers(1, 9)).tolist())) for i in range(rows)]


def assert_decodes_like_plain(lm, scorer, items, stops, max_new_tokens):
    prompts = [Item(it.prefix, it.body) for it in items]
    for item, d in zip(prompts, scorer.decode(prompts, max_new_tokens=max_new_tokens)):
        tokens, logps = plain_greedy(lm.model, item, max_new_tokens, stops, False)
        assert d.tokens == tokens
        np.testing.assert_allclose(d.logprobs, logps, atol=TOL, rtol=2e-6)


def assert_scores_like_plain(lm, scorer, items):
    for item, got in zip(items, scorer.score(items)):
        np.testing.assert_allclose(got, plain_logprobs(lm.model, item, False), atol=TOL, rtol=2e-6)


def test_supported_families(tiny_causal_dir, tiny_qwen2_dir, tiny_gpt2_dir):
    from transformers import MistralConfig, MistralForCausalLM

    assert supports(load_model(str(tiny_causal_dir), dtype="float32", device="cpu").model)
    assert supports(load_model(str(tiny_qwen2_dir), dtype="float32", device="cpu").model)
    assert not supports(load_model(str(tiny_gpt2_dir), dtype="float32", device="cpu").model)
    windowed = MistralForCausalLM(MistralConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                                num_attention_heads=4, num_key_value_heads=2, sliding_window=16))
    assert not supports(windowed)


def test_qwen2_with_biases_scores_and_decodes_like_plain(tiny_qwen2_dir):
    lm = load_model(str(tiny_qwen2_dir), dtype="float32", device="cpu")
    stops = {lm.tokenizer.eos_token_id}
    scorer = make_scorer(lm, stops, batch_tokens=150)
    assert type(scorer).__name__ == "PackedScorer"
    items = random_items(len(lm.tokenizer), False, seed=4)
    assert_scores_like_plain(lm, scorer, items)
    assert_decodes_like_plain(lm, scorer, items, stops, 8)


def test_shared_head_is_computed_once_and_scores_stay_exact(tiny_causal_dir):
    lm = load_model(str(tiny_causal_dir), dtype="float32", device="cpu")
    items = shared_head_items(len(lm.tokenizer))
    scorer = make_scorer(lm, {lm.tokenizer.eos_token_id}, batch_tokens=100)
    bank = scorer._bank(scorer.decoder, items, list(range(len(items))), 64)
    assert len(bank.root) >= MIN_ROOT
    distinct = {it.prefix for it in items}
    assert bank.size == len(bank.root) + sum(len(p) - len(bank.root) for p in distinct)  # the head stored once
    assert_scores_like_plain(lm, scorer, items)


def test_long_decode_of_many_prompts_equals_plain_greedy(tiny_causal_dir):
    """Rows finish at different steps, so the cache drops rows and then whole prompts."""
    lm = load_model(str(tiny_causal_dir), dtype="float32", device="cpu")
    items = [Item(it.prefix, it.body) for it in shared_head_items(len(lm.tokenizer), seed=5, rows=20)]
    first = make_scorer(lm, {lm.tokenizer.eos_token_id}).decode(items, max_new_tokens=1)
    # a stop set that ends some rows at once and lets others run: the first picks of half the prompts
    stops = {d.tokens[0] for d, it in zip(first, items) if hash(it.prefix) % 2} or {lm.tokenizer.eos_token_id}
    decoded = make_scorer(lm, stops, batch_tokens=64).decode(items, max_new_tokens=24)
    assert len({len(d.tokens) for d in decoded}) > 1
    for item, d in zip(items, decoded):
        tokens, logps = plain_greedy(lm.model, item, 24, stops, False)
        assert d.tokens == tokens
        np.testing.assert_allclose(d.logprobs, logps, atol=TOL, rtol=2e-6)


def onednn_bf16_kernels() -> bool:
    """oneDNN's bf16 products (and weight prepacking) need AVX-512 (BW/VL) or AVX-NE-CONVERT."""
    return "avx512bw" in cpu_info().usable or "avx_ne_convert" in cpu_info().usable


def test_prepacked_bf16_weights_give_the_same_bits(tiny_causal_dir):
    if not onednn_bf16_kernels():
        pytest.skip(f"oneDNN bf16 weight prepacking needs AVX-512BW or AVX-NE-CONVERT; this CPU is {cpu_info().kind} "
                    "(test_without_onednn_bf16_the_weights_are_used_as_they_are checks what happens there)")
    lm = load_model(str(tiny_causal_dir), dtype="bfloat16", device="cpu")
    stops = {lm.tokenizer.eos_token_id}
    scorer = make_scorer(lm, stops, batch_tokens=200)
    assert scorer.decoder._packed, "this CPU has oneDNN bf16 kernels: the weights must be prepacked"
    items = random_items(len(lm.tokenizer), False, seed=6)
    prompts = [Item(it.prefix, it.body) for it in items]
    with_packing = scorer.score(items), scorer.decode(prompts, 12)
    scorer.decoder._packed = {}
    without = scorer.score(items), scorer.decode(prompts, 12)
    assert all(np.array_equal(a, b) for a, b in zip(with_packing[0], without[0]))
    assert all(a.tokens == b.tokens and np.array_equal(a.logprobs, b.logprobs) for a, b in zip(with_packing[1], without[1]))


def test_without_onednn_bf16_the_weights_are_used_as_they_are(tiny_causal_dir):
    if onednn_bf16_kernels():
        pytest.skip(f"this CPU ({cpu_info().kind}) has oneDNN bf16 kernels: its prepacking is tested above")
    lm = load_model(str(tiny_causal_dir), dtype="bfloat16", device="cpu")
    scorer = make_scorer(lm, {lm.tokenizer.eos_token_id}, batch_tokens=200)
    assert scorer.decoder._packed == {}  # no reordered copy: nn.Linear's own bf16 product
    items = random_items(len(lm.tokenizer), False, seed=6)
    reference = make_scorer(lm, {lm.tokenizer.eos_token_id}, packed=False).score(items)
    for got, ref in zip(scorer.score(items), reference):
        assert np.abs(np.exp(got.mean()) - np.exp(ref.mean())) < 0.02


def test_bf16_packed_scores_stay_close_to_fp32(tiny_causal_dir):
    fp32 = load_model(str(tiny_causal_dir), dtype="float32", device="cpu")
    bf16 = load_model(str(tiny_causal_dir), dtype="bfloat16", device="cpu")
    items = random_items(len(fp32.tokenizer), False, seed=7)
    reference = make_scorer(fp32, {0}, packed=False).score(items)
    for packed_path in (True, False):
        got = make_scorer(bf16, {0}, packed=packed_path).score(items)
        probs = np.array([np.exp(g.mean()) for g in got])
        ref = np.array([np.exp(r.mean()) for r in reference])
        assert np.abs(probs - ref).mean() < 0.02, packed_path


def mixed_scorer(tiny_causal_dir, scoring: str):
    """The tiny model loaded for `--dtype mixed`, with teacher forcing in `scoring` whatever this
    CPU's own choice is (the mechanism is the same on every CPU; only the choice differs)."""
    lm = load_model(str(tiny_causal_dir), dtype="float32", device="cpu")
    lm.run = Precision("float32", scoring=scoring)
    return lm, make_scorer(lm, {lm.tokenizer.eos_token_id})


@pytest.mark.parametrize("scoring", ["bfloat16", "int8"])
def test_mixed_decodes_in_fp32_and_scores_in_the_reduced_precision(tiny_causal_dir, scoring):
    """`--dtype mixed`: greedy answers exactly as the fp32 model gives them; teacher forcing by a
    bf16 copy of the weights or through int8 products of them (close to fp32), the fp32 model
    itself left untouched."""
    lm, scorer = mixed_scorer(tiny_causal_dir, scoring)
    assert type(scorer).__name__ == "PackedScorer" and not scorer.p0_from_decode
    assert next(lm.model.parameters()).dtype == torch.float32 and scorer.decoder._int8 == {}
    if scoring == "bfloat16":
        assert scorer.scoring.dtype == torch.bfloat16
    else:
        assert scorer.scoring.dtype == torch.float32 and scorer.scoring._int8
        assert len(scorer.scoring._int8) == 7 * lm.model.config.num_hidden_layers  # every projection, not the head
    items = random_items(len(lm.tokenizer), False, seed=9)
    probs = np.array([np.exp(g.mean()) for g in scorer.score(items)])
    ref = np.array([np.exp(plain_logprobs(lm.model, item, False).mean()) for item in items])
    assert np.abs(probs - ref).mean() < 0.02
    assert_decodes_like_plain(lm, scorer, items, {lm.tokenizer.eos_token_id}, 6)


def test_mixed_on_this_cpu_uses_its_fast_reduced_precision(tiny_causal_dir):
    lm = load_model(str(tiny_causal_dir), dtype="mixed", device="cpu")
    expected = "mixed-bfloat16" if cpu_info().fast_bf16 else "float32"  # int8 teacher forcing is too coarse
    assert lm.precision == expected, (cpu_info().kind, lm.run.reason)
    assert lm.run.reason and lm.dtype == torch.float32


def test_int8_decodes_and_scores_through_int8_products(tiny_causal_dir):
    lm = load_model(str(tiny_causal_dir), dtype="int8", device="cpu")
    scorer = make_scorer(lm, {lm.tokenizer.eos_token_id})
    assert lm.precision == "int8" and scorer.p0_from_decode and scorer.decoder._int8 and scorer.scoring is scorer.decoder
    items = random_items(len(lm.tokenizer), False, seed=10)
    got = np.array([np.exp(g.mean()) for g in scorer.score(items)])
    ref = np.array([np.exp(plain_logprobs(lm.model, item, False).mean()) for item in items])
    assert np.abs(got - ref).mean() < 0.02
    decoded = scorer.decode([Item(it.prefix, it.body) for it in items], max_new_tokens=4)
    forced = scorer.score([Item(it.prefix, it.body, tuple(d.tokens)) for it, d in zip(items, decoded)])
    for d, f in zip(decoded, forced):  # the decode's own log-probs are the teacher-forced ones (same precision)
        np.testing.assert_allclose(d.logprobs, f, atol=1e-4)


def test_attention_groups_cover_every_row_once_with_little_padding():
    rng = np.random.default_rng(0)
    segments, offset = [], 0
    for _ in range(60):
        n, p = int(rng.integers(1, 40)), int(rng.integers(0, 90))
        segments.append(Segment(offset, n, (range(1000, 1000 + p),) if p else ()))
        offset += n
    plan = plan_attention(segments, kv_start=5000, device="cpu", dtype=torch.float32)
    slots = torch.cat([g.gather if g.dest is None else g.dest for g in plan])
    assert sorted(slots.tolist()) == list(range(offset))  # every packed token is answered exactly once
    for g in plan:
        assert g.keys % KEY_ALIGN == 0 and g.keys >= g.length
        assert g.mask.shape == (g.rows, 1, 1, g.length, g.keys)
        real = (g.mask[:, 0, 0] == 0).sum().item()  # allowed (query, key) pairs
        assert real > 0
    own = sum(s.length * (s.prefix_length + s.length) for s in segments)
    padded = sum(g.rows * g.length * g.keys for g in plan)
    assert padded < 1.6 * own  # grouping slack plus key alignment


def test_long_rows_attend_in_chunks_and_stay_exact(tiny_causal_dir, monkeypatch):
    monkeypatch.setattr(attention, "QUERY_CHUNK", 8)  # every row here is longer: prefixes, bodies, answers
    lm = load_model(str(tiny_causal_dir), dtype="float32", device="cpu")
    stops = {lm.tokenizer.eos_token_id}
    items = shared_head_items(len(lm.tokenizer), seed=8, rows=12)
    scorer = make_scorer(lm, stops, batch_tokens=90)
    segments = attention._split_long([Segment(0, 20, (range(100, 130),))], kv_start=500)
    assert [(s.offset, s.length, s.prefix_length) for s in segments] == [(0, 8, 30), (8, 8, 38), (16, 4, 46)]
    assert_scores_like_plain(lm, scorer, items)
    assert_decodes_like_plain(lm, scorer, items, stops, 6)
