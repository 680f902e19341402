"""int8 matrix products for CPUs without fast bf16.

On an AVX2-only CPU bf16 products run several times slower than fp32, while torch's int8
kernels (fbgemm / oneDNN: u8 activations x s8 weights, accumulated in int32) run about twice as
fast as fp32 (measured: benchmarks/RESULTS.md). `Int8Linear` keeps a linear layer's weights as
int8, one scale per output channel (symmetric, computed once from the fp32 weights), and
quantizes its input per call (dynamic: one scale per call from the input's range), so nothing
needs calibration data. Outputs are fp32.

Activations use 7 of their 8 bits (`REDUCE_RANGE`): AVX2 has no VNNI, its kernels add pairs of
u8 x s8 products in int16, which a full 8-bit range can overflow. Using the same range on every
CPU keeps int8 results the same whatever kernel a CPU picks.
"""

from __future__ import annotations

import warnings

import torch

REDUCE_RANGE = True


class Int8Linear(torch.nn.Module):
    """A drop-in for an fp32 `nn.Linear` at inference: int8 weights, dynamic int8 activations."""

    def __init__(self, packed, in_features: int, out_features: int):
        super().__init__()
        self.packed, self.in_features, self.out_features = packed, in_features, out_features

    @classmethod
    def from_linear(cls, linear: torch.nn.Linear) -> Int8Linear:
        weight = linear.weight.detach().float()
        scales = (weight.abs().amax(dim=1) / 127.0).clamp_min(1e-12).double()
        zero = torch.zeros(weight.shape[0], dtype=torch.long)
        with warnings.catch_warnings():  # quantized tensors are deprecated in torch, not yet removed: see README
            warnings.simplefilter("ignore", UserWarning)
            qweight = torch.quantize_per_channel(weight, scales, zero, 0, torch.qint8)
        bias = linear.bias.detach().float() if linear.bias is not None else None
        return cls(torch.ops.quantized.linear_prepack(qweight, bias), linear.in_features, linear.out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        out = torch.ops.quantized.linear_dynamic(x.reshape(-1, shape[-1]).float().contiguous(), self.packed,
                                                 REDUCE_RANGE)
        return out.view(*shape[:-1], self.out_features)


def available() -> str | None:
    """None when this torch build has the int8 kernels, else why not."""
    engines = getattr(torch.backends.quantized, "supported_engines", [])
    if not any(e in engines for e in ("x86", "fbgemm", "onednn")):
        return f"this torch build has no x86 int8 kernels (quantized engines: {engines})"
    if not all(hasattr(torch.ops.quantized, op) for op in ("linear_prepack", "linear_dynamic")):
        return "this torch build has no dynamic int8 linear (torch.ops.quantized.linear_dynamic)"
    return None
