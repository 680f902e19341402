"""The default backend: taskmap's own scorers on torch, for any causal or seq2seq model.

Decoders that `core.scoring.packed` reproduces (Llama, Mistral without a sliding window,
Qwen2) run on CPU through the packed forward, where it was measured faster; everything else,
and every model on a GPU, goes through transformers' own forward.
"""

from __future__ import annotations

from core.scoring.backends import Backend, register


def build(loaded, stop_ids: set[int], batch_tokens: int = 0, share_prefix: bool = True, packed: bool | None = None):
    """`packed` forces the packed path on or off (None: by device and model); `share_prefix`
    False runs every prompt whole (no prefix reuse: for tests)."""
    import torch

    from core.scoring.packed.forward import supports
    from core.scoring.torch_causal import CausalScorer
    from core.scoring.torch_seq2seq import Seq2SeqScorer

    if not batch_tokens:
        batch_tokens = 32768 if loaded.device.type == "cuda" else 4096
    pad_id = loaded.tokenizer.pad_token_id if loaded.tokenizer.pad_token_id is not None else min(stop_ids)
    common = dict(pad_id=pad_id, stop_ids=stop_ids, batch_tokens=batch_tokens)
    run = loaded.run
    if packed is None:
        packed = share_prefix and loaded.device.type == "cpu"
    if not loaded.is_seq2seq and packed and supports(loaded.model):
        from core.scoring.packed.scorer import PackedScorer

        return PackedScorer(loaded.model, precision=run, **common)
    if "int8" in (run.linear, run.scoring):
        raise ValueError(f"{loaded.name}: int8 products run on the packed CPU path only (Llama-family decoders)")
    autocast = getattr(torch, run.scoring) if run.scoring else None  # teacher forcing under autocast
    if loaded.is_seq2seq:
        return Seq2SeqScorer(loaded.model, score_autocast=autocast, **common)
    return CausalScorer(loaded.model, share_prefix=share_prefix, score_autocast=autocast, **common)


register(Backend("torch", "taskmap's own scorers on torch (packed forward for Llama-family models on CPU)", build))
