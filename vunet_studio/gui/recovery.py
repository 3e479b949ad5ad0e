"""Crash recovery: while there are unsaved changes, the workspace is written to this app
instance's own recovery file, a couple of seconds after each edit (and every N seconds as a
backstop). A clean exit or a save removes it, so finding one at start means a session ended
without saving.

Several instances can run at once. Each owns `recovery/<id>.vunet` and holds the lock file
`recovery/<id>.lock` for as long as it runs; the operating system's process check tells a
live owner from a dead one, so an instance only ever offers (or deletes) the files of
instances that are gone, never another running instance's work.

A recovery file is an ordinary workspace document with one extra key, `recovery`: which
workspace it belongs to, when it was written, and why it was left behind.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QLockFile, QObject, QTimer

from vunet_studio.fileio import atomic_write_text, is_temporary, leftover_target
from vunet_studio.gui.settings import app_data_dir

log = logging.getLogger(__name__)

RECOVERY_KEY = "recovery"
DEBOUNCE_MS = 2000  # after a committed edit; a crash loses at most the edit in progress
# Why a file was left behind: the process died, or it was told to stop (SIGTERM: logout,
# shutdown) while there were unsaved changes it could not ask about.
REASON_UNSAVED = "unsaved"
REASON_TERMINATED = "terminated"


def recovery_dir() -> Path:
    d = app_data_dir() / "recovery"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _legacy_path() -> Path:
    # Versions before per-instance files kept one shared file here.
    return app_data_dir() / "recovery.vunet"


@dataclass(frozen=True)
class RecoveryFile:
    """A dead instance's recovery file, as offered at start."""

    path: Path
    workspace: Path | None  # the workspace file the changes belong to (None: never saved)
    saved_at: datetime | None
    reason: str
    photos: int

    @classmethod
    def read(cls, path: Path) -> RecoveryFile:
        meta: dict[str, Any] = {}
        photos = 0
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(doc, dict):
                found = doc.get(RECOVERY_KEY)
                meta = found if isinstance(found, dict) else {}
                photos = len(doc["photos"]) if isinstance(doc.get("photos"), list) else 0
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            log.warning("recovery file %s is unreadable: %s", path, e)  # opening it will say so
        ws = meta.get("workspace")
        try:
            saved = datetime.fromisoformat(str(meta["saved_at"]))
        except (KeyError, ValueError):
            try:
                saved = datetime.fromtimestamp(path.stat().st_mtime)
            except OSError:
                saved = None
        return cls(
            path=path,
            workspace=Path(ws) if isinstance(ws, str) and ws else None,
            saved_at=saved,
            reason=str(meta.get("reason", REASON_UNSAVED)),
            photos=photos,
        )

    def describe(self) -> str:
        """One sentence for the recovery question, naming the workspace and the time."""
        what = (
            f"unsaved changes to {self.workspace.name}"
            if self.workspace is not None
            else f"an untitled workspace with {self.photos} photo{'s' if self.photos != 1 else ''}"
        )
        when = f" (last kept {self.saved_at:%a %d %b, %H:%M:%S})" if self.saved_at else ""
        if self.reason == REASON_TERMINATED:
            head = "VUNet Studio was closed by the system while there were"
        else:
            head = "VUNet Studio did not close properly. It kept"
        return f"{head} {what}{when}."

    def claim(self) -> QLockFile | None:
        """Lock the file while it is offered, so two instances started together never both
        recover it; None when another running instance holds it. Unlock when done."""
        lock = QLockFile(str(self.path.with_suffix(".lock")))
        lock.setStaleLockTime(0)
        return lock if lock.tryLock(0) else None

    def discard(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError as e:
            log.warning("could not remove the recovery file %s: %s", self.path, e)


def _owner_is_alive(recovery_file: Path) -> bool:
    lock_path = recovery_file.with_suffix(".lock")
    if not lock_path.exists():
        return False
    lock = QLockFile(str(lock_path))
    lock.setStaleLockTime(0)  # judge by the owner process only, never by the lock's age
    if lock.tryLock(0):  # the owner is gone: QLockFile removed its stale lock and took it
        lock.unlock()
        return False
    # Held by a running process, or unreadable (permissions): either way not ours to touch.
    return True


def orphans() -> list[RecoveryFile]:
    """Recovery files whose instance is no longer running, newest first."""
    found = []
    for p in recovery_dir().glob("*.vunet"):
        if is_temporary(p):
            # A kill during a write leaves our temporary beside the last whole save: not a
            # recovery, and with each instance's file named its own, no later write of that
            # name removes it. Ours to remove once its instance is gone.
            target = leftover_target(p)
            if target is not None and not _owner_is_alive(target):
                try:
                    p.unlink()
                    log.info("removed %s, left over from an interrupted autosave", p)
                except OSError as e:
                    log.warning("could not remove %s: %s", p, e)
        elif not _owner_is_alive(p):
            found.append(p)
    legacy = _legacy_path()
    if legacy.exists():
        found.append(legacy)
    files = [RecoveryFile.read(p) for p in found]
    return sorted(files, key=lambda f: f.saved_at or datetime.min, reverse=True)


class Autosaver(QObject):
    """This instance's recovery file: written soon after each edit, removed when clean."""

    def __init__(
        self,
        document: Callable[[], dict[str, Any] | None],
        interval_s: int,
        parent: QObject | None = None,
    ) -> None:
        """`document()` returns the workspace JSON to keep, or None when nothing is unsaved;
        its `recovery` entry may name the workspace file ({"workspace": path})."""
        super().__init__(parent)
        self._document = document
        instance = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.path = recovery_dir() / f"{instance}.vunet"
        self._released = False
        self._lock: QLockFile | None = QLockFile(str(self.path.with_suffix(".lock")))
        self._lock.setStaleLockTime(0)
        if not self._lock.tryLock(0):
            # Without the lock another instance could take this file for a crashed one's;
            # autosave still works, the file is then merely offered too early.
            log.warning("could not lock %s (error %s)", self.path, self._lock.error())
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.save_now)
        self.set_interval(interval_s)
        self.soon = QTimer(self)
        self.soon.setSingleShot(True)
        self.soon.setInterval(DEBOUNCE_MS)
        self.soon.timeout.connect(self.save_now)

    def set_interval(self, seconds: int) -> None:
        self.timer.start(max(1, int(seconds)) * 1000)

    def schedule(self, *_: object) -> None:
        """Save within DEBOUNCE_MS. Not restarted by later edits, so a steady stream of
        edits (a held arrow key) cannot put the save off for ever."""
        if not self.soon.isActive() and not self._released:
            self.soon.start()

    def save_now(self, reason: str = REASON_UNSAVED) -> bool:
        self.soon.stop()
        doc = self._document()
        if doc is None:
            return False
        # The caller's `recovery` entry names the workspace; when and why are added here.
        meta = dict(doc.get(RECOVERY_KEY) or {})
        meta.update(saved_at=datetime.now().isoformat(timespec="seconds"), reason=reason, pid=os.getpid())
        doc = {**doc, RECOVERY_KEY: meta}
        try:
            atomic_write_text(self.path, json.dumps(doc, allow_nan=False))
        except (OSError, ValueError) as e:  # autosave must never interrupt the user
            log.warning("autosave failed: %s", e)
            return False
        return True

    def pending(self) -> bool:
        return self.path.exists()

    def discard(self) -> None:
        """Remove this instance's file (the work is saved, or deliberately dropped).

        A no-op once released: the file then belongs to the next start (Qt also clears the
        undo stack, "clean", while tearing the window down after a SIGTERM close)."""
        self.soon.stop()
        if self._released:
            return
        try:
            self.path.unlink(missing_ok=True)
        except OSError as e:
            log.warning("could not remove the recovery file: %s", e)

    def release(self) -> None:
        """Stop autosaving and give up the lock, leaving any file for the next start, as a
        process that dies does. Called last on every exit."""
        self.timer.stop()
        self.soon.stop()
        self._released = True
        if self._lock is not None:
            self._lock.unlock()
            self._lock = None
