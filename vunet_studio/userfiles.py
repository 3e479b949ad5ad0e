"""Reading a file the user picked (photo, pose file, workspace) without ever hanging.

Opening a FIFO for reading blocks until some other process writes to it, and a device such
as /dev/zero never ends, so a photo or workspace path that names one used to freeze the GUI
thread for ever. Every reader of user-picked files goes through `read_user_file`, which
refuses anything that is not a regular file before reading a byte of it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class UserFileError(OSError):
    """A user-picked file cannot be read; `problem` is one line for the user (no path)."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def _kind(mode: int) -> str | None:
    """Why a file of this mode cannot be read as a document, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "is a pipe (FIFO), not a regular file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a regular file"
    return "is not a regular file"


def check_user_file(path: str | os.PathLike[str]) -> None:
    """Raise `UserFileError` (FileNotFoundError-like problem "file not found" included) unless
    `path` names an existing regular file. Stat only: nothing is opened."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UserFileError(path, "file not found") from None
    except ValueError:  # an embedded NUL byte: no such file can exist
        raise UserFileError(path, "file not found") from None
    except OSError as e:
        raise UserFileError(path, f"cannot read the file ({e.strerror or e})") from None
    problem = _kind(st.st_mode)
    if problem:
        raise UserFileError(path, problem)


def read_user_file(path: str | os.PathLike[str], max_bytes: int | None = None) -> bytes:
    """The whole content of the regular file at `path`.

    Checked before opening (so a FIFO is never opened blocking) and again on the open
    descriptor (so a file swapped for a FIFO in between is refused too). `max_bytes` refuses
    files too large to be what the caller expects, instead of filling memory.
    """
    check_user_file(path)
    flags = (
        os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    )
    try:
        fd = os.open(path, flags)
    except OSError as e:
        raise UserFileError(path, f"cannot read the file ({e.strerror or e})") from None
    try:
        st = os.fstat(fd)
        problem = _kind(st.st_mode)
        if problem:
            raise UserFileError(path, problem)
        if max_bytes is not None and st.st_size > max_bytes:
            raise UserFileError(path, f"is {st.st_size / 1e6:.0f} MB, too large to be this kind of file")
        with os.fdopen(fd, "rb", closefd=True) as f:
            fd = -1  # the file object owns it now
            return f.read()
    except UserFileError:
        raise
    except OSError as e:
        raise UserFileError(path, f"cannot read the file ({e.strerror or e})") from None
    finally:
        if fd >= 0:
            os.close(fd)
