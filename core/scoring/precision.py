"""What each `--dtype` means on this machine, and what `auto` picks there and why.

    float32 / bfloat16 / float16  the weights in that type; decoding and teacher forcing in it
    int8     every linear layer through int8 products (core.scoring.int8), decoding and teacher
             forcing alike; the weights stay fp32 for everything else (CPU, packed path only)
    mixed    fp32 weights and greedy decoding (the predictions are exactly the full-precision
             model's), teacher forcing in the device's fast reduced precision: bf16 on GPUs and on
             CPUs with AVX512-BF16, fp32 elsewhere (int8 teacher forcing was measured too far from
             fp32 to stand in for it); mixed-bfloat16 / mixed-int8 ask for one whatever the device
    auto     per device and CPU kind, the fastest choice whose PU ranks agree with plain fp32 at
             Spearman >= 0.95 on the NIV2 benchmark pool (benchmarks/RESULTS.md): AUTO_CPU below

Greedy decoding is what precision moves most (a prediction that flips changes every P_j of
its instance), so every reduced choice states how its PU ranks and predictions agree with fp32
in the README, as measured. `taskmap doctor` prints what this machine gets and why.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.scoring.hardware import CpuInfo, cpu_info

# auto on CPU, by the kind of CPU the kernels see (core.scoring.hardware), for models the packed
# path runs; measured on the NIV2 benchmark pool with SmolLM2-135M (benchmarks/RESULTS.md).
AUTO_CPU = {
    "AVX512-BF16": ("bfloat16", "bf16 products run ~2x fp32 here; PU Spearman 0.957 vs fp32, 10.1x plain"),
    "AVX-512": ("float32", "no bf16 units (bf16 products run slower than fp32); int8 products are faster, but "
                           "their PU ranks agree with fp32 at Spearman 0.71 (int8 teacher forcing) and 0.15 (int8 "
                           "throughout) on the benchmark pool, below 0.95"),
    "AVX2": ("float32", "no bf16 units (bf16 products ~200x slower than fp32 with AVX2 kernels); int8 teacher "
                        "forcing is 1.2x faster but its PU ranks agree with fp32 at Spearman 0.71, below 0.95; "
                        "fp32 is 4.3x plain"),
    "other": ("float32", "no fast reduced precision is known for this CPU"),
}


@dataclass(frozen=True)
class Precision:
    """How a model runs. weights: the dtype it is loaded in (decoding runs in it). linear:
    "int8" when its linear layers run through int8 products. scoring: the teacher-forced passes'
    precision when it differs from decoding's ("bfloat16", "float16" or "int8"), else None.
    reason: why, in words (for `taskmap doctor` and manifests)."""

    weights: str
    linear: str = "native"
    scoring: str | None = None
    reason: str = ""

    @property
    def name(self) -> str:
        """What cache keys and manifests record: "float32", "bfloat16", "int8", "mixed-bfloat16"..."""
        own = "int8" if self.linear == "int8" else self.weights
        return f"mixed-{self.scoring}" if self.scoring else own

    @property
    def torch_dtype(self) -> torch.dtype:
        return getattr(torch, self.weights)

    @property
    def p0_from_decode(self) -> bool:
        """Whether decoding and teacher forcing share a precision, so P_0 comes from the decode."""
        return self.scoring is None


def gpu_half() -> str:
    return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"


def resolve_precision(dtype: str, device: torch.device, *, packed: bool, cpu: CpuInfo | None = None) -> Precision:
    """The Precision of `--dtype` on `device`. packed: whether the model runs through the packed
    CPU path (Llama-family decoders), the only one with int8 products."""
    if device.type != "cpu":
        half = gpu_half() if device.type == "cuda" else "float32"
        if dtype in ("int8", "mixed-int8"):
            raise ValueError(f"--dtype {dtype} runs on CPUs only (int8 products of torch's x86 kernels)")
        if dtype == "mixed-bfloat16":
            return Precision("float32", scoring="bfloat16", reason="asked for")
        if dtype == "auto":
            return Precision(half, reason=f"{device.type}: {half} is its fast precision")
        if dtype == "mixed":
            return Precision("float32", scoring=half if half != "float32" else None,
                             reason=f"fp32 decoding, {half} teacher forcing")
        return Precision(dtype, reason="asked for")
    cpu = cpu or cpu_info()
    if dtype in ("int8", "mixed-int8"):
        problem = _int8_problem(packed)
        if problem:
            raise ValueError(f"--dtype {dtype}: {problem}")
        if dtype == "mixed-int8":
            return Precision("float32", scoring="int8", reason="asked for")
        return Precision("float32", linear="int8", reason="asked for")
    if dtype == "mixed-bfloat16":
        return Precision("float32", scoring="bfloat16", reason="asked for")
    if dtype == "mixed":
        return _mixed_on_cpu(cpu, packed)
    if dtype == "auto":
        choice, why = AUTO_CPU[cpu.kind]
        return Precision(choice, reason=f"{cpu.kind} CPU: {why}")
    return Precision(dtype, reason="asked for")


def _mixed_on_cpu(cpu: CpuInfo, packed: bool) -> Precision:
    if cpu.fast_bf16:
        return Precision("float32", scoring="bfloat16", reason=f"{cpu.kind} CPU: fp32 decoding, bf16 teacher forcing")
    return Precision("float32", reason=f"{cpu.kind} CPU has no fast bf16, and int8 teacher forcing (--dtype mixed-int8) "
                                       "agrees with fp32 at PU Spearman 0.71 only: fp32 throughout")


def _int8_problem(packed: bool) -> str | None:
    from core.scoring.int8 import available

    if not packed:
        return "int8 products are used by the packed CPU path only (Llama-family decoders)"
    return available()
