"""Atomic file writes: a crash or a full disk never leaves a half-written file behind.

Everything the project writes for a user (poses, exports, workspaces, checkpoints,
datasets) goes through here: write a temporary file in the same folder, flush it to
disk, then rename it over the target in one step.

A full disk (or an exhausted quota) while writing raises `DiskFullError`, whatever library
did the writing (torch and safetensors report it as their own error types, without saying
"space"); the earlier file under the target's name is left as it was. Temporary files that
an interrupted earlier process left beside a target are removed on the next write of it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

#: errno values that mean "no room to write": a full file system or a user's exhausted quota.
_NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})
#: How libraries that swallow the errno word a full disk (safetensors: "StorageFull",
#: "os error 28"; C++ writers: the C library's strerror).
_NO_SPACE_TEXT = re.compile(r"no space left|storagefull|disk quota|os error (28|122)\b", re.IGNORECASE)
#: A writer that failed while the folder had less free space than this most likely ran out of
#: it (torch's zip writer only says "file write failed").
_NEARLY_FULL_BYTES = 1 << 20
#: mkstemp's random part of a temporary file's name.
_TMP_RANDOM = r"[a-z0-9_]{8}"


class DiskFullError(OSError):
    """No space (or quota) left while writing `path`; the file already there is unchanged.

    An OSError, so code that reports `OSError.strerror` shows the clear text; `str()` is one
    line for the user naming the file and the folder to free.
    """

    def __init__(self, path: str | os.PathLike[str], err: int = errno.ENOSPC) -> None:
        p = Path(path)
        super().__init__(
            err,
            f"the disk holding {p.parent} is full; free some space there or choose another folder",
            str(p),
        )
        self.path = p

    def __reduce__(self) -> tuple[type, tuple[str, int]]:  # for crossing process boundaries
        return (type(self), (str(self.path), self.errno or errno.ENOSPC))

    def __str__(self) -> str:
        return (
            f"cannot write {self.path}: the disk is full (no space left in {self.path.parent}). "
            "Free some space or choose another folder (an earlier version of the file is unchanged)."
        )


def _process_start_time() -> float:
    """When this process started (wall clock), so temporary files older than it are known to
    be leftovers of another, earlier process; falls back to now (this module's import)."""
    now = time.time()
    try:
        stat = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(stat[19])  # field 22 (starttime), counted after the ")" of the command name
        btime = next(
            int(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime")
        )
        return min(now, btime + ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, StopIteration):
        return now


_PROCESS_START = _process_start_time()


def _default_mode() -> int:
    # mkstemp creates 0600 files; a user's exports should get the usual permissions.
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _default_mode()


#: Bytes of the target's stem kept in a temporary file's name: a legal long target name plus
#: the dot, mkstemp's random part and ".tmp" would pass the file system's 255-byte limit.
_TMP_STEM_BYTES = 120


def _tmp_prefix_suffix(target: Path) -> tuple[str, str]:
    stem = target.stem.encode("utf-8", "surrogateescape")[:_TMP_STEM_BYTES].decode("utf-8", "ignore")
    suffix = target.suffix if len(target.suffix.encode("utf-8", "surrogateescape")) <= 32 else ""
    return f".{stem}.", f".tmp{suffix}"


#: Any temporary file name of ours, for whichever target: groups 1 and 2 are the target's
#: (cut) stem and its suffix.
_ANY_TMP = re.compile(r"\.(.*)\." + _TMP_RANDOM + r"\.tmp([^/]*)\Z", re.DOTALL)


def is_temporary(path: str | os.PathLike[str]) -> bool:
    """Whether `path` names one of our half-written temporary files (of any target).

    Their names keep the target's suffix (writers that pick a format by it need that), so a
    `glob("*.vunet")` finds them too: pathlib's `*` matches a leading dot. Whoever lists a
    folder for finished files must skip these: one may be mid-write, or left empty by a kill.
    """
    return bool(_ANY_TMP.match(Path(path).name))


def leftover_target(path: str | os.PathLike[str]) -> Path | None:
    """The file an interrupted write of ours was making, when `path` is its temporary and
    older than this process (so no write of this process; the caller judges other running
    processes by the target); else None. The target's name is cut as the temporary's was."""
    p = Path(path)
    m = _ANY_TMP.match(p.name)
    if m is None:
        return None
    try:
        if p.stat().st_mtime >= _PROCESS_START:
            return None
    except OSError:
        return None
    return p.with_name(m.group(1) + m.group(2))


#: Per folder, the names of our temporary files in it older than this process, found by one
#: scan at the first write there: later leftovers cannot appear (anything made since is newer),
#: and a scan per write would make writing n files into one folder take n^2 steps.
_old_temporaries: dict[str, set[str]] = {}
_old_temporaries_lock = threading.Lock()


def _leftovers_in(folder: Path) -> set[str]:
    key = os.path.abspath(folder)
    with _old_temporaries_lock:
        found = _old_temporaries.get(key)
        if found is None:
            found = set()
            try:
                with os.scandir(folder) as entries:
                    for e in entries:
                        if not _ANY_TMP.match(e.name):
                            continue
                        with contextlib.suppress(OSError):
                            if (
                                e.is_file(follow_symlinks=False)
                                and e.stat(follow_symlinks=False).st_mtime < _PROCESS_START
                            ):
                                found.add(e.name)
            except OSError:
                pass
            _old_temporaries[key] = found
        return found


def _remove_leftovers(target: Path) -> None:
    """Remove temporary files of `target` (our own naming pattern for exactly this target) that
    an earlier, interrupted process left behind. Files newer than this process may belong to a
    write in progress (here or in another process) and are left alone, as is anything else."""
    found = _leftovers_in(target.parent)
    if not found:
        return
    prefix, suffix = _tmp_prefix_suffix(target)
    pattern = re.compile(re.escape(prefix) + _TMP_RANDOM + re.escape(suffix) + r"\Z")
    with _old_temporaries_lock:
        mine = [name for name in found if pattern.match(name)]
        found.difference_update(mine)
    for name in mine:
        path = target.parent / name
        try:
            # Checked again: the name may have been reused since the scan.
            if path.is_file() and not path.is_symlink() and path.stat().st_mtime < _PROCESS_START:
                path.unlink()
                log.info("removed %s, left over from an interrupted write", path)
        except OSError:  # gone already, or not ours to remove: the write goes on regardless
            continue


def _is_disk_full(exc: BaseException, folder: Path) -> int | None:
    """The errno to report if `exc` (or what caused it) means the disk is full, else None."""
    seen: BaseException | None = exc
    for _ in range(8):  # the cause chain, bounded
        if seen is None:
            break
        if isinstance(seen, OSError) and seen.errno in _NO_SPACE_ERRNOS:
            return seen.errno
        if _NO_SPACE_TEXT.search(str(seen)):
            return errno.ENOSPC
        seen = seen.__cause__ or seen.__context__
    if not isinstance(exc, Exception) or isinstance(exc, MemoryError):
        return None
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):
        return None
    return errno.ENOSPC if st.f_bavail * st.f_frsize < _NEARLY_FULL_BYTES else None


@contextlib.contextmanager
def _temporary_beside(target: Path) -> Iterator[tuple[int, Path]]:
    """A new temporary file (fd, path) in the target's folder, renamed over `target` when the
    block ends normally and removed when it raises. Its name keeps the target's suffix, so
    format-by-extension writers (cv2.imwrite) work on it. A full disk raises DiskFullError."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_leftovers(target)
        prefix, suffix = _tmp_prefix_suffix(target)
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=target.parent)
    except OSError as e:
        if e.errno is not None and e.errno in _NO_SPACE_ERRNOS:
            raise DiskFullError(target, e.errno) from e
        raise
    try:
        os.fchmod(fd, _FILE_MODE)
        yield fd, Path(tmp)
        os.replace(tmp, target)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)  # first: the check below must see the space it held freed
        if not isinstance(e, DiskFullError):
            code = _is_disk_full(e, target.parent)
            if code is not None:
                raise DiskFullError(target, code) from e
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
        # Some writers (safetensors) replace the file they are given, and the new one is 0600.
        os.chmod(tmp, _FILE_MODE)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
