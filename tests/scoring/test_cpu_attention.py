"""The grouped bf16 CPU attention against an exact (float64) computation and against SDPA.

It replaces transformers' SDPA path for bf16 models on CPU in teacher-forced passes (many query
rows, causal + padding mask): its error must stay at SDPA's level, and a bf16 model must score
and decode the same with it as without it.
"""

import numpy as np
import torch

from core.scoring import cpu_attention
from core.scoring.backends import make_scorer
from core.scoring.base import Item
from core.scoring.models import load_model


class _Module(torch.nn.Module):
    is_causal = True


def exact_attention(q, k, v, mask):
    """Float64 attention with grouped K/V heads repeated to full size; mask True = attend."""
    groups = q.shape[1] // k.shape[1]
    k64 = k.double().repeat_interleave(groups, 1)
    v64 = v.double().repeat_interleave(groups, 1)
    scores = q.double() @ k64.transpose(-1, -2) * q.shape[-1] ** -0.5
    scores = scores.masked_fill(~mask, float("-inf"))
    return (torch.softmax(scores, -1) @ v64).transpose(1, 2)


def sdpa(q, k, v, mask):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    module = _Module()
    module.num_key_value_groups = q.shape[1] // k.shape[1]
    return sdpa_attention_forward(module, q, k, v, mask)[0]


def padded_mask(batch: int, q_len: int, k_len: int, pads: list[int]) -> torch.Tensor:
    """Left padding of `pads[b]` key positions per row, causal over the last q_len positions."""
    causal = torch.ones(q_len, k_len, dtype=torch.bool).tril(k_len - q_len)
    mask = causal[None, None].repeat(batch, 1, 1, 1)
    for b, pad in enumerate(pads):
        mask[b, :, :, :pad] = False
    return mask


def test_grouped_attention_is_as_accurate_as_sdpa():
    torch.manual_seed(0)
    q_len = 24
    batch, heads, kv_heads, dim, k_len = 4, 9, 3, 64, 80
    q = torch.randn(batch, heads, q_len, dim).bfloat16()
    k = torch.randn(batch, kv_heads, k_len, dim).bfloat16()
    v = torch.randn(batch, kv_heads, k_len, dim).bfloat16()
    mask = padded_mask(batch, q_len, k_len, pads=[0, 5, 17, 40])
    exact = exact_attention(q, k, v, mask)
    ours = cpu_attention._attention(_Module(), q, k, v, mask)[0]
    theirs = sdpa(q, k, v, mask)
    assert ours.shape == theirs.shape == exact.shape
    err_ours = (ours.double() - exact).abs().mean().item()
    err_sdpa = (theirs.double() - exact).abs().mean().item()
    assert err_ours < max(2 * err_sdpa, 2e-3), (err_ours, err_sdpa)
    # padding never leaks: changing padded keys and values changes nothing
    k2, v2 = k.clone(), v.clone()
    k2[3, :, :40], v2[3, :, :40] = 100.0, -100.0
    again = cpu_attention._attention(_Module(), q, k2, v2, mask)[0]
    assert torch.equal(again[3], ours[3])


def test_bf16_model_scores_and_decodes_the_same_with_grouped_attention(tiny_causal_dir, monkeypatch):
    lm = load_model(str(tiny_causal_dir), dtype="bfloat16", device="cpu")
    assert cpu_attention.applies(lm.model, lm.device, torch.bfloat16)
    stops = {lm.tokenizer.eos_token_id}
    rng = np.random.default_rng(0)
    vocab = lm.model.config.vocab_size
    prefixes = [tuple(rng.integers(5, vocab, size=n).tolist()) for n in (20, 37)]
    items = [Item(p, tuple(rng.integers(5, vocab, size=rng.integers(2, 9)).tolist()),
                  tuple(rng.integers(5, vocab, size=rng.integers(1, 6)).tolist())) for p in prefixes for _ in range(3)]

    def run(fast: bool):
        monkeypatch.setattr("core.scoring.torch_causal.FAST_ATTENTION", fast)
        scorer = make_scorer(lm, stops, batch_tokens=64)
        return scorer.score(items), scorer.decode(items, 6)

    fast_scores, fast_decoded = run(True)
    slow_scores, slow_decoded = run(False)
    assert lm.model.config._attn_implementation == "sdpa"  # the context manager restores it
    for a, b in zip(fast_scores, slow_scores):
        np.testing.assert_allclose(np.exp(a), np.exp(b), atol=0.02)
    agree = [a.tokens == b.tokens for a, b in zip(fast_decoded, slow_decoded)]
    assert sum(agree) >= len(agree) - 1  # bf16 near-ties may flip at most one greedy answer here
