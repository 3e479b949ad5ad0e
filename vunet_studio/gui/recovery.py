"""Crash recovery: while there are unsaved changes, the workspace is written every N
seconds to a recovery file in the app-data folder; a clean exit or a save removes it, so
finding it at start means the last session ended badly."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer

from vunet_studio.fileio import atomic_write_text
from vunet_studio.gui.settings import app_data_dir

log = logging.getLogger(__name__)


def recovery_path() -> Path:
    return app_data_dir() / "recovery.vunet"


class Autosaver(QObject):
    def __init__(
        self,
        document: Callable[[], dict[str, Any] | None],
        interval_s: int,
        parent: QObject | None = None,
    ) -> None:
        """`document()` returns the workspace JSON to keep, or None when nothing is unsaved."""
        super().__init__(parent)
        self._document = document
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.save_now)
        self.set_interval(interval_s)

    def set_interval(self, seconds: int) -> None:
        self.timer.start(max(1, int(seconds)) * 1000)

    def save_now(self) -> bool:
        doc = self._document()
        if doc is None:
            return False
        try:
            atomic_write_text(recovery_path(), json.dumps(doc, allow_nan=False))
        except (OSError, ValueError) as e:  # autosave must never interrupt the user
            log.warning("autosave failed: %s", e)
            return False
        return True

    @staticmethod
    def discard() -> None:
        try:
            recovery_path().unlink(missing_ok=True)
        except OSError as e:
            log.warning("could not remove the recovery file: %s", e)

    @staticmethod
    def pending() -> Path | None:
        p = recovery_path()
        return p if p.exists() else None
