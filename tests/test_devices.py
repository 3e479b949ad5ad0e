"""Device and number-format choice (`vunet_studio.devices`), on a CPU with CUDA faked where needed."""

from __future__ import annotations

import pytest
import torch

from vunet_studio import devices
from vunet_studio.devices import DeviceError, autocast_dtype, resolve_device, resolve_precision, torch_dtype

CPU = torch.device("cpu")
CUDA = torch.device("cuda")


@pytest.fixture
def no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def fake_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


def test_auto_device_follows_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == CPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device(" Auto ") == CUDA


@pytest.mark.usefixtures("fake_cuda")
def test_named_devices_as_given() -> None:
    assert resolve_device("cpu") == CPU
    assert resolve_device("CUDA") == CUDA
    assert resolve_device("cuda:1") == torch.device("cuda", 1)


@pytest.mark.usefixtures("no_cuda")
def test_cuda_without_a_gpu_says_what_to_pick() -> None:
    with pytest.raises(DeviceError, match=r"'cuda:0' was requested but no CUDA GPU .*use 'cpu' or 'auto'"):
        resolve_device("cuda:0")


@pytest.mark.parametrize("name", ["tpu", "gpu0", "", "meta"])
def test_unknown_devices_are_refused(name: str) -> None:
    with pytest.raises(DeviceError, match=r"device .*use 'auto', 'cpu', 'cuda' or 'cuda:N'"):
        resolve_device(name)


def test_device_errors_are_value_errors() -> None:
    # Callers that predate DeviceError (and argparse-style handlers) catch ValueError.
    assert issubclass(DeviceError, ValueError)


def test_auto_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_precision("auto", CUDA) == "fp16"
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: True)
    assert resolve_precision("auto", CPU) == "bf16"
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)
    assert resolve_precision("AUTO", CPU) == "fp32"


def test_explicit_precisions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "cpu_can_run_bf16", lambda: True)
    assert resolve_precision(" BF16", CPU) == "bf16"
    assert resolve_precision("fp32", CPU) == "fp32"
    assert resolve_precision("fp16", CUDA) == "fp16"
    with pytest.raises(DeviceError, match="fp16 needs CUDA; on a CPU use bf16 or fp32"):
        resolve_precision("fp16", CPU)
    with pytest.raises(DeviceError, match="unknown precision 'int4'"):
        resolve_precision("int4", CPU)


def test_bf16_on_a_cpu_that_cannot_run_it_says_what_to_pick(monkeypatch: pytest.MonkeyPatch) -> None:
    # An AVX2-only CPU: oneDNN cannot reorder bf16 weights there (the render failed with a
    # RuntimeError from deep inside torch), and torch's fallback is ~15x slower than fp32.
    monkeypatch.setattr(devices, "cpu_can_run_bf16", lambda: False)
    with pytest.raises(DeviceError, match=r"this CPU cannot run bf16 .*: use fp32 or auto"):
        resolve_precision("bf16", CPU)
    assert resolve_precision("bf16", CUDA) == "bf16"


def test_the_cpu_summary_says_what_the_render_can_use() -> None:
    line = devices.cpu_summary()
    assert torch.backends.cpu.get_cpu_capability() in line
    assert line.endswith(("native bf16", "emulated bf16", "no bf16"))


def test_torch_dtype() -> None:
    assert [torch_dtype(p) for p in devices.PRECISIONS] == [torch.float32, torch.bfloat16, torch.float16]


def test_native_bf16_needs_the_cpu_units(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "_cpu_has_bf16_units", lambda: False)
    assert devices.cpu_has_native_bf16() is False
    monkeypatch.setattr(devices, "_cpu_has_bf16_units", lambda: True)
    assert devices.cpu_has_native_bf16() is devices.cpu_can_run_bf16()


def test_bf16_units_are_asked_of_torch_on_any_os(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "_cpu_info", lambda: {})  # no /proc/cpuinfo: Windows, macOS
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    assert devices._cpu_has_bf16_units() is True
    assert "unknown CPU ()" not in devices.cpu_summary()
    # A torch without the probes: the Linux flags decide.
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported", raising=False)
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    monkeypatch.setattr(devices, "_cpu_flags", lambda: frozenset({"avx2", "fma"}))
    assert devices._cpu_has_bf16_units() is False
    monkeypatch.setattr(devices, "_cpu_flags", lambda: frozenset({"avx512_bf16"}))
    assert devices._cpu_has_bf16_units() is True


def test_training_autocast_on_cpu() -> None:
    assert autocast_dtype("auto", CPU) is None  # bf16 training on a CPU is opt-in
    assert autocast_dtype("none", CPU) is None
    assert autocast_dtype("bf16", CPU) is torch.bfloat16
    with pytest.raises(DeviceError, match="fp16 needs CUDA; on a CPU use bf16 or none"):
        autocast_dtype("fp16", CPU)
    with pytest.raises(DeviceError, match="unknown amp 'fp8'"):
        autocast_dtype("fp8", CPU)


def test_training_autocast_on_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert autocast_dtype("auto", CUDA) is torch.bfloat16
    assert autocast_dtype("fp16", CUDA) is torch.float16
    assert autocast_dtype("none", CUDA) is None
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert autocast_dtype("auto", CUDA) is torch.float16  # older GPUs


@pytest.mark.usefixtures("no_cuda")
@pytest.mark.parametrize(
    ("train", "message"),
    [
        ({"device": "cuda:0"}, r"train\.device: 'cuda:0' was requested but no CUDA GPU"),
        ({"device": "cpu", "amp": "fp16"}, r"train\.amp: fp16 needs CUDA"),
    ],
)
def test_training_says_which_setting_to_change(train: dict[str, str], message: str) -> None:
    from _training_helpers import tiny_config

    from training.trainer import Trainer, TrainingError

    with pytest.raises(TrainingError, match=message):
        Trainer(tiny_config(**train), "unused-run-dir", tensorboard=False)
