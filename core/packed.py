"""A packed forward for Llama-family decoders: the scorer's fast path.

transformers runs a decoder on padded [batch, length] tensors and, per call, rebuilds masks,
rotary tables and caches it cannot know the structure of. Scoring knows that structure: every
row is a prompt prefix shared by many rows (its keys and values computed once, kept in a
`PrefixBank`) followed by the row's own tokens. So this module runs the same weights on
*packed* tokens: every row's tokens laid end to end, no padding in any matrix product, which
on a CPU is nearly all the time. Only attention sees rows: rows of like shape are grouped, each
group padded to its widest row and its prefixes fetched from the bank (`plan_attention`), and
one mask per group serves every layer.

Decoding keeps each row's prefix + tokens in a contiguous per-layer cache that grows in blocks
(`DecodeCache`): batched matrix products over a contiguous cache run 2-4x faster on CPU than
over a view into a larger preallocated one.

The math is transformers' own (RMSNorm, rotary embedding from the model's own rotary module,
grouped-query attention, SiLU MLP), in the same precision steps, so bf16 results match its
forward to bf16 rounding and fp32 results to float tolerance (tests check both).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

FAMILIES = {"llama", "mistral", "qwen2"}  # RMSNorm + rotary + GQA + SiLU-gated MLP, nothing else
GROUP_SLACK = 1.15   # a group's padded attention area may exceed its rows' own by this factor
GROUP_TOKENS = 4096  # query tokens per attention group at most (bounds the score tensor)
QUERY_CHUNK = 128    # rows longer than this attend in chunks (see _split_long)
KEY_ALIGN = 16       # key columns per group padded to a multiple of this: CPU softmax and products
                     # run ~1.3x faster on aligned rows than on ragged ones
MIN_ROOT = 8         # a head all prefixes share gets a pass of its own from this many tokens
CACHE_BLOCK = 32     # decode caches grow by this many positions at a time
LOGIT_ELEMENTS = 1 << 22  # logits per log-softmax chunk: large chunks spill the CPU cache
PREPACK_BYTES = 8 << 30   # bf16 weights up to this size get a oneDNN-packed copy (see PackedDecoder)


def supports(model) -> bool:
    """Whether `model` is a decoder this module reproduces exactly."""
    config = model.config
    if config.model_type not in FAMILIES or getattr(config, "hidden_act", None) != "silu":
        return False
    if getattr(config, "pretraining_tp", 1) not in (1, None):
        return False
    if getattr(config, "sliding_window", None) and getattr(config, "use_sliding_window", True):
        return False
    if any(t != "full_attention" for t in (getattr(config, "layer_types", None) or [])):
        return False
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if not layers or not hasattr(inner, "rotary_emb") or not hasattr(model, "lm_head"):
        return False
    attn = layers[0].self_attn
    return all(hasattr(attn, n) for n in ("q_proj", "k_proj", "v_proj", "o_proj")) and not hasattr(attn, "q_norm")


# --- the key/value store and attention plans --------------------------------------------------

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


# --- the decoder ------------------------------------------------------------------------------

class PackedDecoder:
    """The forward of a supported decoder, on packed tokens, from the model's own modules.

    On CPU, a bf16 matrix product reorders its weight into oneDNN's blocked layout at every call;
    doing that once (`_prepack`) gives the same bits 10% faster on scoring batches and up to 2x
    faster on decoding steps, for one more copy of the weights."""

    def __init__(self, model):
        config = model.config
        inner = model.model
        self.model = model
        self.embed, self.layers, self.norm, self.rotary = inner.embed_tokens, inner.layers, inner.norm, inner.rotary_emb
        self.lm_head = model.lm_head
        self.heads, self.kv_heads = config.num_attention_heads, config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        self.groups = self.heads // self.kv_heads
        self.scale = self.head_dim ** -0.5
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self._packed: dict[int, torch.Tensor] = self._prepack(model)

    def _prepack(self, model) -> dict[int, torch.Tensor]:
        linears = [m for m in model.modules() if type(m) is torch.nn.Linear]
        weight_bytes = sum(m.weight.numel() * m.weight.element_size() for m in linears)
        if (self.device.type != "cpu" or any(m.weight.dtype != torch.bfloat16 for m in linears)
                or weight_bytes > PREPACK_BYTES or not torch.backends.mkldnn.is_available()):
            return {}
        try:
            packed = {id(m): torch.ops.mkldnn._reorder_linear_weight(m.weight.detach()) for m in linears}
            probe = linears[0]
            x = torch.randn(3, probe.in_features, dtype=torch.bfloat16)
            if not torch.equal(self._packed_linear(probe, x, packed[id(probe)]), probe(x)):
                return {}
            return packed
        except (RuntimeError, AttributeError):  # a torch build without these oneDNN ops
            return {}

    @staticmethod
    def _packed_linear(module, x, weight):
        return torch.ops.mkldnn._linear_pointwise(x, weight, module.bias, "none", [], "")

    def linear(self, module, x: torch.Tensor) -> torch.Tensor:
        weight = self._packed.get(id(module))
        return module(x) if weight is None else self._packed_linear(module, x, weight)

    def bank(self, prefixes: Sequence[tuple[int, ...]], workspace: int) -> PrefixBank:
        return PrefixBank(prefixes, len(self.layers), self.kv_heads, self.head_dim, workspace, self.dtype, self.device)

    def _rms(self, x: torch.Tensor, norm) -> torch.Tensor:
        # transformers: weight * normalise(x in fp32).to(x.dtype); torch's fused kernel takes the
        # same steps and returns x.dtype
        return norm.weight * F.rms_norm(x, (x.shape[-1],), eps=norm.variance_epsilon)

    def _rope_tables(self, h: torch.Tensor, positions: torch.Tensor):
        """cos/sin for keys, and for queries with the attention scale folded in."""
        cos, sin = self.rotary(h[None], positions[None])
        cos, sin = cos[0][:, None, :], sin[0][:, None, :]
        return (cos * self.scale, sin * self.scale), (cos, sin)

    @staticmethod
    def _rotate(x: torch.Tensor, table) -> torch.Tensor:
        """x * cos + rotate_half(x) * sin, with the same roundings, in fewer passes."""
        cos, sin = table
        half = x.shape[-1] // 2
        out = x * cos
        out[..., :half] -= x[..., half:] * sin[..., :half]
        out[..., half:] += x[..., :half] * sin[..., half:]
        return out

    def _project(self, layer, h, q_table, k_table):
        attn = layer.self_attn
        x = self._rms(h, layer.input_layernorm)
        n = x.shape[0]
        q = self._rotate(self.linear(attn.q_proj, x).view(n, self.heads, self.head_dim), q_table)  # scaled
        k = self._rotate(self.linear(attn.k_proj, x).view(n, self.kv_heads, self.head_dim), k_table)
        v = self.linear(attn.v_proj, x).view(n, self.kv_heads, self.head_dim)
        return q, k, v

    def _mlp(self, layer, h):
        mlp = layer.mlp
        x = self._rms(h, layer.post_attention_layernorm)
        gate = F.silu(self.linear(mlp.gate_proj, x), inplace=True)
        h += self.linear(mlp.down_proj, gate.mul_(self.linear(mlp.up_proj, x)))
        return h

    def forward(self, ids: torch.Tensor, positions: torch.Tensor, plan: list[Group], bank: PrefixBank,
                kv_start: int) -> torch.Tensor:
        """Hidden states of packed tokens (before the final norm). Each layer's keys and values of
        these tokens are written to bank rows kv_start.. (a prefix's own rows, or the workspace)."""
        h = self.embed(ids)
        q_table, k_table = self._rope_tables(h, positions)
        end = kv_start + ids.shape[0]
        for index, layer in enumerate(self.layers):
            q, k, v = self._project(layer, h, q_table, k_table)
            keys, values = bank.keys[index], bank.values[index]
            keys[kv_start:end] = k
            values[kv_start:end] = v
            h += self.linear(layer.self_attn.o_proj, self._attend(q, keys, values, plan))
            h = self._mlp(layer, h)
        return h

    def _attend(self, q, bank_keys, bank_values, plan: list[Group]) -> torch.Tensor:
        n, kv, groups, dim = q.shape[0], self.kv_heads, self.groups, self.head_dim
        out = q.new_empty(n, self.heads * dim)
        for g in plan:
            rows, width, keys = g.rows, g.length, g.keys
            qg = q.index_select(0, g.gather).view(rows, width, kv, groups, dim).permute(0, 2, 3, 1, 4)
            qg = qg.reshape(rows, kv, groups * width, dim)
            # contiguous operands: batched products over strided views run much slower on CPU
            k = bank_keys.index_select(0, g.key_rows).view(rows, keys, kv, dim).permute(0, 2, 3, 1).contiguous()
            v = bank_values.index_select(0, g.key_rows).view(rows, keys, kv, dim).transpose(1, 2).contiguous()
            scores = torch.matmul(qg, k)
            scores.view(rows, kv, groups, width, keys).add_(g.mask)
            o = torch.matmul(torch.softmax(scores, -1), v).view(rows, kv, groups, width, dim)
            o = o.permute(0, 3, 1, 2, 4).reshape(rows * width, self.heads * dim)
            if g.dest is None:
                out.index_copy_(0, g.gather, o)
            else:
                out.index_copy_(0, g.dest, o.index_select(0, g.src))
        return out

    # --- outputs -------------------------------------------------------------------------------

    def final(self, h: torch.Tensor) -> torch.Tensor:
        return self._rms(h, self.norm)

    def answer_logprobs(self, h: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """log p(target) for final-normed hidden states, through the LM head, in fp32."""
        out = torch.empty(targets.shape[0], dtype=torch.float32, device=h.device)
        rows = max(16, LOGIT_ELEMENTS // self.lm_head.weight.shape[0])
        for start in range(0, targets.shape[0], rows):
            logits = self.linear(self.lm_head, h[start:start + rows])
            out[start:start + rows] = torch.log_softmax(logits, -1, dtype=torch.float32).gather(
                -1, targets[start:start + rows, None]).squeeze(-1)
        return out

    # --- decoding ------------------------------------------------------------------------------

    def step(self, tokens: torch.Tensor, cache: "DecodeCache") -> torch.Tensor:
        """One greedy step: each row's next-token logits after `tokens` [rows]."""
        h = self.embed(tokens)
        q_table, k_table = self._rope_tables(h, cache.positions)
        column = cache.append_column()
        for index, layer in enumerate(self.layers):
            q, k, v = self._project(layer, h, q_table, k_table)
            cache.keys[index][:, :, column] = k
            cache.values[index][:, :, column] = v
            h += self.linear(layer.self_attn.o_proj, self._attend_cached(q, cache, index))
            h = self._mlp(layer, h)
        cache.advance()
        return self.linear(self.lm_head, self.final(h))

    def _attend_cached(self, q: torch.Tensor, cache: "DecodeCache", index: int) -> torch.Tensor:
        """One query per row over its prefix (shared by the rows of one prompt, read once for
        all of them) and its own tokens, under one softmax."""
        rows, kv, groups, dim = q.shape[0], self.kv_heads, self.groups, self.head_dim
        q = q.view(rows, kv, groups, dim)
        scores = torch.matmul(q, cache.keys[index].transpose(-1, -2)).add_(cache.mask)
        if not cache.prefix_width:
            return torch.matmul(torch.softmax(scores, -1), cache.values[index]).view(rows, self.heads * dim)
        prompts, slots, width = cache.prompts, cache.slots, cache.prefix_width
        # queries laid out by prompt: [prompts, kv, slots * groups, dim]
        by_prompt = q.new_zeros(prompts * slots, kv, groups, dim).index_copy_(0, cache.slot_of_row, q)
        by_prompt = by_prompt.view(prompts, slots, kv, groups, dim).transpose(1, 2).reshape(prompts, kv, slots * groups, dim)
        prefix_scores = torch.matmul(by_prompt, cache.prefix_keys[index])  # [prompts, kv, slots * groups, width]
        prefix_scores = prefix_scores.view(prompts, kv, slots, groups, width).transpose(1, 2).reshape(prompts * slots, kv, groups, width)
        prefix_scores = prefix_scores.index_select(0, cache.slot_of_row).add_(cache.prefix_mask)
        probs = torch.softmax(torch.cat([prefix_scores, scores], -1), -1)
        out = torch.matmul(probs[..., width:], cache.values[index])
        prefix_probs = probs.new_zeros(prompts * slots, kv, groups, width).index_copy_(0, cache.slot_of_row, probs[..., :width])
        prefix_probs = prefix_probs.view(prompts, slots, kv, groups, width).transpose(1, 2).reshape(prompts, kv, slots * groups, width)
        prefix_out = torch.matmul(prefix_probs, cache.prefix_values[index])  # [prompts, kv, slots * groups, dim]
        prefix_out = prefix_out.view(prompts, kv, slots, groups, dim).transpose(1, 2).reshape(prompts * slots, kv, groups, dim)
        return out.add_(prefix_out.index_select(0, cache.slot_of_row)).view(rows, self.heads * dim)


class DecodeCache:
    """What a batch of rows being decoded attends to, per layer.

    Prefixes: each distinct prompt prefix once, [prompts, kv_heads, head_dim, width] keys
    (transposed for the score product) and [prompts, kv_heads, width, head_dim] values, padded
    to the longest (masked); rows are (prompt, slot) pairs. Suffixes: every row's own tokens
    (body, then what it generated), left-padded so all rows end at the same column, in
    contiguous [rows, kv_heads, capacity, head_dim] tensors that grow CACHE_BLOCK columns at a
    time; columns past the end are masked, so attention reads whole contiguous tensors (batched
    products over strided views run several times slower on CPU)."""

    def __init__(self, keys: list[torch.Tensor], values: list[torch.Tensor], lengths: torch.Tensor,
                 width: int, positions: torch.Tensor, prompt_of_row: list[int],
                 prefix_keys: list[torch.Tensor], prefix_values: list[torch.Tensor], prefix_lengths: list[int], dtype):
        self.keys, self.values = keys, values
        self.width = width                 # suffix columns in use
        self.positions = positions.clone()  # next position of each row
        self.lowest = torch.finfo(dtype).min
        device = positions.device
        capacity = keys[0].shape[2]
        column = torch.arange(capacity, device=device)
        valid = (column[None] >= width - lengths[:, None]) & (column[None] < width)
        self.mask = torch.zeros(len(lengths), 1, 1, capacity, dtype=dtype, device=device)
        self.mask.masked_fill_(~valid[:, None, None], self.lowest)
        self.prefix_keys, self.prefix_values = prefix_keys, prefix_values
        self.prefix_lengths = list(prefix_lengths)
        self._assign(prompt_of_row)

    def _assign(self, prompt_of_row: list[int]) -> None:
        """Slots of rows within their prompt, and each row's prefix mask."""
        self.prompt_of_row = list(prompt_of_row)
        self.prompts = len(self.prefix_lengths)
        self.prefix_width = self.prefix_keys[0].shape[-1] if self.prefix_keys else 0
        used: dict[int, int] = {}
        slot = []
        for p in prompt_of_row:
            slot.append(used.get(p, 0))
            used[p] = slot[-1] + 1
        self.slots = max(used.values(), default=1)
        device = self.positions.device
        self.slot_of_row = torch.tensor([p * self.slots + s for p, s in zip(prompt_of_row, slot)], device=device)
        column = torch.arange(self.prefix_width, device=device)
        lengths = torch.tensor([self.prefix_lengths[p] for p in prompt_of_row], device=device)
        self.prefix_mask = torch.zeros(len(prompt_of_row), 1, 1, self.prefix_width, dtype=self.mask.dtype, device=device)
        self.prefix_mask.masked_fill_((column[None] >= lengths[:, None])[:, None, None], self.lowest)

    def append_column(self) -> int:
        if self.width == self.keys[0].shape[2]:
            self._grow(CACHE_BLOCK)
        self.mask[..., self.width] = 0
        return self.width

    def advance(self) -> None:
        self.width += 1
        self.positions = self.positions + 1

    def _grow(self, extra: int) -> None:
        pad = (0, 0, 0, extra)
        self.keys = [F.pad(k, pad) for k in self.keys]
        self.values = [F.pad(v, pad) for v in self.values]
        self.mask = F.pad(self.mask, (0, extra), value=self.lowest)

    def select(self, rows: torch.Tensor) -> None:
        """Keep only `rows` (and the prefixes they use), and drop the leading suffix columns that
        are padding for all of them."""
        self.keys = [k.index_select(0, rows) for k in self.keys]
        self.values = [v.index_select(0, rows) for v in self.values]
        self.mask = self.mask.index_select(0, rows)
        self.positions = self.positions.index_select(0, rows)
        lead = int((self.mask[:, 0, 0, :self.width] != 0).all(0).long().cumprod(0).sum())
        if lead:
            self.keys = [k[:, :, lead:].contiguous() for k in self.keys]
            self.values = [v[:, :, lead:].contiguous() for v in self.values]
            self.mask = self.mask[..., lead:].contiguous()
            self.width -= lead
        prompt_of_row = [self.prompt_of_row[r] for r in rows.tolist()]
        kept = sorted(set(prompt_of_row))
        if len(kept) < self.prompts:
            index = torch.tensor(kept, device=self.positions.device)
            self.prefix_keys = [k.index_select(0, index) for k in self.prefix_keys]
            self.prefix_values = [v.index_select(0, index) for v in self.prefix_values]
            self.prefix_lengths = [self.prefix_lengths[p] for p in kept]
            renumber = {p: i for i, p in enumerate(kept)}
            prompt_of_row = [renumber[p] for p in prompt_of_row]
        self._assign(prompt_of_row)
