"""Stage 2, token ids to scores: a model's greedy answer to each prompt and its probability under
every perturbed prompt, cached by content (METHOD.md §3).

    models.py        loading a model (the built-in default, local dirs, Hub ids), its precision and fingerprint
    base.py          the Scorer contract (Item, Decoded, decode / score) and the greedy loop every scorer shares
    backends/        scorers by name (`--backend`); each module registers the backends it offers
    torch_causal.py  decoder-only models through transformers' forward, prefix keys and values reused
    torch_seq2seq.py encoder-decoder models (T5)
    packed/          the packed forward for Llama-family decoders on CPU (no padding in any matrix product)
    cpu_attention.py grouped bf16 attention for transformers' forward on CPU
    engine.py        a task set end to end: packs, cache lookups, decode + teacher-force, per-sequence rows
    store.py         the score cache: keys, atomic per-pack shards, locks
    uncertainty.py   PU, PP and perplexity from per-sequence rows
"""
