"""Atomic file writes: a crash or a full disk never leaves a half-written file behind.

Everything the project writes for a user (poses, exports, workspaces, checkpoints,
datasets) goes through here: write a temporary file in the same folder, flush it to
disk, then rename it over the target in one step.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO


def _default_mode() -> int:
    # mkstemp creates 0600 files; a user's exports should get the usual permissions.
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _default_mode()


@contextlib.contextmanager
def _temporary_beside(target: Path) -> Iterator[tuple[int, Path]]:
    """A new temporary file (fd, path) in the target's folder, renamed over `target` when the
    block ends normally and removed when it raises. Its name keeps the target's suffix, so
    format-by-extension writers (cv2.imwrite) work on it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    os.fchmod(fd, _FILE_MODE)
    try:
        yield fd, Path(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """Open a temporary file beside `path`; on success it replaces `path` atomically.

    On an exception the temporary file is removed and `path` is left as it was.
    """
    with _temporary_beside(Path(path)) as (fd, _), os.fdopen(fd, mode, encoding=encoding) as f:
        yield f
        f.flush()
        os.fsync(f.fileno())


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)


def atomic_write_with(path: str | os.PathLike[str], writer: Callable[[Path], None]) -> None:
    """For libraries that insist on writing to a path themselves (cv2.imwrite, safetensors,
    torch.save): `writer(tmp_path)` writes a temporary file that then replaces `path`."""
    with _temporary_beside(Path(path)) as (fd, tmp):
        os.close(fd)
        writer(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
