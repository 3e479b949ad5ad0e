"""The official `index.p` dataset index (DeepFashion, Market, COCO layout): its one reader and writer.

`index.p` is a pickled dict beside an `images/` folder: `joint_order` (J joint names), `imgs`
(N image paths relative to the index file), `train` (N bools) and `joints` (N x J x 2 in [0, 1],
negative = missing). `vunet-prepare` and `vunet-synth` write it (in our joint order), the
trainer's `IndexDataset` reads it.

A pickle can run any importable callable while loading (`os.system`, ...), and dataset
files come from the internet, so it is read with a restricted unpickler that resolves only
the globals numpy needs to rebuild arrays; builtin containers, strings, numbers, bool and
None need no globals at all. Anything else raises `UnsafePickleError` naming the refused global.
"""

from __future__ import annotations

import io
import os
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vunet_studio.fileio import atomic_write_bytes
from vunet_studio.skeleton import JOINT_NAMES

INDEX_NAME = "index.p"
#: The folder beside index.p that the tools write the images into.
IMAGES_DIR = "images"

# (module, name) pairs a numpy array pickle refers to, for numpy 1.x and 2.x (numpy._core).
_ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        # Protocol 5 (pickle.HIGHEST_PROTOCOL) rebuilds arrays from a raw buffer instead.
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        # Protocol-2 pickles store bytes (an array's dtype code) as encode(str, "latin1").
        ("_codecs", "encode"),
        ("codecs", "encode"),
    }
)


class IndexFileError(ValueError):
    """An index file that cannot be read; the message names it and says why."""


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle refers to a global outside the allow-list (it could run code)."""


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise UnsafePickleError(
                f"refusing to load global {module}.{name}: index files may hold only plain data "
                "(dict, list, tuple, str, numbers, bool, None) and numpy arrays"
            )
        return super().find_class(module, name)


def restricted_loads(data: bytes) -> Any:
    # encoding="latin1" reads numpy arrays from Python 2 pickles (their buffers are str there).
    return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()


def restricted_load(path: str | os.PathLike[str]) -> Any:
    return restricted_loads(Path(path).read_bytes())


@dataclass(frozen=True)
class DatasetIndex:
    imgs: list[str]  # N image paths, relative to the index file's folder
    train: np.ndarray  # (N,) bool
    joints: np.ndarray  # (N, 18, 2) float32 in [0, 1], in `JOINT_NAMES` order, negative = missing


def write_index(
    path: str | os.PathLike[str], imgs: Sequence[str], train: Sequence[bool], joints: Any
) -> Path:
    """Write `index.p` (atomically) for images `imgs` with their `train` flags and `joints`
    ((N, 18, 2) normalised, in our joint order); returns its path."""
    index = {
        "joint_order": list(JOINT_NAMES),
        "imgs": list(imgs),
        "train": [bool(t) for t in train],
        "joints": np.asarray(joints, np.float32).reshape(len(imgs), len(JOINT_NAMES), 2),  # (N, 18, 2)
    }
    atomic_write_bytes(path, pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL))
    return Path(path)


def read_index(path: str | os.PathLike[str]) -> DatasetIndex:
    """The index at `path`, joints reordered to ours; `UnsafePickleError` for a pickle that could
    run code, `IndexFileError` for anything else that is not a usable index file."""
    path = Path(path)
    try:
        index = restricted_load(path)
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{path}: not loaded, it could run code: {exc}") from None
    except Exception as exc:  # a damaged pickle raises many types (EOFError, ValueError, ...)
        raise IndexFileError(f"{path}: not a readable index file ({type(exc).__name__}: {exc})") from None
    if not isinstance(index, dict) or not {"imgs", "joints"} <= set(index):
        raise IndexFileError(f"{path}: expected a dict with 'imgs' and 'joints'")
    try:
        joints = np.asarray(index["joints"], np.float32)
        imgs = [str(i) for i in index["imgs"]]
        train = np.asarray(index.get("train", np.ones(len(imgs), bool)), bool)
    except (TypeError, ValueError) as exc:
        raise IndexFileError(
            f"{path}: 'imgs', 'joints' or 'train' is not a list of the expected kind ({exc})"
        ) from None
    if joints.ndim != 3 or joints.shape[0] != len(imgs) or joints.shape[2] != 2:
        raise IndexFileError(f"{path}: joints {joints.shape} do not match {len(imgs)} images")
    if train.shape != (len(imgs),):
        raise IndexFileError(f"{path}: 'train' has {train.size} flags for {len(imgs)} images")
    return DatasetIndex(imgs, train, _reorder_joints(joints, index.get("joint_order"), path))


def _reorder_joints(joints: np.ndarray, order: Any, path: Path) -> np.ndarray:
    """(N, J, 2) in the file's joint order -> (N, 18, 2) in ours."""
    if order is None:
        if joints.shape[1] != len(JOINT_NAMES):
            raise IndexFileError(f"{path}: {joints.shape[1]} joints and no joint_order")
        return joints
    if not isinstance(order, (list, tuple)):
        raise IndexFileError(f"{path}: joint_order must be a list of joint names")
    names = [str(n) for n in order]
    missing = [n for n in JOINT_NAMES if n not in names]
    if missing:
        raise IndexFileError(f"{path}: joint_order lacks {missing}; expected the OpenPose COCO-18 names")
    return joints[:, [names.index(n) for n in JOINT_NAMES]]
