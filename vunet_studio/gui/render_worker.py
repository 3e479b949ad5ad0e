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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QImage

from vunet_studio.borrowed import LookSource
from vunet_studio.gui.qimage import qimage_from_rgb
from vunet_studio.kept import KeptSource
from vunet_studio.pose import Pose
from vunet_studio.renderer import Renderer, RendererFactory

if TYPE_CHECKING:
    from vunet_studio.renderer import Appearance, ProgressFn

log = logging.getLogger(__name__)

#: How often the worker lets the engine read the machine's load between renders.
WATCH_LOAD_MS = 250


def default_engine_factory(checkpoint: str | Path | None, device: str, progress: ProgressFn, /) -> Renderer:
    """The model in a process of its own (`vunet_studio.render_process`): there the GUI
    thread's Python does not hold up the renders."""
    from vunet_studio.render_process import ProcessRenderer

    return ProcessRenderer(checkpoint, device, progress)


@dataclass(frozen=True)
class AppearanceJob:
    """What to encode: 1 or 8 appearance images as (key, image, pose), or a prior sample.
    Each key names its image and pose in the engine's appearance cache (the only one; see
    `engine.AppearanceImage`). Plain tuples, so the GUI thread never imports the engine (and torch)."""

    images: tuple[tuple[str, np.ndarray, Pose], ...] = ()
    sample_pose: Pose | None = None
    seed: int = 0


@dataclass(frozen=True)
class CompositeJob:
    """Where a render goes back into its photo: the photo's empty scene at display size
    (`scale` display pixels per photo pixel), the person's stable box in photo pixels
    (`composite.stable_box` extends it per pose), whether the photo is grey, and the photo's
    own person where an edit leaves them (`vunet_studio.kept`; None: the render alone), or,
    with another photo's look, that photo's head and body to carry onto the pose (`vunet_studio.borrowed`)."""

    scene: np.ndarray
    scale: float
    base_box: tuple[float, float, float]
    grey: bool = False
    kept: KeptSource | None = None
    borrowed: LookSource | None = None


@dataclass(frozen=True)
class RenderRequest:
    id: int
    photo_id: int
    pose: Pose
    appearance: AppearanceJob
    t_request: float = field(default_factory=time.perf_counter)
    composite: CompositeJob | None = None


@dataclass(frozen=True)
class PrimeJob:
    """A drag of `joint` away from `pose` may start soon: make its once-per-drag masks now
    (`composite.prime`), so its first frame is not the slow one."""

    pose: Pose
    joint: int
    composite: CompositeJob


@dataclass(frozen=True)
class AnimationJob:
    path: Path
    frames: tuple[Pose, ...]
    appearance: AppearanceJob
    fps: float
    loop: bool = True  # a GIF repeats forever (else it plays once)
    #: The frames composited into the photo (its empty scene at the export size), or None
    #: for the square renders. Its box holds every frame's pose, so the person does not breathe.
    composite: CompositeJob | None = None


@dataclass(frozen=True)
class StillJob:
    """A still export: the photo at full resolution with the person re-posed (`composite`),
    or the square render when `composite` is None."""

    path: Path
    pose: Pose
    appearance: AppearanceJob
    composite: CompositeJob | None = None


@dataclass(frozen=True)
class FramesJob:
    """Frames rendered for the in-app preview, answered with `token`."""

    token: int
    frames: tuple[Pose, ...]
    appearance: AppearanceJob
    composite: CompositeJob | None = None


