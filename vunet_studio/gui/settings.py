"""Remembered things (QSettings): preferences, recent files, last folder, window layout;
and the app-data folder that holds the crash-recovery file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths

MAX_RECENT = 10
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class Preferences:
    checkpoint: str = ""  # "" = the bundled default model
    device: str = "auto"
    autosave_s: int = 60
    fps: float = 12.0
    frames_between: int = 8

    @classmethod
    def load(cls) -> Preferences:
        s = QSettings()
        d = cls()
        device = str(s.value("prefs/device", d.device))
        return cls(
            checkpoint=str(s.value("prefs/checkpoint", d.checkpoint) or ""),
            device=device if device in DEVICES else "auto",
            autosave_s=max(5, _int(s.value("prefs/autosave_s"), d.autosave_s)),
            fps=float(_int(s.value("prefs/fps"), int(d.fps))),
            frames_between=max(0, _int(s.value("prefs/frames_between"), d.frames_between)),
        )

    def save(self) -> None:
        s = QSettings()
        s.setValue("prefs/checkpoint", self.checkpoint)
        s.setValue("prefs/device", self.device)
        s.setValue("prefs/autosave_s", int(self.autosave_s))
        s.setValue("prefs/fps", int(self.fps))
        s.setValue("prefs/frames_between", int(self.frames_between))


def _int(value: object, default: int) -> int:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


def last_folder() -> str:
    folder = str(QSettings().value("paths/last_folder", "") or "")
    return folder if folder and Path(folder).is_dir() else str(Path.home())


def remember_folder(path: str | Path) -> None:
    p = Path(path)
    QSettings().setValue("paths/last_folder", str(p if p.is_dir() else p.parent))


def recent_files() -> list[str]:
    value = QSettings().value("paths/recent", [])
    items = [value] if isinstance(value, str) else list(value or [])
    return [str(v) for v in items if v]


def add_recent(path: str | Path) -> list[str]:
    p = str(Path(path).resolve())
    items = [p] + [x for x in recent_files() if x != p]
    QSettings().setValue("paths/recent", items[:MAX_RECENT])
    return items[:MAX_RECENT]


def clear_recent() -> None:
    QSettings().setValue("paths/recent", [])


def app_data_dir() -> Path:
    """Where the recovery file lives; VUNET_STUDIO_DATA_DIR overrides it (tests, portable use)."""
    override = os.environ.get("VUNET_STUDIO_DATA_DIR")
    base = (
        Path(override)
        if override
        else Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation))
    )
    base.mkdir(parents=True, exist_ok=True)
    return base
