"""Remembered things (QSettings): preferences, recent files, last folder, window layout;
and the app-data folder that holds the crash-recovery file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths

from vunet_studio.estimation import ESTIMATOR_CHOICES

MAX_RECENT = 10
DEVICES = ("auto", "cpu", "cuda")
MIN_EXPORT_SIDE, MAX_EXPORT_SIDE = 128, 8192


@dataclass
class Preferences:
    checkpoint: str = ""  # "" = the bundled default model
    device: str = "auto"
    autosave_s: int = 60
    fps: float = 12.0
    frames_between: int = 8
    estimator: str = "auto"  # one of ESTIMATOR_CHOICES
    pose_checkpoint: str = ""  # openpifpaf checkpoint file; "" = its default, if downloaded
    #: Animations are exported at the photo's size, shrunk to at most this many pixels on the
    #: long side (a 12-megapixel GIF would be hundreds of megabytes). Stills keep full size.
    export_max_side: int = 1280

    @classmethod
    def load(cls) -> Preferences:
        s = QSettings()
        d = cls()
        device = str(s.value("prefs/device", d.device))
        estimator = str(s.value("prefs/estimator", d.estimator))
        return cls(
            checkpoint=str(s.value("prefs/checkpoint", d.checkpoint) or ""),
            device=device if device in DEVICES else "auto",
            autosave_s=max(5, _int(s.value("prefs/autosave_s"), d.autosave_s)),
            fps=float(_int(s.value("prefs/fps"), int(d.fps))),
            frames_between=max(0, _int(s.value("prefs/frames_between"), d.frames_between)),
            estimator=estimator if estimator in ESTIMATOR_CHOICES else d.estimator,
            pose_checkpoint=str(s.value("prefs/pose_checkpoint", d.pose_checkpoint) or ""),
            export_max_side=min(
                MAX_EXPORT_SIDE, max(MIN_EXPORT_SIDE, _int(s.value("prefs/export_max_side"), d.export_max_side))
            ),
        )

    def save(self) -> None:
        s = QSettings()
        s.setValue("prefs/checkpoint", self.checkpoint)
        s.setValue("prefs/device", self.device)
        s.setValue("prefs/autosave_s", int(self.autosave_s))
        s.setValue("prefs/fps", int(self.fps))
        s.setValue("prefs/frames_between", int(self.frames_between))
        s.setValue("prefs/estimator", self.estimator)
        s.setValue("prefs/pose_checkpoint", self.pose_checkpoint)
        s.setValue("prefs/export_max_side", int(self.export_max_side))


def _int(value: object, default: int) -> int:
    try:
        return int(value)  # type: ignore[call-overload]  # whatever QSettings held: int() is the check
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
    items = [value] if isinstance(value, str) else list(value) if isinstance(value, list | tuple) else []
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
