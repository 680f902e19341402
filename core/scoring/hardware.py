"""What this machine computes fast, as the kernels torch will run see it.

The CPU's own flags (/proc/cpuinfo, or torch's probes) say what the hardware can do; the kernel
libraries may be told to use less (ATEN_CPU_CAPABILITY for torch's own kernels, ONEDNN_MAX_CPU_ISA
for oneDNN, FBGEMM_ENABLE_INSTRUCTIONS for int8 products). Precision choices follow what the
kernels will actually use, so capping them (to emulate an AVX2-only CPU on a newer one, say)
gives exactly the choices that CPU would get.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from functools import lru_cache

FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "avx_vnni")
# oneDNN ISA names, lowest to highest, and the first one with native bf16 products
CAPS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS", "FBGEMM_ENABLE_INSTRUCTIONS")
ONEDNN_ISAS = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI",
               "AVX512_CORE_BF16", "AVX10_1_512", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX10_1_512_AMX",
               "AVX10_1_512_AMX_FP16", "AVX512_CORE_AMX_FP16", "AVX10_2_512", "AVX10_2_512_AMX_2", "ALL", "DEFAULT")


@dataclass(frozen=True)
class CpuInfo:
    model: str
    flags: frozenset[str]       # FLAGS the hardware has
    usable: frozenset[str]      # FLAGS the kernels will use (caps applied)
    aten: str                   # torch's own kernels: "AVX512", "AVX2", "DEFAULT", ...
    onednn_cap: str | None      # ONEDNN_MAX_CPU_ISA, if set
    threads: int                # torch's intra-op threads
    cores: int                  # CPUs this process may run on
    caps: tuple[tuple[str, str], ...] = ()  # the kernel-library caps set in the environment

    @property
    def kind(self) -> str:
        """"AVX512-BF16", "AVX-512" (no bf16), "AVX2" or "other": the kinds taskmap measured."""
        if {"avx512_bf16"} <= self.usable or {"amx_bf16"} <= self.usable:
            return "AVX512-BF16"
        if "avx512f" in self.usable:
            return "AVX-512"
        if {"avx2", "fma"} <= self.usable:
            return "AVX2"
        return "other"

    @property
    def fast_bf16(self) -> bool:
        return self.kind == "AVX512-BF16"


def _cpuinfo() -> tuple[str, set[str]]:
    model, flags = platform.processor() or "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model in ("unknown CPU", "", platform.processor()):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    return model, flags


def _onednn_allows(cap: str | None, isa: str) -> bool:
    if not cap:
        return True
    cap = cap.upper()
    if cap in ("ALL", "DEFAULT") or cap not in ONEDNN_ISAS:
        return True
    return ONEDNN_ISAS.index(cap) >= ONEDNN_ISAS.index(isa)


@lru_cache(maxsize=1)
def cpu_info() -> CpuInfo:
    import torch

    model, raw = _cpuinfo()
    hardware = {f for f in FLAGS if f in raw}
    if not raw:  # no /proc/cpuinfo (macOS, Windows): ask torch
        if getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)():
            hardware |= {"avx512f", "avx512bw", "avx512_bf16"}
        if getattr(torch.cpu, "_is_avx512_vnni_supported", lambda: False)():
            hardware |= {"avx512f", "avx512_vnni"}
        if getattr(torch.cpu, "_is_avx2_supported", lambda: False)():
            hardware |= {"avx2", "fma"}
    aten = torch.backends.cpu.get_cpu_capability()
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA")
    usable = set(hardware)
    if "AVX512" not in aten.upper() or not _onednn_allows(cap, "AVX512_CORE"):
        usable -= {f for f in usable if f.startswith(("avx512", "amx"))}
    if not _onednn_allows(cap, "AVX512_CORE_BF16"):
        usable -= {"avx512_bf16", "amx_bf16"}
    if not _onednn_allows(cap, "AVX512_CORE_AMX"):
        usable -= {"amx_bf16", "amx_int8"}
    if aten.upper() in ("DEFAULT", "NO AVX") or not _onednn_allows(cap, "AVX2"):
        usable -= {"avx2", "fma", "avx_vnni"}
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    caps = tuple((k, os.environ[k]) for k in CAPS if os.environ.get(k))
    return CpuInfo(model, frozenset(hardware), frozenset(usable), aten, cap, torch.get_num_threads(), cores, caps)


# --- measured speed -------------------------------------------------------------------------------

def matmul_rates(seconds: float = 0.3, rows: int = 512, shape: tuple[int, int] = (576, 1536)) -> dict[str, float]:
    """GFLOP/s of one linear layer (SmolLM2's MLP shape by default) on the CPU, per precision:
    fp32, bf16 and int8 (dynamic activations, int8 weights: what `--dtype int8` runs). Each is
    timed for about `seconds` after a warm-up."""
    import time

    import torch

    from core.scoring.int8 import Int8Linear

    torch.manual_seed(0)
    layer = torch.nn.Linear(*shape)
    x = torch.randn(rows, shape[0])
    candidates = {"float32": (layer, x), "bfloat16": (torch.nn.Linear(*shape).to(torch.bfloat16), x.bfloat16()),
                  "int8": (Int8Linear.from_linear(layer), x)}
    rates = {}
    with torch.inference_mode():
        for name, (module, inputs) in candidates.items():
            module(inputs)
            calls, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                module(inputs)
                calls += 1
            elapsed = time.perf_counter() - start
            rates[name] = 2 * rows * shape[0] * shape[1] * calls / elapsed / 1e9
    return rates
