"""Where a packed pass's rows find their keys: the prefix bank, and attention plans.

A `PrefixBank` holds, per layer, the keys and values of a chunk's prompt prefixes, followed by a
workspace where a pass writes its own tokens' keys and values. `plan_attention` groups the rows
of a pass by shape and builds, once per pass, the index tensors and masks every layer uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

GROUP_SLACK = 1.15   # a group's padded attention area may exceed its rows' own by this factor
GROUP_TOKENS = 4096  # query tokens per attention group at most (bounds the score tensor)
QUERY_CHUNK = 128    # rows longer than this attend in chunks (see _split_long)
KEY_ALIGN = 16       # key columns per group padded to a multiple of this: CPU softmax and products
                     # run ~1.3x faster on aligned rows than on ragged ones
MIN_ROOT = 8         # a head all prefixes share gets a pass of its own from this many tokens


class PrefixBank:
    """Per layer, the keys and values of a chunk's prompt prefixes ([rows, kv_heads, head_dim]),
    followed by a workspace where a pass writes its own tokens' keys and values. Attention then
    fetches any row's keys (its prefix, then itself) with one gather from one tensor.

    Prompts of one template start alike (chat header, "Definition:"): the `root`, the longest
    head all prefixes share, is stored once, and each prefix stores only what follows it."""

    def __init__(self, prefixes: Sequence[tuple[int, ...]], layers: int, kv_heads: int, head_dim: int,
                 workspace: int, dtype, device):
        self.root = _common_head(prefixes) if len(prefixes) > 1 else ()
        self.spans: dict[tuple[int, ...], tuple[int, int]] = {}
        size = len(self.root)
        for p in prefixes:
            if p not in self.spans:
                self.spans[p] = (size, len(p) - len(self.root))
                size += len(p) - len(self.root)
        self.size = size  # rows holding prefixes; the workspace follows
        shape = (size + workspace, kv_heads, head_dim)
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(layers)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(layers)]

    def rows(self, prefix: tuple[int, ...]) -> tuple[range, ...]:
        """The bank rows of a prefix's keys, in order."""
        if not prefix:
            return ()
        if prefix == self.root:
            return (range(len(self.root)),)
        start, n = self.spans[prefix]
        return (range(len(self.root)), range(start, start + n)) if self.root else (range(start, start + n),)


def _common_head(prefixes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    """The longest head shared by all prefixes, if it is worth a pass of its own; each prefix
    keeps at least one token of its own."""
    first = min(prefixes, key=len)
    n = len(first) - 1
    for p in prefixes:
        n = min(n, next((i for i, (a, b) in enumerate(zip(first, p)) if a != b), n))
    return first[:n] if n >= MIN_ROOT else ()


@dataclass(frozen=True)
class Segment:
    """One row of a packed pass: `length` tokens from `offset` in the pass, attending to the
    bank rows `prefix` (its prompt prefix, possibly none) and causally to itself."""


    offset: int
    length: int
    prefix: tuple[range, ...] = ()

    @property
    def prefix_length(self) -> int:
        return sum(len(r) for r in self.prefix)


@dataclass
class Group:
    """Rows of like shape, attended together: queries padded to `length`, keys to `keys`."""

    rows: int
    length: int
    keys: int
    gather: torch.Tensor          # [rows * length] pass token of each query slot (padding -> 0)
    key_rows: torch.Tensor        # [rows * keys] bank row of each key slot (padding -> row 0, masked)
    mask: torch.Tensor            # [rows, 1, 1, length, keys] additive
    dest: torch.Tensor | None     # pass token of each real query slot (None: every slot is real)
    src: torch.Tensor | None      # the slots those come from


def _group_segments(segments: Sequence[Segment]) -> list[list[int]]:
    """Segments of like shape together, so padding each group to its widest row wastes little."""
    order = sorted(range(len(segments)), key=lambda i: (segments[i].length, segments[i].prefix_length, i))
    groups: list[list[int]] = []
    current: list[int] = []
    own = width = prefix = 0
    for i in order:
        s = segments[i]
        n, p = s.length, s.prefix_length
        w, pw = max(width, n), max(prefix, p)
        area = own + n * (p + n)
        if current and ((len(current) + 1) * w * (pw + w) > GROUP_SLACK * area or (len(current) + 1) * w > GROUP_TOKENS):
            groups.append(current)
            current, w, pw, area = [], n, p, n * (p + n)
        current.append(i)
        own, width, prefix = area, w, pw
    if current:
        groups.append(current)
    return groups


def _split_long(segments: Sequence[Segment], kv_start: int) -> list[Segment]:
    """Long rows as chunks of QUERY_CHUNK queries, each attending to the row's prefix and the
    chunks before it (already in the bank: a layer writes its keys before it attends), so the
    causal mask wastes one chunk's triangle instead of the whole row's."""
    out: list[Segment] = []
    for s in segments:
        if s.length <= QUERY_CHUNK:
            out.append(s)
            continue
        for start in range(0, s.length, QUERY_CHUNK):
            earlier = (range(kv_start + s.offset, kv_start + s.offset + start),) if start else ()
            out.append(Segment(s.offset + start, min(QUERY_CHUNK, s.length - start), s.prefix + earlier))
    return out


def plan_attention(segments: Sequence[Segment], kv_start: int, device, dtype) -> list[Group]:
    """Index tensors and masks of every attention group of a packed pass whose tokens' keys sit
    at bank rows kv_start + token (built once per pass, used by every layer)."""
    lowest = torch.finfo(dtype).min
    plans = []
    segments = _split_long(segments, kv_start)
    for members in _group_segments(segments):
        rows = [segments[i] for i in members]
        n, width, prefix = len(rows), max(s.length for s in rows), max(s.prefix_length for s in rows)
        keys = -(-(prefix + width) // KEY_ALIGN) * KEY_ALIGN
        gather = torch.zeros(n, width, dtype=torch.long)
        real = torch.zeros(n, width, dtype=torch.bool)
        key_rows = torch.zeros(n, keys, dtype=torch.long)
        allowed = torch.zeros(n, width, keys, dtype=torch.bool)
        allowed[:, :, prefix:prefix + width] = torch.ones(width, width, dtype=torch.bool).tril()
        for r, s in enumerate(rows):
            own = torch.arange(s.offset, s.offset + s.length)
            gather[r, :s.length] = own
            real[r, :s.length] = True
            if s.prefix:
                key_rows[r, :s.prefix_length] = torch.cat([torch.arange(span.start, span.stop) for span in s.prefix])
                allowed[r, :, :s.prefix_length] = True
            key_rows[r, prefix:prefix + s.length] = own + kv_start
        mask = torch.zeros(n, 1, 1, width, keys, dtype=dtype)
        mask.masked_fill_(~allowed[:, None, None], lowest)
        flat_real = real.view(-1)
        dense = bool(flat_real.all())
        src = None if dense else flat_real.nonzero().squeeze(-1)
        plans.append(Group(n, width, keys, gather.view(-1).to(device), key_rows.view(-1).to(device), mask.to(device),
                           None if dense else gather.view(-1)[src].to(device), None if dense else src.to(device)))
    return plans
