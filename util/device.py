"""Choosing the compute device from --device and --gpu_ids, and the precision for --precision auto."""

import os
from typing import List, Mapping, Optional

import torch

from util.errors import UserError


def select_device(choice: str, gpu_ids: List[int]) -> torch.device:
    """auto: the first id in --gpu_ids if CUDA is present, else CPU; --gpu_ids -1 means CPU."""
    if choice == "cpu" or (choice == "auto" and (not gpu_ids or not torch.cuda.is_available())):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is visible to PyTorch; use --device auto or --device cpu")
    index = gpu_ids[0] if gpu_ids else 0
    if index >= torch.cuda.device_count():
        raise UserError(f"--gpu_ids {index}: only {torch.cuda.device_count()} CUDA device(s) visible")
    return torch.device("cuda", index)


PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")  # --precision of train.py and test.py


def cpu_computes_bf16_natively(environ: Optional[Mapping[str, str]] = None) -> bool:
    """True when this CPU runs bf16 convolutions in hardware (AVX512-BF16 or AMX) and PyTorch is
    allowed to use them. ATEN_CPU_CAPABILITY below AVX512 or ONEDNN_MAX_CPU_ISA below
    AVX512_CORE_BF16 (the variables that cap the kernels, and that emulate a lesser CPU) make it
    False: bf16 is then emulated in software, many times slower than fp32. `environ`: os.environ."""
    environ = os.environ if environ is None else environ
    try:
        cpuid = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    except AttributeError:  # private helpers; older or newer torch may lack them
        return False
    isa = environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper()
    onednn_allows = isa in ("", "ALL", "DEFAULT") or isa.startswith(("AVX512_CORE_BF16", "AVX512_CORE_AMX",
                                                                     "AVX10"))
    return bool(cpuid) and torch.backends.cpu.get_cpu_capability().startswith("AVX512") and onednn_allows


def cpu_kind() -> str:
    """The kernels this process may use, for the line above a timing: ATen's capability, oneDNN's
    ISA cap and whether bf16 is native (e.g. 'ATen AVX2, ONEDNN_MAX_CPU_ISA AVX2, native bf16: False')."""
    return (f"ATen {torch.backends.cpu.get_cpu_capability()}, ONEDNN_MAX_CPU_ISA "
            f"{os.environ.get('ONEDNN_MAX_CPU_ISA', 'unset')}, native bf16: {cpu_computes_bf16_natively()}")


def resolve_precision(choice: str, device: torch.device, environ: Optional[Mapping[str, str]] = None) -> str:
    """--precision `choice` as a concrete fp32/bf16/fp16. `auto`: bf16 where the hardware computes it
    natively (CUDA with bf16; CPUs per cpu_computes_bf16_natively), else fp32. bf16 there is
    1.7-2x faster than fp32 (README speed tables); where it is emulated it is over 10x slower."""
    if choice != "auto":
        return choice
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_computes_bf16_natively(environ) else "fp32"


def precision_reason(choice: str, resolved: str, device: torch.device) -> str:
    """Why `choice` became `resolved`, for the log (one phrase)."""
    if choice != "auto":
        return f"{resolved} (--precision {choice})"
    if device.type == "cuda":
        return f"{resolved} (auto: this GPU {'computes' if resolved == 'bf16' else 'has no'} bf16)"
    why = "this CPU computes bf16 natively" if resolved == "bf16" else "no native bf16 here, it would be emulated"
    return f"{resolved} (auto: {why}; ATen {torch.backends.cpu.get_cpu_capability()})"


def peak_memory_note(device: torch.device) -> str:
    """'; peak CUDA memory N MB' (the most this process's tensors held on `device`), '' on CPU; for
    the last log line of train.py and test.py (scripts/check_cuda.py reads it)."""
    if device.type != "cuda":
        return ""
    return f"; peak CUDA memory {torch.cuda.max_memory_allocated(device) / 2**20:.0f} MB"