class RenderWorker(QObject):
    """Lives in the render thread. Only `submit` is called from the GUI thread."""

    rendered = Signal(int, int, QImage, object, float, float)  # id, photo id, image, box, ms, t_request
    #: id, photo id, the changed tile of the display scene, its (x, y) there, scale, alpha source, t_request
    composited = Signal(int, int, QImage, int, int, float, str, float)
    renderFailed = Signal(int, str)
    engineProgress = Signal(float, str)
    engineReady = Signal(str)
    engineFailed = Signal(str)
    engineNotice = Signal(str)  # loaded, but not as asked (CUDA missing: on the CPU)
    animationDone = Signal(str, str)  # path, error message ("" = success)
    animationNotice = Signal(str)  # exported, with something the user should know
    #: path, frames rendered, frames in all: after each frame, so a long export shows how far it is
    animationProgress = Signal(str, int, int)
    animationCancelled = Signal(str)  # path: nothing was written
    stillDone = Signal(str, str)  # path, error message ("" = success)
    framesRendered = Signal(int, object)  # token, list[QImage]; for the animation preview
    framesProgress = Signal(int, int, int)  # token, preview frames rendered, frames in all
    _wake = Signal()

    def __init__(self, factory: RendererFactory) -> None:
        super().__init__()
        self._factory = factory
        self._engine: Renderer | None = None
        self._lock = threading.Lock()
        self._pending: RenderRequest | None = None
        self._wake.connect(self._drain)
        self._watch: QTimer | None = None  # made in the worker thread, once a model is loaded
        #: Set from the GUI thread (`cancel_animation`); the export looks at it between frames.
        self._cancel_animation = threading.Event()
        #: The preview frames still wanted (`want_frames`, GUI thread): a job for older
        #: options, or for a dialog since closed, stops at its next frame instead of holding
        #: up the export queued behind it (122 frames: 15 s on this project's 2-core CPU).
        self._wanted_frames = 0

    # GUI thread -------------------------------------------------------------------
    def submit(self, request: RenderRequest) -> None:
        with self._lock:
            self._pending = request  # replaces any request not yet started
        self._wake.emit()  # queued: the worker lives in another thread

    def cancel_animation(self) -> None:
        """Stop the animation export under way after its current frame; nothing is written."""
        self._cancel_animation.set()

    def want_frames(self, token: int) -> None:
        """Only the preview job `token` is still wanted (0: none)."""
        with self._lock:
            self._wanted_frames = token

    # worker thread ----------------------------------------------------------------
    @Slot(str, str)
    def load_engine(self, checkpoint: str, device: str) -> None:
        from vunet_studio.renderer import EngineError

        self.close_engine()
        try:
            engine = self._factory(checkpoint or None, device, self._progress)
        except EngineError as e:
            if not device.startswith("cuda"):
                self.engineFailed.emit(str(e))
                return
            # No usable GPU: a model on the CPU beats no model. If the CPU fails too, the
            # problem is not the device (a bad checkpoint), and that message is the one shown.
            log.warning("%s; falling back to the CPU", e)
            notice = (
                f"The model runs on the CPU: {str(e).rstrip('.')}. Choose the device in File ▸ Preferences."
            )
            self._load_on_cpu(checkpoint, notice)
            return
        except Exception as e:  # a broken checkpoint may raise anything; the user needs a message
            log.exception("engine failed to load")
            self.engineFailed.emit(f"Could not load the model: {e}")
            return
        self._ready(engine, checkpoint)

    def _load_on_cpu(self, checkpoint: str, notice: str) -> None:
        from vunet_studio.renderer import EngineError

        try:
            engine = self._factory(checkpoint or None, "cpu", self._progress)
        except EngineError as e:
            self.engineFailed.emit(str(e))
            return
        except Exception as e:
            log.exception("engine failed to load on the CPU")
            self.engineFailed.emit(f"Could not load the model: {e}")
            return
        self.engineNotice.emit(notice)  # first: the window shows it with the ready state
        self._ready(engine, checkpoint)

    def _ready(self, engine: Renderer, checkpoint: str) -> None:
        self._engine = engine
        if self._watch is None:
            # The engine's thread tuner reads the machine's load between renders too: a
            # process that started during a pause is seen before the next drag's first
            # render, not by that render stalling (issue 16).
            self._watch = QTimer(self)
            self._watch.setInterval(WATCH_LOAD_MS)
            self._watch.timeout.connect(self._watch_load)
            self._watch.start()
        self.engineReady.emit(
            f"{Path(checkpoint).name if checkpoint else 'default model'} on {engine.device}"
        )
        self._drain()  # a request may have arrived while loading

    def close_engine(self) -> None:
        """Let go of the model (a model in a process of its own ends that process)."""
        engine, self._engine = self._engine, None
        close = getattr(engine, "close", None)
        if close is not None:
            close()

    @Slot()
    def _watch_load(self) -> None:
        if self._engine is not None:
            self._engine.watch_load()

    def stop_watching(self) -> None:
        """On the worker thread as it ends: a timer can only be stopped by its own thread."""
        if self._watch is not None:
            self._watch.stop()

    def _progress(self, fraction: float, message: str) -> None:
        self.engineProgress.emit(float(fraction), message)

    def _appearance(self, job: AppearanceJob) -> Appearance:
        """The job's appearance; the engine caches it, so a drag encodes once."""
        assert self._engine is not None  # every job checks that the model is loaded
        if job.sample_pose is not None:
            return self._engine.sample_appearance(job.sample_pose, job.seed)
        from vunet_studio.renderer import AppearanceImage

        images = [AppearanceImage(image, pose, key) for key, image, pose in job.images]
        return self._engine.encode(images[0] if len(images) == 1 else images)

    @Slot()
    def _drain(self) -> None:
        if self._engine is None:
            return
        with self._lock:
            req, self._pending = self._pending, None
        if req is None:
            return
        frame: QImage | None = None
        try:
            appearance = self._appearance(req.appearance)
            job = req.composite
            if job is None:
                result = self._engine.render(appearance, req.pose)
            else:
                from vunet_studio.composite import repose

                done = repose(
                    self._engine,
                    appearance,
                    req.pose,
                    job.scene,
                    job.base_box,
                    scale=job.scale,
                    grey=job.grey,
                    frame=False,  # only the tile changes: the view shows the scene under it
                    kept=job.kept,
                    borrowed=job.borrowed,
                )
                result = done.render
                if done.tile is not None:
                    tile_rgb, tx, ty = done.tile
                    frame = qimage_from_rgb(tile_rgb)
        except Exception as e:
            log.exception("render failed")
            self.renderFailed.emit(req.id, str(e))
            return
        if frame is not None and req.composite is not None:
            # Before the square render: the service marks the request shown on `rendered`.
            self.composited.emit(
                req.id, req.photo_id, frame, tx, ty, req.composite.scale, done.alpha.source, req.t_request
            )
        self.rendered.emit(
            req.id,
            req.photo_id,
            qimage_from_rgb(result.image),
            tuple(result.box),
            float(result.ms),
            req.t_request,
        )

    @Slot(object)
    def prime(self, job: PrimeJob) -> None:
        c = job.composite
        if c.kept is None:
            return
        from vunet_studio.composite import prime

        try:
            prime(c.scene, c.base_box, c.kept, job.pose, job.joint, scale=c.scale, grey=c.grey)
        except Exception:  # only a head start: the drag makes the same masks itself
            log.exception("priming a drag failed")

    @Slot(object)
    def export_animation(self, job: AnimationJob) -> None:
        from vunet_studio.exports import write_animation

        if self._engine is None:
            self.animationDone.emit(str(job.path), "The model is not loaded, so nothing can be rendered.")
            return
        self._cancel_animation.clear()
        path, total = str(job.path), len(job.frames)
        try:
            app = self._appearance(job.appearance)
            frames = []
            for pose in job.frames:
                if self._cancel_animation.is_set():
                    self.animationCancelled.emit(path)
                    return
                frames.append(self._frame(app, pose, job.composite))
                self.animationProgress.emit(path, len(frames), total)
            note = write_animation(job.path, frames, job.fps, loop=job.loop)
        except Exception as e:
            log.exception("animation export failed")
            self.animationDone.emit(str(job.path), str(e))
            return
        if note:
            self.animationNotice.emit(note)
        self.animationDone.emit(str(job.path), "")

    def _frame(self, appearance: Appearance, pose: Pose, job: CompositeJob | None) -> np.ndarray:
        assert self._engine is not None  # the export checks that the model is loaded
        if job is None:
            return self._engine.render(appearance, pose).image
        from vunet_studio.composite import repose

        image = repose(
            self._engine,
            appearance,
            pose,
            job.scene,
            job.base_box,
            scale=job.scale,
            grey=job.grey,
            kept=job.kept,
            borrowed=job.borrowed,
        ).image
        assert image is not None  # frame=True: the whole frame
        return image

    @Slot(object)
    def export_still(self, job: StillJob) -> None:
        from vunet_studio.exports import write_image

        if self._engine is None:
            self.stillDone.emit(str(job.path), "The model is not loaded, so nothing can be rendered.")
            return
        try:
            image = self._frame(self._appearance(job.appearance), job.pose, job.composite)
            write_image(job.path, image, grey=job.composite is not None and job.composite.grey)
        except Exception as e:
            log.exception("still export failed")
            self.stillDone.emit(str(job.path), str(e))
            return
        self.stillDone.emit(str(job.path), "")

    @Slot(object)
    def render_frames(self, job: FramesJob) -> None:
        images: list[QImage] = []
        if self._engine is not None:
            try:
                app = self._appearance(job.appearance)
                for pose in job.frames:
                    with self._lock:
                        if self._wanted_frames != job.token:
                            return  # nobody waits for these any more
                    images.append(qimage_from_rgb(self._frame(app, pose, job.composite)))
                    self.framesProgress.emit(job.token, len(images), len(job.frames))
            except Exception:
                log.exception("preview frames failed")
                images = []
        self.framesRendered.emit(job.token, images)


