"""Finding each photo's starting pose off the GUI thread.

In order: a pose file with the photo's stem beside it; the pose estimator (created once,
lazily, in this thread); else the template pose fitted into the photo, with the reason
for the status bar. The estimator's import is guarded: the app runs without it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from vunet_studio.pose import Pose
from vunet_studio.pose_io import PoseFileError, read_poses

log = logging.getLogger(__name__)

EstimatorFactory = Callable[[], Any]  # () -> object with .estimate(image_rgb) -> list[Pose]


class EstimatorMissing(RuntimeError):
    pass


def default_estimator_factory(device: str = "auto") -> EstimatorFactory:
    def make() -> Any:
        try:
            from vunet_studio.estimation import create_estimator
        except ImportError:
            raise EstimatorMissing("pose estimation is not installed") from None
        return create_estimator(None, device)

    return make


def template_pose(width: int, height: int) -> Pose:
    """The template standing in the middle of the photo, 90 % of its height."""
    return Pose.template(width, height, (0.05 * width, 0.05 * height, 0.9 * width, 0.9 * height))


def _area(p: Pose) -> float:
    b = p.bbox()
    return 0.0 if b is None else (b[2] - b[0]) * (b[3] - b[1])


def sidecar_pose_path(photo: Path) -> Path | None:
    for suffix in (".json", ".pose.json"):
        candidate = photo.with_name(photo.stem + suffix)
        if candidate.exists():
            return candidate
    return None


class PoseFinderWorker(QObject):
    found = Signal(int, object, str, str)  # photo id, Pose, origin, note

    def __init__(self, factory: EstimatorFactory) -> None:
        super().__init__()
        self._factory = factory
        self._estimator: Any = None
        self._unavailable = ""

    @Slot(int, str, object)
    def find(self, photo_id: int, path: str, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        p = Path(path)
        note = ""
        sidecar = sidecar_pose_path(p)
        if sidecar is not None:
            try:
                poses = [q for q in read_poses(sidecar, (w, h)) if q.visible.any()]
                if poses:
                    pose = max(poses, key=_area)
                    pose.image_size = (w, h)
                    self.found.emit(photo_id, pose, "file", f"pose read from {sidecar.name}")
                    return
                note = f"{sidecar.name} has no person"
            except PoseFileError as e:
                note = f"ignored {sidecar.name}: {e.problem}"
        try:
            poses = self._estimate(image)
            if poses:
                pose = poses[0]
                pose.image_size = (w, h)
                self.found.emit(photo_id, pose, "estimated", note)
                return
            reason = f"no person found in {p.name}"
        except Exception as e:  # noqa: BLE001 - any estimator failure falls back to the template
            reason = str(e) or type(e).__name__
            log.info("pose estimation unavailable: %s", reason)
        note = f"{note}; " if note else ""
        self.found.emit(photo_id, template_pose(w, h), "template", f"{note}template pose used: {reason}")

    def _estimate(self, image: np.ndarray) -> list[Pose]:
        if self._unavailable:
            raise EstimatorMissing(self._unavailable)
        if self._estimator is None:
            try:
                self._estimator = self._factory()
            except Exception as e:
                self._unavailable = str(e) or type(e).__name__  # don't retry on every photo
                raise
        return list(self._estimator.estimate(image))


class PoseFinder(QObject):
    """GUI-side handle: `find` queues a job; `found` reports back on the GUI thread."""

    found = Signal(int, object, str, str)
    _find = Signal(int, str, object)

    def __init__(self, factory: EstimatorFactory | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread = QThread(self)
        self._thread.setObjectName("pose-finder")
        self.worker = PoseFinderWorker(factory or default_estimator_factory())
        self.worker.moveToThread(self._thread)
        self._find.connect(self.worker.find)
        self.worker.found.connect(self.found)
        self._thread.start()

    def find(self, photo_id: int, path: Path, image: np.ndarray) -> None:
        self._find.emit(photo_id, str(path), image)

    def shutdown(self) -> None:
        if not self._thread.isRunning():
            return
        self._thread.quit()
        if not self._thread.wait(5000):
            log.warning("pose finder still busy at exit")
