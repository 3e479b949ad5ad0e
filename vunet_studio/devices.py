"""Which device a network runs on and in which number format: the one place that decides.

The engine (`RenderEngine`, via `fastpath`), training (`training.trainer`) and the openpifpaf
pose estimator all take a device name ('auto', 'cpu', 'cuda', 'cuda:N') from the user and a
number format; `resolve_device`, `resolve_precision` (inference) and `autocast_dtype`
(training's mixed precision) turn them into torch objects, or raise `DeviceError` with the
message the user sees (callers prefix what was being set up).
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform

import torch

#: Number formats inference can run in (`resolve_precision`).
PRECISIONS = ("fp32", "bf16", "fp16")
#: Mixed-precision settings of training (`autocast_dtype`): 'none' trains in fp32.
AMP_MODES = ("auto", "bf16", "fp16", "none")

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class DeviceError(ValueError):
    """A device or number format this machine cannot use; the message says what to pick instead."""


@functools.cache
def _cpu_info() -> dict[str, str]:
    """The first CPU's fields of /proc/cpuinfo ("model name", "flags", ...); empty where
    there is none (not Linux)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def _cpu_flags() -> frozenset[str]:
    return frozenset(_cpu_info().get("flags", "").split())


def cpu_summary() -> str:
    """One line naming this CPU for benchmark output: model, family/model numbers, cores, and
    what the render can use (the same code runs ~6x slower on an AVX2-only CPU in fp32 than
    on one with native bf16, so numbers from different machines need this to be compared)."""
    fields = _cpu_info()
    # Outside Linux there is no /proc/cpuinfo; Windows' processor string names family and model.
    name = fields.get("model name") or platform.processor() or platform.machine() or "unknown CPU"
    if "cpu family" in fields:
        name += f" (family {fields['cpu family']} model {fields.get('model', '?')})"
    isa = torch.backends.cpu.get_cpu_capability()
    bf16 = "native bf16" if cpu_has_native_bf16() else ("emulated bf16" if cpu_can_run_bf16() else "no bf16")
    return f"{name}, {os.cpu_count()} logical cores, {isa}, {bf16}"


def cpu_can_run_bf16() -> bool:
    """True when oneDNN runs bf16 convolutions on this CPU at all (natively, or emulated on
    AVX512 or AVX-NE-CONVERT). On other CPUs (AVX2 only) its weight reorder fails, and torch's
    fallback conv is ~15x slower than fp32 (68 vs 4.4 ms for a 32->16 3x3 conv at 128^2)."""
    ok = bool(torch.backends.mkldnn.is_available())
    with contextlib.suppress(AttributeError, RuntimeError):
        ok = ok and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return ok


def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 dot products in hardware (AVX512-BF16 or AMX-BF16).

    Without them oneDNN emulates bf16 by converting to fp32, which is usually slower than fp32.
    """
    return _cpu_has_bf16_units() and cpu_can_run_bf16()


def _cpu_has_bf16_units() -> bool:
    """AVX512-BF16 or AMX, as torch's cpuinfo sees them on any OS (the app's users are not all
    on Linux: on Windows a bf16 CPU would otherwise render fp32, ~5x slower); /proc/cpuinfo's
    flags where this torch lacks those private probes."""
    probes = [getattr(torch.cpu, n, None) for n in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    found = [p for p in probes if callable(p)]
    if found:
        with contextlib.suppress(RuntimeError, TypeError):
            return any(bool(p()) for p in found)
    flags = _cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_device(device: str) -> torch.device:
    """'auto' -> CUDA when present, else CPU; 'cpu'/'cuda'/'cuda:N' as given (checked)."""
    d = device.strip().lower()
    if d == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(d)
    except (RuntimeError, ValueError) as exc:
        raise DeviceError(f"unknown device {device!r}: use 'auto', 'cpu', 'cuda' or 'cuda:N'") from exc
    if dev.type not in ("cpu", "cuda"):
        raise DeviceError(f"unsupported device {device!r}: use 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"{device!r} was requested but no CUDA GPU is available: use 'cpu' or 'auto'")
    return dev


def resolve_precision(precision: str, device: torch.device) -> str:
    """Inference's number format: 'auto' -> the fastest that keeps quality on `device`.

    CUDA: fp16; a CPU with native bf16: bf16; any other CPU: fp32.
    """
    p = precision.strip().lower()
    if p == "auto":
        if device.type == "cuda":
            # fp16 keeps 3 more mantissa bits than bf16; the model's activations stay far
            # inside fp16's range (ELU nets, unit-variance init).
            return "fp16"
        return "bf16" if cpu_has_native_bf16() else "fp32"
    if p not in PRECISIONS:
        raise DeviceError(f"unknown precision {precision!r}: use fp32, bf16, fp16 or auto")
    if p == "fp16" and device.type == "cpu":
        raise DeviceError("fp16 needs CUDA; on a CPU use bf16 or fp32")
    if p == "bf16" and device.type == "cpu" and not cpu_can_run_bf16():
        raise DeviceError("this CPU cannot run bf16 (it needs AVX512 or AVX-NE-CONVERT): use fp32 or auto")
    return p


def torch_dtype(precision: str) -> torch.dtype:
    """The torch dtype of a resolved precision ('fp32', 'bf16' or 'fp16')."""
    return _DTYPES[precision]


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """Training's autocast dtype for `amp` (one of AMP_MODES) on `device`; None: plain fp32.

    'auto' is bf16 on CUDA (fp16 on GPUs without bf16) and fp32 on a CPU, where bf16 training
    was not reliably faster (see training/configs/synth128.yaml); 'bf16' opts in anywhere.
    """
    if amp not in AMP_MODES:
        raise DeviceError(f"unknown amp {amp!r}: use auto, bf16, fp16 or none")
    if amp == "none" or (amp == "auto" and device.type != "cuda"):
        return None
    if amp == "fp16":
        if device.type != "cuda":
            raise DeviceError("fp16 needs CUDA; on a CPU use bf16 or none")
        return torch.float16
    if amp == "auto" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16
