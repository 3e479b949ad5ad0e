"""Finding each photo's people off the GUI thread, through the core's estimation chain.

In order (`vunet_studio.estimation.find_people`): a pose file with the photo's stem beside
it; the chosen pose estimator (openpifpaf if its checkpoint is here, else the bundled
BlazePose; built once, lazily, in this thread); else the template pose fitted into the
photo, with the reason for the status bar. The app runs without any estimator.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from vunet_studio.estimation import (
    Estimation,
    EstimatorChain,
    create_chain,
    find_people,
    sidecar_pose_path,
    template_pose,
)

log = logging.getLogger(__name__)

#: () -> an EstimatorChain, or any object with .estimate(image_rgb) -> list[Pose] (tests)
EstimatorFactory = Callable[[], Any]

__all__ = [
    "EstimatorFactory",
    "PoseFinder",
    "PoseFinderWorker",
    "default_estimator_factory",
    "sidecar_pose_path",
    "template_pose",
]


def default_estimator_factory(
    device: str = "auto", estimator: str = "auto", checkpoint: str = ""
) -> EstimatorFactory:
    """The chain for the user's preferences (pose estimator, its checkpoint, device)."""

    def make() -> EstimatorChain:
        return create_chain(estimator, checkpoint or None, device)

    return make


class PoseFinderWorker(QObject):
    #: photo id, Estimation: every person found and who found them (before `found`)
    people = Signal(int, object)
    found = Signal(int, object, str, str)  # photo id, Pose (the first person), origin, note

    def __init__(self, factory: EstimatorFactory) -> None:
        super().__init__()
        self._factory = factory
        self._chain: EstimatorChain | None = None
        self._unavailable = ""

    @Slot(object)
    def set_factory(self, factory: EstimatorFactory) -> None:
        self._factory = factory
        self._chain, self._unavailable = None, ""

    def _get_chain(self) -> EstimatorChain | None:
        if self._chain is None and not self._unavailable:
            try:
                made = self._factory()
            except Exception as e:
                self._unavailable = str(e) or type(e).__name__  # don't retry on every photo
                log.info("pose estimation unavailable: %s", self._unavailable)
                return None
            if isinstance(made, EstimatorChain):
                self._chain = made
            else:  # a bare estimator (tests, scripts): report it by its name
                self._chain = EstimatorChain.wrapping(made, str(getattr(made, "name", "the pose estimator")))
        return self._chain

    def estimate(self, path: str, image: np.ndarray) -> Estimation:
        chain = self._get_chain()
        h, w = image.shape[:2]
        try:
            result = find_people(image, Path(path), chain)
        except Exception as e:
            log.exception("finding the person in %s failed", path)
            return Estimation([template_pose(w, h)], "template", reason=f"pose finding failed ({e}).")
        if chain is None and result.origin == "template":
            result.reason = self._unavailable or result.reason
        return result

    @Slot(int, str, object, bool)
    def find(self, photo_id: int, path: str, image: np.ndarray, people_only: bool = False) -> None:
        result = self.estimate(path, image)
        self.people.emit(photo_id, result)
        if people_only:
            return
        sidecar = sidecar_pose_path(Path(path))
        file_notes = [s for s in result.skipped if sidecar is not None and sidecar.name in s]
        note = "; ".join([result.message, *file_notes])
        self.found.emit(photo_id, result.poses[0], result.origin, note)


class PoseFinder(QObject):
    """GUI-side handle: `find` queues a job; `people` and `found` report back on the GUI thread."""

    people = Signal(int, object)
    found = Signal(int, object, str, str)
    _find = Signal(int, str, object, bool)
    _set_factory = Signal(object)

    def __init__(self, factory: EstimatorFactory | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread = QThread(self)
        self._thread.setObjectName("pose-finder")
        self.worker = PoseFinderWorker(factory or default_estimator_factory())
        self.worker.moveToThread(self._thread)
        self._find.connect(self.worker.find)
        self._set_factory.connect(self.worker.set_factory)
        self.worker.people.connect(self.people)
        self.worker.found.connect(self.found)
        self._thread.start()

    def find(self, photo_id: int, path: Path, image: np.ndarray) -> None:
        self._find.emit(photo_id, str(path), image, False)

    def find_people(self, photo_id: int, path: Path, image: np.ndarray) -> None:
        """Only look for the people (a reopened workspace has its poses but not the others)."""
        self._find.emit(photo_id, str(path), image, True)

    def set_factory(self, factory: EstimatorFactory) -> None:
        """Use another estimator for the photos opened from now on (queued after earlier jobs)."""
        self._set_factory.emit(factory)

    def shutdown(self) -> None:
        if not self._thread.isRunning():
            return
        self._thread.quit()
        if not self._thread.wait(5000):
            log.warning("pose finder still busy at exit")
