"""VUNet checkpoints: `.safetensors` weights plus string metadata that alone rebuild the model.

Weights are data, not code: nothing here unpickles. The metadata holds the format marker,
format version, config JSON, joint order JSON, image size, training step and free-form
extra metadata (JSON), so `load_checkpoint` can rebuild `VUNet(config)` and load strictly.
Every way a file can be wrong raises `CheckpointError` naming the file and the problem.

A checkpoint may also be split into shards (`save_checkpoint_shards`), for places that cap
the size of a file: each shard carries the whole metadata plus which files make up the set,
so loading any one of them loads the model.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import uuid
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


def _tensors_and_metadata(
    model: nn.Module,
    step: int,
    extra: dict[str, Any] | None,
    dtype: torch.dtype | None,
    joint_order: tuple[str, ...],
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
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
    return tensors, metadata


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
    tensors, metadata = _tensors_and_metadata(model, step, extra, dtype, joint_order)
    # A crash mid-write never leaves a half-written checkpoint under the real name.
    atomic_write_with(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))
    logger.info("saved checkpoint %s (step %d, %s)", path, step, metadata["dtype"])
    return path


#: Bytes a shard may spend beside its tensors' data: the fixed part of the safetensors header,
#: plus `_HEADER_BYTES_PER_TENSOR` per tensor (name, dtype, shape, offsets) and the metadata.
_HEADER_BYTES = 4096
_HEADER_BYTES_PER_TENSOR = 256


def _pack(tensors: dict[str, torch.Tensor], metadata: dict[str, str], max_file_bytes: int) -> list[list[str]]:
    """Tensor names per shard, each shard's file within `max_file_bytes`: first fit, largest
    tensors first (a few big convolutions would otherwise leave every shard part empty)."""
    # The shard entry (file names, token) is not known yet: allow for a long one.
    fixed = _HEADER_BYTES + len(json.dumps(metadata)) + 1024
    need = {
        name: t.numel() * t.element_size() + _HEADER_BYTES_PER_TENSOR + len(name)
        for name, t in tensors.items()
    }
    shards: list[list[str]] = []
    used: list[int] = []
    for name in sorted(need, key=lambda k: (-need[k], k)):
        if fixed + need[name] > max_file_bytes:
            raise ValueError(
                f"tensor {name} ({need[name]} bytes) does not fit in a file of {max_file_bytes} bytes"
            )
        k = next((i for i, u in enumerate(used) if u + need[name] <= max_file_bytes), len(shards))
        if k == len(shards):
            shards.append([])
            used.append(fixed)
        shards[k].append(name)
        used[k] += need[name]
    return shards or [[]]


def shard_count(
    model: nn.Module, *, max_file_bytes: int, dtype: torch.dtype | None = None, step: int = 0
) -> int:
    """How many files `save_checkpoint_shards` writes for `model` at this size cap."""
    tensors, metadata = _tensors_and_metadata(model, step, None, dtype, JOINT_NAMES)
    return len(_pack(tensors, metadata, max_file_bytes))


def save_checkpoint_shards(
    model: nn.Module,
    folder: str | os.PathLike[str],
    stem: str,
    *,
    max_file_bytes: int,
    step: int = 0,
    extra: dict[str, Any] | None = None,
    dtype: torch.dtype | None = None,
    joint_order: tuple[str, ...] = JOINT_NAMES,
) -> list[Path]:
    """Write `model` as files of at most `max_file_bytes` each into `folder`: `<stem>.safetensors`
    (an ordinary checkpoint) when one is enough, else `<stem>-1of3.safetensors`, ... .

    Each shard holds the whole metadata plus a `shard` entry (the set's file names and a token
    the set shares), so `load_checkpoint` of any one of them loads all, and refuses a set that
    mixes files of two writes. Files are written atomically one after another: the set is
    complete once the last is.
    """
    folder = Path(folder)
    tensors, metadata = _tensors_and_metadata(model, step, extra, dtype, joint_order)
    groups = _pack(tensors, metadata, max_file_bytes)
    if len(groups) == 1:
        return [save_checkpoint(model, folder / f"{stem}.safetensors", step=step, extra=extra, dtype=dtype)]
    n = len(groups)
    names = [f"{stem}-{i + 1}of{n}.safetensors" for i in range(n)]
    token = uuid.uuid4().hex
    paths = []
    for i, (name, group) in enumerate(zip(names, groups, strict=True)):
        meta = {**metadata, "shard": json.dumps({"index": i + 1, "files": names, "set": token})}
        part = {k: tensors[k] for k in group}
        path = folder / name
        atomic_write_with(path, functools.partial(save_file, part, metadata=meta))
        if path.stat().st_size > max_file_bytes:  # the header allowance above was too small
            raise ValueError(f"{path} has {path.stat().st_size} bytes, over the cap of {max_file_bytes}")
        paths.append(path)
    logger.info("saved checkpoint %s in %d shards (step %d, %s)", folder / stem, n, step, metadata["dtype"])
    return paths


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


def _checkpoint_files(path: Path, meta: dict[str, str]) -> list[Path]:
    """The files holding this checkpoint's tensors: `path` alone, or its whole shard set."""
    if "shard" not in meta:
        return [path]
    try:
        shard = json.loads(meta["shard"])
        names = [str(n) for n in shard["files"]]
        token = str(shard["set"])
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(path, f"invalid shard metadata ({exc})") from exc
    if not names or any(Path(n).name != n for n in names):
        raise CheckpointError(path, "invalid shard metadata (file names)")
    files = [path.parent / n for n in names]
    for other in files:
        if other.name == path.name:
            continue
        if not other.is_file():
            raise CheckpointError(path, f"shard {other.name} of this checkpoint is missing")
        try:
            their = json.loads(_read_metadata(other).get("shard", "{}")).get("set")
        except (TypeError, ValueError, AttributeError):
            their = None
        if their != token:
            raise CheckpointError(
                path, f"{other.name} is from another save of this checkpoint (a write was cut off)"
            )
    return files


def read_checkpoint_info(path: str | os.PathLike[str]) -> CheckpointInfo:
    """The metadata only (cheap: reads the header), validated like `load_checkpoint` does."""
    path = Path(path)
    return _parse_info(path, _read_metadata(path))


def load_checkpoint(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[VUNet, CheckpointInfo]:
    """Rebuild the VUNet from the file's config and load its weights strictly (as float32).

    `path` is a checkpoint file or any shard of one (`save_checkpoint_shards`). The returned model is in eval mode and still weight-normalised (call `fold_weight_norm()`
    for inference speed).
    """
    path = Path(path)
    meta = _read_metadata(path)
    info = _parse_info(path, meta)
    model = VUNet(info.config)
    expected = model.state_dict()
    try:
        state: dict[str, torch.Tensor] = {}
        for part in _checkpoint_files(path, meta):
            with safe_open(str(part), framework="pt", device="cpu") as f:
                for k in f.keys():  # noqa: SIM118 - safe_open is not iterable
                    if k in state:
                        raise CheckpointError(path, f"tensor {k} is in more than one shard")
                    state[k] = f.get_tensor(k)
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        if missing or unexpected:
            parts = []
            if missing:
                parts.append(f"{len(missing)} missing tensors (e.g. {missing[:3]})")
            if unexpected:
                parts.append(f"{len(unexpected)} unexpected tensors (e.g. {unexpected[:3]})")
            raise CheckpointError(path, "weights do not match the config: " + "; ".join(parts))
        for k in sorted(state):
            t = state[k]
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
