"""A faster attention for teacher-forced passes of bf16 models on CPU.

On CPU, bf16 `scaled_dot_product_attention` with a padding mask (which every shared-prefix
batch has) runs at ~110 GFLOP/s and first copies grouped K/V heads to full size. This version
keeps grouped-query heads grouped (queries of one K/V head are stacked, no copy) and runs the
softmax in bf16, the precision transformers' own eager attention ends at; it is 2-2.5x faster
on scoring shapes, and agrees with an fp32 computation as closely as SDPA does (mean |dP| 0.003
on real tasks with both). Single-token decoding steps, where SDPA is as fast, and anything else
it does not handle go to SDPA.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

NAME = "taskmap_gqa"
_registered = False


def _attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if (dropout and module.training) or kwargs.get("softcap") is not None or kwargs.get("sliding_window") \
            or kwargs.get("position_bias") is not None or query.shape[-1] != value.shape[-1] or query.shape[2] == 1:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    batch, heads, q_len, dim = query.shape
    kv_heads, k_len = key.shape[1], key.shape[2]
    groups = heads // kv_heads
    scale = scaling if scaling is not None else dim ** -0.5
    scores = torch.matmul(query.reshape(batch, kv_heads, groups * q_len, dim) * scale, key.transpose(-1, -2))
    scores = scores.view(batch, kv_heads, groups, q_len, k_len)
    # a finite minimum, not -inf: rows that are all padding give finite garbage instead of NaN,
    # which would otherwise leak into real rows through 0 * NaN in the value product
    lowest = torch.finfo(scores.dtype).min
    if attention_mask is None:
        if q_len > 1 and getattr(module, "is_causal", True):
            causal = torch.ones(q_len, k_len, dtype=torch.bool, device=query.device).tril(k_len - q_len)
            scores.masked_fill_(~causal, lowest)
    elif attention_mask.dtype == torch.bool:
        scores.masked_fill_(~attention_mask[:, :, None, :, -k_len:], lowest)
    else:
        scores.add_(attention_mask[:, :, None, :, -k_len:])
    probs = torch.softmax(scores, -1)
    out = torch.matmul(probs.view(batch, kv_heads, groups * q_len, k_len), value)
    return out.view(batch, heads, q_len, dim).transpose(1, 2).contiguous(), None


def _register() -> None:
    global _registered
    if not _registered:
        from transformers import AttentionInterface
        from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

        AttentionInterface.register(NAME, _attention)
        ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, sdpa_mask)
        _registered = True


def applies(model, device: torch.device, dtype: torch.dtype | None) -> bool:
    """Only for decoder-only models running bf16 on CPU whose attention goes through the interface."""
    return (device.type == "cpu" and dtype == torch.bfloat16 and not model.config.is_encoder_decoder
            and getattr(model.config, "_attn_implementation", None) == "sdpa")


@contextmanager
def grouped_attention(model):
    """Use the grouped bf16 attention inside the block, the model's own outside it."""
    _register()
    previous = model.config._attn_implementation
    model.set_attn_implementation(NAME)
    try:
        yield
    finally:
        model.set_attn_implementation(previous)
