"""Rendering off the GUI thread: one long-lived worker owns the engine; only the newest
request is ever rendered.

The GUI posts requests (`RenderService.request`) as fast as the mouse moves; the worker
keeps just the latest in a locked slot and wakes through a queued signal, so requests that
arrive while it renders are replaced, not queued. Results come back through queued signals
as copied QImages with their request id; results older than one already shown are dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot
from PySide6.QtGui import QImage

from vunet_studio.gui.qimage import qimage_from_rgb
from vunet_studio.pose import Pose

log = logging.getLogger(__name__)

EngineFactory = Callable[..., Any]  # (checkpoint, device, progress) -> RenderEngine-like


def default_engine_factory(checkpoint: str | Path | None, device: str, progress: Any) -> Any:
    # Imported here, in the render thread: torch takes seconds to import and the window
    # must be on screen long before that.
    from vunet_studio.engine import RenderEngine

    return RenderEngine(checkpoint, device, progress)


@dataclass(frozen=True)
class AppearanceJob:
    """What to encode: 1 or 8 (image, pose) sources, or a prior sample. `key` identifies it
    for caching. Plain tuples, so the GUI thread never imports the engine (and torch)."""

    key: str
    sources: tuple[tuple[np.ndarray, Pose], ...] = ()
    sample_pose: Pose | None = None
    seed: int = 0


@dataclass(frozen=True)
class RenderRequest:
    id: int
    photo_id: int
    pose: Pose
    appearance: AppearanceJob
    t_request: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class AnimationJob:
    path: Path
    frames: tuple[Pose, ...]
    appearance: AppearanceJob
    fps: float


class RenderWorker(QObject):
    """Lives in the render thread. Only `submit` is called from the GUI thread."""

    rendered = Signal(int, int, QImage, object, float, float)  # id, photo id, image, box, ms, t_request
    renderFailed = Signal(int, str)
    engineProgress = Signal(float, str)
    engineReady = Signal(str)
    engineFailed = Signal(str)
    animationDone = Signal(str, str)  # path, error message ("" = success)
    _wake = Signal()

    def __init__(self, factory: EngineFactory) -> None:
        super().__init__()
        self._factory = factory
        self._engine: Any = None
        self._lock = threading.Lock()
        self._pending: RenderRequest | None = None
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._wake.connect(self._drain)

    # GUI thread -------------------------------------------------------------------
    def submit(self, request: RenderRequest) -> None:
        with self._lock:
            self._pending = request  # replaces any request not yet started
        self._wake.emit()  # queued: the worker lives in another thread

    # worker thread ----------------------------------------------------------------
    @Slot(str, str)
    def load_engine(self, checkpoint: str, device: str) -> None:
        from vunet_studio.engine import EngineError

        self._engine = None
        self._cache.clear()
        try:
            engine = self._factory(checkpoint or None, device, self._progress)
        except EngineError as e:
            self.engineFailed.emit(str(e))
            return
        except Exception as e:  # a broken checkpoint may raise anything; the user needs a message
            log.exception("engine failed to load")
            self.engineFailed.emit(f"Could not load the model: {e}")
            return
        self._engine = engine
        self.engineReady.emit(
            f"{Path(checkpoint).name if checkpoint else 'default model'} on {engine.device}"
        )
        self._drain()  # a request may have arrived while loading

    def _progress(self, fraction: float, message: str) -> None:
        self.engineProgress.emit(float(fraction), message)

    def _appearance(self, job: AppearanceJob) -> Any:
        if job.key in self._cache:
            self._cache.move_to_end(job.key)
            return self._cache[job.key]
        if job.sample_pose is not None:
            app = self._engine.sample_appearance(job.sample_pose, job.seed)
        else:
            from vunet_studio.engine import Source

            sources = [Source(image, pose) for image, pose in job.sources]
            app = self._engine.encode(sources[0] if len(sources) == 1 else sources)
        self._cache[job.key] = app
        while len(self._cache) > 16:
            self._cache.popitem(last=False)
        return app

    @Slot()
    def _drain(self) -> None:
        if self._engine is None:
            return
        with self._lock:
            req, self._pending = self._pending, None
        if req is None:
            return
        try:
            result = self._engine.render(self._appearance(req.appearance), req.pose)
        except Exception as e:  # noqa: BLE001 - any model error is shown, the app lives on
            log.exception("render failed")
            self.renderFailed.emit(req.id, str(e))
            return
        self.rendered.emit(
            req.id,
            req.photo_id,
            qimage_from_rgb(result.image),
            tuple(result.box),
            float(result.ms),
            req.t_request,
        )

    @Slot(object)
    def export_animation(self, job: AnimationJob) -> None:
        from vunet_studio.gui.export import write_animation

        if self._engine is None:
            self.animationDone.emit(str(job.path), "The model is not loaded, so nothing can be rendered.")
            return
        try:
            app = self._appearance(job.appearance)
            frames = [self._engine.render(app, p).image for p in job.frames]
            write_animation(job.path, frames, job.fps)
        except Exception as e:  # noqa: BLE001
            log.exception("animation export failed")
            self.animationDone.emit(str(job.path), str(e))
            return
        self.animationDone.emit(str(job.path), "")


class RenderService(QObject):
    """GUI-side owner of the render thread: numbers requests, drops stale results."""

    imageReady = Signal(int, QImage, float, float)  # photo id, image, render ms, t_request (perf_counter s)
    renderFailed = Signal(str)
    engineProgress = Signal(float, str)
    engineReady = Signal(str)
    engineFailed = Signal(str)
    animationDone = Signal(str, str)
    _load = Signal(str, str)
    _animate = Signal(object)

    def __init__(self, factory: EngineFactory | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread = QThread(self)
        self._thread.setObjectName("render")
        self.worker = RenderWorker(factory or default_engine_factory)
        self.worker.moveToThread(self._thread)
        self._load.connect(self.worker.load_engine)
        self._animate.connect(self.worker.export_animation)
        self.worker.rendered.connect(self._on_rendered)
        self.worker.renderFailed.connect(self._on_render_failed)
        self.worker.engineProgress.connect(self.engineProgress)
        self.worker.engineReady.connect(self._on_ready)
        self.worker.engineFailed.connect(self._on_failed)
        self.worker.animationDone.connect(self.animationDone)
        self._thread.start()
        self._next_id = 1
        self._shown_id = 0
        self.ready = False
        self.loading = False
        self.last_error = ""

    def load_engine(self, checkpoint: str, device: str) -> None:
        self.ready, self.loading = False, True
        self._load.emit(checkpoint, device)

    def _on_ready(self, info: str) -> None:
        self.ready, self.loading, self.last_error = True, False, ""
        self.engineReady.emit(info)

    def _on_render_failed(self, rid: int, message: str) -> None:
        self._shown_id = max(self._shown_id, rid)
        self.renderFailed.emit(message)

    def caught_up(self) -> bool:
        """True when the newest request has been answered (shown or failed)."""
        return self._shown_id >= self._next_id - 1

    def _on_failed(self, message: str) -> None:
        self.ready, self.loading, self.last_error = False, False, message
        self.engineFailed.emit(message)

    def request(self, photo_id: int, pose: Pose, appearance: AppearanceJob) -> int:
        rid = self._next_id
        self._next_id += 1
        self.worker.submit(RenderRequest(rid, photo_id, pose.copy(), appearance))
        return rid

    def export_animation(self, job: AnimationJob) -> None:
        self._animate.emit(job)

    def _on_rendered(self, rid: int, photo_id: int, image: QImage, box: object, ms: float, t0: float) -> None:
        if rid <= self._shown_id:
            return  # an older request finished after a newer one was shown
        self._shown_id = rid
        self.imageReady.emit(photo_id, image, ms, t0)

    def shutdown(self) -> None:
        if not self._thread.isRunning():
            return
        self._thread.quit()
        # A model that is loading or rendering finishes first (seconds at worst): destroying
        # a running QThread would abort the process.
        if not self._thread.wait(30000):
            log.warning("render thread still busy at exit")
