"""The forward of a supported decoder on packed tokens, from the model's own modules.

The math is transformers' own (RMSNorm, rotary embedding from the model's own rotary module,
grouped-query attention, SiLU MLP), in the same precision steps, so bf16 results match its
forward to bf16 rounding and fp32 results to float tolerance (tests check both).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from core.scoring.packed.attention import Group, PrefixBank
from core.scoring.packed.decode_cache import DecodeCache

FAMILIES = {"llama", "mistral", "qwen2"}  # RMSNorm + rotary + GQA + SiLU-gated MLP, nothing else
LOGIT_ELEMENTS = 1 << 22  # logits per log-softmax chunk: large chunks spill the CPU cache
PREPACK_BYTES = 8 << 30   # bf16 weights up to this size get a oneDNN-packed copy (see PackedDecoder)


def supports_config(config) -> bool:
    """Whether a model of this config is a decoder this module reproduces exactly (known before
    the weights are loaded; `supports` also checks the modules)."""
    if getattr(config, "model_type", None) not in FAMILIES or getattr(config, "hidden_act", None) != "silu":
        return False
    if getattr(config, "pretraining_tp", 1) not in (1, None):
        return False
    if getattr(config, "sliding_window", None) and getattr(config, "use_sliding_window", True):
        return False
    return all(t == "full_attention" for t in (getattr(config, "layer_types", None) or []))


def supports(model) -> bool:
    """Whether `model` is a decoder this module reproduces exactly."""
    if not supports_config(model.config):
        return False
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if not layers or not hasattr(inner, "rotary_emb") or not hasattr(model, "lm_head"):
        return False
    attn = layers[0].self_attn
    return all(hasattr(attn, n) for n in ("q_proj", "k_proj", "v_proj", "o_proj")) and not hasattr(attn, "q_norm")


class PackedDecoder:
    """The forward of a supported decoder, on packed tokens, from the model's own modules.

    On CPU, a bf16 matrix product reorders its weight into oneDNN's blocked layout at every call;
    doing that once (`_prepack`) gives the same bits 10% faster on scoring batches and up to 2x
    faster on decoding steps, for one more copy of the weights (on CPUs whose oneDNN has bf16
    kernels: AVX-512 and newer).

    int8: the attention and MLP projections run through int8 products (core.scoring.int8), with
    an int8 copy of their weights; the LM head stays in the model's precision (it runs on answer
    positions only, and int8 there was measured slower and less exact)."""

    def __init__(self, model, int8: bool = False):
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
        self._int8: dict[int, torch.nn.Module] = self._quantize(model) if int8 else {}

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

    def _quantize(self, model) -> dict[int, torch.nn.Module]:
        from core.scoring.int8 import Int8Linear

        if self.dtype != torch.float32 or self.device.type != "cpu":
            raise ValueError("int8 products need fp32 weights on the CPU")
        return {id(m): Int8Linear.from_linear(m) for m in model.modules()
                if type(m) is torch.nn.Linear and m is not model.lm_head}

    @staticmethod
    def _packed_linear(module, x, weight):
        return torch.ops.mkldnn._linear_pointwise(x, weight, module.bias, "none", [], "")

    def linear(self, module, x: torch.Tensor) -> torch.Tensor:
        quantized = self._int8.get(id(module))
        if quantized is not None:
            return quantized(x)
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

    def step(self, tokens: torch.Tensor, cache: DecodeCache) -> torch.Tensor:
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

    def _attend_cached(self, q: torch.Tensor, cache: DecodeCache, index: int) -> torch.Tensor:
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
