"""VUNet checkpoints: `.safetensors` weights plus string metadata that alone rebuild the model.

Weights are data, not code: nothing here unpickles. The metadata holds the format marker,
format version, config JSON, joint order JSON, image size, training step and free-form
extra metadata (JSON), so `load_checkpoint` can rebuild `VUNet(config)` and load strictly.
Every way a file can be wrong raises `CheckpointError` naming the file and the problem.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from vunet_studio.fileio import atomic_write_with
from vunet_studio.model.config import VUNetConfig
from vunet_studio.model.vunet import VUNet
from vunet_studio.skeleton import JOINT_NAMES

logger = logging.getLogger(__name__)

FORMAT_MARKER = "vunet-studio/vunet"
FORMAT_VERSION = 1
# Prefixes wrappers put on state-dict keys: DDP (`module.`) and torch.compile (`_orig_mod.`).
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


class CheckpointError(Exception):
    """A checkpoint file that cannot be used; the message names the file and the problem."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True)
class CheckpointInfo:
    path: Path
    config: VUNetConfig
    step: int
    image_size: int
    joint_order: tuple[str, ...]
    version: int
    stored_dtype: str  # "float32" or "float16": how the weights sit in the file
    extra: dict[str, Any] = field(default_factory=dict)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The bare module under DDP (`.module`) and torch.compile (`._orig_mod`) wrappers."""
    while True:
        if isinstance(model, VUNet):
            return model
        inner = getattr(model, "_orig_mod", None) or getattr(model, "module", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def _strip_prefixes(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _WRAPPER_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
                changed = True
    return key


def save_checkpoint(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    step: int = 0,
    extra: dict[str, Any] | None = None,
    dtype: torch.dtype | None = None,
    joint_order: tuple[str, ...] = JOINT_NAMES,
) -> Path:
    """Write `model` (a VUNet, possibly DDP/compile-wrapped) atomically to `path`.

    `extra`: JSON-able free-form metadata (e.g. the loss used, the dataset). `dtype=torch.float16`
    halves the file; weights load back as float32. A folded model cannot be saved (its
    parameters are not the trainable ones).
    """
    path = Path(path)
    net = unwrap_model(model)
    if not isinstance(net, VUNet):
        raise TypeError(f"save_checkpoint needs a VUNet, got {type(net).__name__}")
    if net.is_folded:
        raise ValueError("cannot save a weight-norm-folded VUNet; save the model before fold_weight_norm()")
    if dtype not in (None, torch.float32, torch.float16):
        raise ValueError(f"dtype must be float32 or float16, got {dtype}")
    out_dtype = dtype or torch.float32
    tensors = {
        _strip_prefixes(k): v.detach().to("cpu", out_dtype).contiguous() for k, v in net.state_dict().items()
    }
    cfg: VUNetConfig = net.config
    metadata = {
        "format": FORMAT_MARKER,
        "format_version": str(FORMAT_VERSION),
        "config": json.dumps(cfg.to_dict(), sort_keys=True),
        "joint_order": json.dumps(list(joint_order)),
        "image_size": str(cfg.image_size),
        "step": str(int(step)),
        "dtype": "float16" if out_dtype == torch.float16 else "float32",
        "extra": json.dumps(extra or {}, sort_keys=True),
    }
    # A crash mid-write never leaves a half-written checkpoint under the real name.
    atomic_write_with(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))
    logger.info("saved checkpoint %s (step %d, %s)", path, step, metadata["dtype"])
    return path


def _read_metadata(path: Path) -> dict[str, str]:
    if not path.exists():
        raise CheckpointError(path, "file not found")
    if not path.is_file():
        raise CheckpointError(path, "not a file")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata()
    except Exception as exc:  # safetensors raises its own error types for bad headers/sizes
        raise CheckpointError(path, f"not a safetensors file, or corrupt or truncated ({exc})") from exc
    return meta or {}


def _parse_info(path: Path, meta: dict[str, str]) -> CheckpointInfo:
    marker = meta.get("format")
    if marker != FORMAT_MARKER:
        what = "no format marker" if marker is None else f"format marker {marker!r}"
        raise CheckpointError(path, f"not a VUNet Studio checkpoint ({what}; expected {FORMAT_MARKER!r})")
    try:
        version = int(meta.get("format_version", ""))
    except ValueError as exc:
        raise CheckpointError(path, "missing or invalid format_version") from exc
    if version > FORMAT_VERSION:
        raise CheckpointError(
            path, f"format version {version} is newer than this program reads ({FORMAT_VERSION})"
        )
    try:
        config = VUNetConfig.from_dict(json.loads(meta["config"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(path, f"missing or invalid model config ({exc})") from exc
    try:
        joint_order = tuple(json.loads(meta["joint_order"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(path, f"missing or invalid joint order ({exc})") from exc
    if joint_order != JOINT_NAMES:
        raise CheckpointError(
            path, f"joint order {list(joint_order)} does not match this program's {list(JOINT_NAMES)}"
        )
    try:
        image_size = int(meta.get("image_size", config.image_size))
        step = int(meta.get("step", 0))
        extra = json.loads(meta.get("extra", "{}"))
    except ValueError as exc:
        raise CheckpointError(path, f"invalid metadata ({exc})") from exc
    if image_size != config.image_size:
        raise CheckpointError(
            path, f"image_size {image_size} disagrees with the config's {config.image_size}"
        )
    return CheckpointInfo(
        path=path,
        config=config,
        step=step,
        image_size=image_size,
        joint_order=joint_order,
        version=version,
        stored_dtype=meta.get("dtype", "float32"),
        extra=extra if isinstance(extra, dict) else {"extra": extra},
    )


def read_checkpoint_info(path: str | os.PathLike[str]) -> CheckpointInfo:
    """The metadata only (cheap: reads the header), validated like `load_checkpoint` does."""
    path = Path(path)
    return _parse_info(path, _read_metadata(path))


def load_checkpoint(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[VUNet, CheckpointInfo]:
    """Rebuild the VUNet from the file's config and load its weights strictly (as float32).

    The returned model is in eval mode and still weight-normalised (call `fold_weight_norm()`
    for inference speed).
    """
    path = Path(path)
    info = _parse_info(path, _read_metadata(path))
    model = VUNet(info.config)
    expected = model.state_dict()
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            keys = set(f.keys())
            missing = sorted(set(expected) - keys)
            unexpected = sorted(keys - set(expected))
            if missing or unexpected:
                parts = []
                if missing:
                    parts.append(f"{len(missing)} missing tensors (e.g. {missing[:3]})")
                if unexpected:
                    parts.append(f"{len(unexpected)} unexpected tensors (e.g. {unexpected[:3]})")
                raise CheckpointError(path, "weights do not match the config: " + "; ".join(parts))
            state = {}
            for k in sorted(keys):
                t = f.get_tensor(k)
                if t.shape != expected[k].shape:
                    raise CheckpointError(
                        path,
                        "weights do not match the config: "
                        f"tensor {k} has shape {tuple(t.shape)}, the config needs {tuple(expected[k].shape)}",
                    )
                if not t.is_floating_point():
                    raise CheckpointError(path, f"tensor {k} is {t.dtype}, expected floating point")
                state[k] = t.to(torch.float32)
    except CheckpointError:
        raise
    except Exception as exc:
        raise CheckpointError(path, f"corrupt or truncated weights ({exc})") from exc
    bad = [k for k, t in state.items() if not torch.isfinite(t).all()]
    if bad:
        raise CheckpointError(path, f"{len(bad)} tensors hold NaN/inf (e.g. {bad[:3]})")
    model.load_state_dict(state, strict=True)
    model.to(device)
    model.eval()
    logger.info("loaded checkpoint %s (step %d, %s)", path, info.step, info.stored_dtype)
    return model, info
