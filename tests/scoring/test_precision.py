"""What each --dtype means on each kind of CPU (core.scoring.precision), what this machine's kernels
can use (core.scoring.hardware), and the int8 products behind `int8` / `mixed` on CPUs without fast
bf16 (core.scoring.int8). The choice is a pure function of the CPU's kind, so every kind's choice
is checked on every machine; what this machine itself gets is checked against its own kind."""

import os
import subprocess
import sys

import pytest
import torch

from core.scoring.hardware import CpuInfo, cpu_info
from core.scoring.int8 import Int8Linear
from core.scoring.precision import AUTO_CPU, resolve_precision
from tests.conftest import REPO

CPU = torch.device("cpu")


def fake_cpu(kind: str) -> CpuInfo:
    flags = {"AVX512-BF16": {"avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16"},
             "AVX-512": {"avx2", "fma", "avx512f", "avx512bw", "avx512_vnni"},
             "AVX2": {"avx2", "fma"}, "other": set()}[kind]
    return CpuInfo(f"a {kind} CPU", frozenset(flags), frozenset(flags), "AVX2", None, 2, 2)


@pytest.mark.parametrize("kind, packed, auto, mixed", [
    ("AVX512-BF16", True, "bfloat16", "mixed-bfloat16"),
    ("AVX512-BF16", False, "bfloat16", "mixed-bfloat16"),
    ("AVX-512", True, "float32", "float32"),
    ("AVX-512", False, "float32", "float32"),
    ("AVX2", True, "float32", "float32"),
    ("AVX2", False, "float32", "float32"),
    ("other", True, "float32", "float32"),
])
def test_auto_and_mixed_on_each_cpu_kind(kind, packed, auto, mixed):
    cpu = fake_cpu(kind)
    assert cpu.kind == kind
    chosen = resolve_precision("auto", CPU, packed=packed, cpu=cpu)
    assert chosen.name == auto and chosen.reason  # every choice says why
    assert resolve_precision("mixed", CPU, packed=packed, cpu=cpu).name == mixed
    # mixed always decodes with fp32 weights; only the teacher-forced passes change precision
    assert resolve_precision("mixed", CPU, packed=packed, cpu=cpu).weights == "float32"
    assert resolve_precision("float32", CPU, packed=packed, cpu=cpu).name == "float32"


def test_a_mixed_precision_can_be_named_whatever_the_cpu():
    for kind in ("AVX512-BF16", "AVX2"):
        assert resolve_precision("mixed-int8", CPU, packed=True, cpu=fake_cpu(kind)).name == "mixed-int8"
        assert resolve_precision("mixed-bfloat16", CPU, packed=True, cpu=fake_cpu(kind)).name == "mixed-bfloat16"


def test_int8_is_for_the_packed_cpu_path_only():
    run = resolve_precision("int8", CPU, packed=True, cpu=fake_cpu("AVX2"))
    assert (run.name, run.weights, run.linear, run.p0_from_decode) == ("int8", "float32", "int8", True)
    with pytest.raises(ValueError, match="packed CPU path"):
        resolve_precision("int8", CPU, packed=False, cpu=fake_cpu("AVX2"))
    with pytest.raises(ValueError, match="CPUs only"):
        resolve_precision("int8", torch.device("cuda"), packed=True)


def test_this_machine_gets_what_its_kind_gets():
    cpu = cpu_info()
    choice, _ = AUTO_CPU[cpu.kind]
    auto = resolve_precision("auto", CPU, packed=True)
    assert auto.name == choice
    assert cpu.usable <= cpu.flags


def test_kernel_caps_make_the_cpu_look_like_an_avx2_one():
    """ATEN_CPU_CAPABILITY / ONEDNN_MAX_CPU_ISA caps are what the kernels will use: with them, a
    newer CPU is an AVX2 CPU to taskmap (this is how its choices were measured on an AVX2 kind)."""
    if "avx2" not in cpu_info().flags:
        pytest.skip(f"needs a CPU with AVX2 (this one: {cpu_info().model}, flags {sorted(cpu_info().flags)})")
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
    code = "from core.scoring.hardware import cpu_info; c = cpu_info(); print(c.kind, c.fast_bf16)"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["AVX2", "False"]


def test_int8_linear_is_close_to_fp32_and_keeps_shapes():
    torch.manual_seed(0)
    layer = torch.nn.Linear(96, 64)
    quantized = Int8Linear.from_linear(layer)
    x = torch.randn(3, 7, 96)
    with torch.inference_mode():
        exact, approx = layer(x), quantized(x)
    assert approx.shape == exact.shape and approx.dtype == torch.float32
    relative = (approx - exact).norm() / exact.norm()
    assert relative < 0.03  # 8-bit weights per channel, 7-bit activations per call
    assert not torch.equal(approx, exact)  # it really is another computation
