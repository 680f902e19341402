"""A packed forward for Llama-family decoders: the CPU scorer's fast path.

transformers runs a decoder on padded [batch, length] tensors and, per call, rebuilds masks,
rotary tables and caches it cannot know the structure of. Scoring knows that structure: every
row is a prompt prefix shared by many rows (its keys and values computed once, kept in a
`PrefixBank`) followed by the row's own tokens. So this package runs the same weights on
*packed* tokens: every row's tokens laid end to end, no padding in any matrix product, which
on a CPU is nearly all the time. Only attention sees rows: rows of like shape are grouped, each
group padded to its widest row and its prefixes fetched from the bank (`plan_attention`), and
one mask per group serves every layer.

Decoding keeps each row's prefix + tokens in a contiguous per-layer cache that grows in blocks
(`DecodeCache`): batched matrix products over a contiguous cache run 2-4x faster on CPU than
over a view into a larger preallocated one.

    attention.py     the prefix bank and the attention plan of a packed pass
    forward.py       the decoder's layers on packed tokens, and one decoding step
    decode_cache.py  what rows being decoded attend to
    scorer.py        the Scorer that schedules packed passes: prefixes, teacher forcing, decoding
"""
