"""The run folder's lock: one `vunet-train` at a time per `--out`.

Two runs on one folder used to overwrite each other's resume files, weights and TensorBoard
events. The lock is RUN_DIR/train.lock, held with `flock` (the kernel drops it when the
process dies, however it dies) and holding the owner's pid and host for the message. A lock
file whose process is gone is a stale lock: it is taken over, with a message saying so.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import socket
from pathlib import Path
from types import TracebackType

from vunet_studio.fileio import DiskFullError

logger = logging.getLogger(__name__)

LOCK_NAME = "train.lock"


class RunLockedError(Exception):
    """The run folder is in use by another live process; the message names it."""


class RunLock:
    """`with RunLock(run_dir):` holds the folder's lock (creating the folder) for the block."""

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self._fd: int | None = None
        self._made_folder = False

    def acquire(self) -> None:
        self._made_folder = not self.path.parent.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _read_owner(fd)
            os.close(fd)
            raise RunLockedError(
                f"{self.path.parent} is in use by another vunet-train ({owner or 'unknown process'}); "
                "wait for it to finish or stop it, or choose another --out"
            ) from None
        except OSError:  # a file system without flock: fall back to the pid in the file
            if _owner_alive(_read_owner(fd)):
                owner = _read_owner(fd)
                os.close(fd)
                raise RunLockedError(
                    f"{self.path.parent} is in use by another vunet-train ({owner}); "
                    "wait for it to finish or stop it, or choose another --out"
                ) from None
        old = _read_owner(fd)
        if old:  # left by a run that died without releasing it (a crash, SIGKILL, power loss)
            logger.warning("taking over the stale lock %s of %s, which is no longer running", self.path, old)
        try:  # the pid is for messages only: the flock is the lock, so no fsync is needed
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFullError(self.path, e.errno) from None
            raise
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        # Emptied, not deleted: deleting a flock'ed file lets a third process lock a new file
        # while a second still waits on the old one. An empty lock file is a free folder.
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        if self._made_folder and [p.name for p in self.path.parent.iterdir()] == [LOCK_NAME]:
            # The run never started (a bad config, a missing dataset): leave no empty folder.
            with contextlib.suppress(OSError):
                self.path.unlink()
                self.path.parent.rmdir()
        os.close(self._fd)  # drops the flock
        self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _read_owner(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _owner_alive(owner: str) -> bool:
    """Whether "pid N on HOST" names a live process on this host (for file systems without flock)."""
    parts = owner.split()
    if len(parts) != 4 or parts[0] != "pid" or parts[2] != "on" or parts[3] != socket.gethostname():
        return False
    try:
        pid = int(parts[1])
        if pid == os.getpid():
            return False
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (ValueError, OverflowError):
        return False
    except PermissionError:  # alive, another user's
        return True
    return True