class RenderService(QObject):
    """GUI-side owner of the render thread: numbers requests, drops stale results."""

    imageReady = Signal(int, QImage, float, float)  # photo id, image, render ms, t_request (perf_counter s)
    #: photo id, the changed tile of the display scene, its (x, y), scale, alpha source, t_request
    compositeReady = Signal(int, QImage, int, int, float, str, float)
    renderFailed = Signal(str)
    engineProgress = Signal(float, str)
    engineReady = Signal(str)
    engineFailed = Signal(str)
    engineNotice = Signal(str)
    animationDone = Signal(str, str)
    animationNotice = Signal(str)
    animationProgress = Signal(str, int, int)  # path, frames rendered, frames in all
    animationCancelled = Signal(str)  # path
    stillDone = Signal(str, str)  # path, error message ("" = success)
    stillStarted = Signal(str)  # path: a still export is under way (`stillDone` ends it)
    framesReady = Signal(int, object)  # token, list[QImage]
    framesProgress = Signal(int, int, int)  # token, frames rendered, frames in all
    _load = Signal(str, str)
    _animate = Signal(object)
    _still = Signal(object)
    _frames = Signal(object)
    _prime = Signal(object)

    def __init__(self, factory: RendererFactory | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread = QThread(self)
        self._thread.setObjectName("render")
        self.worker = RenderWorker(factory or default_engine_factory)
        self.worker.moveToThread(self._thread)
        self._thread.finished.connect(self.worker.stop_watching, Qt.ConnectionType.DirectConnection)
        self._load.connect(self.worker.load_engine)
        self._animate.connect(self.worker.export_animation)
        self._still.connect(self.worker.export_still)
        self.worker.stillDone.connect(self.stillDone)
        self.worker.rendered.connect(self._on_rendered)
        self.worker.composited.connect(self._on_composited)
        self.worker.renderFailed.connect(self._on_render_failed)
        self.worker.engineProgress.connect(self.engineProgress)
        self.worker.engineReady.connect(self._on_ready)
        self.worker.engineFailed.connect(self._on_failed)
        self.worker.animationDone.connect(self.animationDone)
        self.worker.engineNotice.connect(self.engineNotice)
        self.worker.animationNotice.connect(self.animationNotice)
        self.worker.animationProgress.connect(self.animationProgress)
        self.worker.animationCancelled.connect(self.animationCancelled)
        self.worker.framesRendered.connect(self.framesReady)
        self.worker.framesProgress.connect(self.framesProgress)
        self._frames.connect(self.worker.render_frames)
        self._prime.connect(self.worker.prime)
        self._next_token = 1
        self._thread.start()
        self._next_id = 1
        self._shown_id = 0
        self.ready = False
        self.last_error = ""

    def load_engine(self, checkpoint: str, device: str) -> None:
        self.ready = False
        self._load.emit(checkpoint, device)

    def _on_ready(self, info: str) -> None:
        self.ready, self.last_error = True, ""
        self.engineReady.emit(info)

    def _on_render_failed(self, rid: int, message: str) -> None:
        self._shown_id = max(self._shown_id, rid)
        self.renderFailed.emit(message)

    def caught_up(self) -> bool:
        """True when the newest request has been answered (shown or failed)."""
        return self._shown_id >= self._next_id - 1

    def _on_failed(self, message: str) -> None:
        self.ready, self.last_error = False, message
        self.engineFailed.emit(message)

    def request(
        self, photo_id: int, pose: Pose, appearance: AppearanceJob, composite: CompositeJob | None = None
    ) -> int:
        rid = self._next_id
        self._next_id += 1
        self.worker.submit(RenderRequest(rid, photo_id, pose, appearance, composite=composite))
        return rid

    def prime(self, pose: Pose, joint: int, composite: CompositeJob) -> None:
        """Get a drag of `joint` ready in the render thread (`PrimeJob`); never waits."""
        self._prime.emit(PrimeJob(pose, joint, composite))

    def export_animation(self, job: AnimationJob) -> None:
        self._animate.emit(job)

    def cancel_animation(self) -> None:
        """Stop the animation export under way (`animationCancelled` answers); never waits."""
        self.worker.cancel_animation()

    def export_still(self, job: StillJob) -> None:
        """Render and write a still in the render thread; `stillDone` answers."""
        self.stillStarted.emit(str(job.path))
        self._still.emit(job)

    def render_frames(
        self, frames: tuple[Pose, ...], appearance: AppearanceJob, composite: CompositeJob | None = None
    ) -> int:
        """Render `frames` in the background (composited into the photo with `composite`);
        `framesReady` answers with the returned token."""
        token = self._next_token
        self._next_token += 1
        self.worker.want_frames(token)  # an earlier job still rendering stops
        self._frames.emit(FramesJob(token, tuple(frames), appearance, composite))
        return token

    def cancel_frames(self) -> None:
        """No preview frames are wanted any more (their dialog closed); never waits."""
        self.worker.want_frames(0)

    def _on_composited(
        self, rid: int, photo_id: int, tile: QImage, x: int, y: int, scale: float, alpha_source: str, t0: float
    ) -> None:
        if rid <= self._shown_id:
            return
        self.compositeReady.emit(photo_id, tile, x, y, scale, alpha_source, t0)

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
            return
        self.worker.close_engine()  # the thread has stopped: nothing else uses the engine
