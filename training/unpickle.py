"""A restricted unpickler for the official `index.p` files: plain data and numpy arrays only.

A pickle can run any importable callable while loading (`os.system`, ...), and dataset
files come from the internet. This unpickler resolves only the globals numpy needs to
rebuild arrays; builtin containers, strings, numbers, bool and None need no globals at all.
Anything else raises `UnsafePickleError` naming the refused global.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

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
