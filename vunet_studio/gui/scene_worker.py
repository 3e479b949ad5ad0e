"""Each photo's person mask and empty scene, computed off the GUI thread and kept in memory.

`SceneService` owns a worker thread that runs `segmentation.segment_person` and
`scene.empty_scene` (tens of milliseconds each, a second for the first photo while mediapipe
starts). Results are cached per photo and per source pose (the person the photo shows), never
written to the workspace: opening a workspace computes them again. `SceneView` is the View
menu's two toggles, which lay the mask (a tint) and the empty scene over the canvas photo so
the user sees what the app understood.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass

import cv2
import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot
from PySide6.QtGui import QAction, QImage, QPixmap

from vunet_studio.estimation import template_pose
from vunet_studio.gui.canvas import PoseCanvas
from vunet_studio.gui.document import StudioDocument
from vunet_studio.gui.editor import pose_key
from vunet_studio.gui.qimage import MAX_DISPLAY_SIDE
from vunet_studio.pose import Pose
from vunet_studio.scene import empty_scene
from vunet_studio.segmentation import segment_person, shared_segmenter
from vunet_studio.workspace import Photo

log = logging.getLogger(__name__)

#: The mask's tint on the canvas (RGB) and its opacity where the mask is 1.
TINT = (255, 40, 150)
TINT_OPACITY = 0.5

SceneKey = tuple[int, str, str]  # photo id, photo path, source pose key ("" = no person found)


@dataclass(frozen=True)
class PhotoScene:
    """mask: (H, W) float32 in [0, 1]; scene: the photo without the person (as the photo);
    method: what made the mask ("failed": nothing could); note: a fallback's reason or the failure;
    mask_ms, scene_ms: how long each took."""

    mask: np.ndarray
    scene: np.ndarray
    method: str
    note: str
    mask_ms: float
    scene_ms: float

    def message(self) -> str:
        made = {"blazepose": "BlazePose", "selfie": "the selfie model", "stickman": "the skeleton"}
        if self.method == "failed":
            return f"The person's mask could not be made ({self.note}): the empty scene is the photo"
        if self.method == "none":
            text = "No person found for a mask: the empty scene is the photo"
        else:
            text = f"Person mask by {made.get(self.method, self.method)} in {self.mask_ms:.0f} ms"
            text += f", empty scene in {self.scene_ms:.0f} ms"
        return f"{text} ({self.note})" if self.note and self.method != "none" else text


def scene_key(photo: Photo) -> SceneKey | None:
    """What the mask depends on, or None while the photo has no image or no pose yet."""
    if photo.image is None or photo.origin == "pending":
        return None
    pose = photo.source_pose
    # The template stands where nobody was found; once the user moves it onto someone and
    # makes it the source pose, it is that person's.
    untouched = photo.origin == "template" and pose == template_pose(*photo.size)
    person = "" if pose is None or untouched else pose_key(pose)
    return (photo.id, str(photo.path), person)


class SceneWorker(QObject):
    done = Signal(object, object, object)  # SceneKey, the photo's image, PhotoScene

    @Slot()
    def preload(self) -> None:
        """Load the segmentation models at start-up, while the render model loads: importing
        mediapipe is seconds of Python that, done on the first photo instead, took the GIL
        from the render thread during the user's first drag (measured: a first drag at
        9-14 frames/s instead of 28)."""
        shared_segmenter().preload()

    @Slot(object, object, object)
    def compute(self, key: SceneKey, image: np.ndarray, pose: Pose | None) -> None:
        try:
            seg = segment_person(image, pose)
            scene = empty_scene(image, seg.mask)
            result = PhotoScene(seg.mask, scene.image, seg.method, seg.note, seg.ms, scene.ms)
        except Exception as e:
            log.exception("person mask failed")
            h, w = image.shape[:2]
            result = PhotoScene(
                np.zeros((h, w), np.float32), image, "failed", str(e) or type(e).__name__, 0.0, 0.0
            )
        self.done.emit(key, image, result)


class SceneService(QObject):
    """GUI-side cache: `request(photo)` returns the cached result or queues the work;
    `ready(photo_id)` says a result arrived (on the GUI thread)."""

    ready = Signal(int)
    _compute = Signal(object, object, object)
    _preload = Signal()

    def __init__(self, doc: StudioDocument, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._doc = doc
        # photo id -> (key, the image it was computed from, result). The image is held weakly
        # and compared by identity: a photo loaded again (a workspace reopened) is a new
        # array, so its mask is computed again even when id, path and pose are the same.
        self._cache: dict[int, tuple[SceneKey, weakref.ref[np.ndarray], PhotoScene]] = {}
        self._pending: set[tuple[SceneKey, int]] = set()
        self._thread = QThread(self)
        self._thread.setObjectName("scene-worker")
        self.worker = SceneWorker()
        self.worker.moveToThread(self._thread)
        self._compute.connect(self.worker.compute)
        self._preload.connect(self.worker.preload)
        self.worker.done.connect(self._on_done)
        self._thread.start()
        self._preload.emit()  # queued: runs in the worker thread, before any photo's work
        doc.photosChanged.connect(self._prune)

    def get(self, photo: Photo) -> PhotoScene | None:
        key = scene_key(photo)
        hit = self._cache.get(photo.id)
        if hit is None or key is None or hit[0] != key or hit[1]() is not photo.image:
            return None
        return hit[2]

    def request(self, photo: Photo) -> PhotoScene | None:
        cached = self.get(photo)
        key = scene_key(photo)
        if cached is not None or key is None or (key, id(photo.image)) in self._pending:
            return cached
        assert photo.image is not None
        self._pending.add((key, id(photo.image)))
        pose = None if key[2] == "" else photo.source_pose
        self._compute.emit(key, photo.image, pose)
        return None

    @Slot(object, object, object)
    def _on_done(self, key: SceneKey, image: np.ndarray, result: PhotoScene) -> None:
        self._pending.discard((key, id(image)))
        photo = self._doc.photo(key[0])
        # A photo closed, reloaded, or its person changed while the worker ran: stale.
        if photo is None or scene_key(photo) != key or photo.image is not image:
            return
        self._cache[key[0]] = (key, weakref.ref(image), result)
        self.ready.emit(key[0])

    def _prune(self) -> None:
        alive = {p.id: p.image for p in self._doc.photos}
        for pid in [
            pid for pid, hit in self._cache.items() if hit[1]() is None or alive.get(pid) is not hit[1]()
        ]:
            del self._cache[pid]

    def shutdown(self) -> None:
        if not self._thread.isRunning():
            return
        self._thread.quit()
        if not self._thread.wait(5000):
            log.warning("scene worker still busy at exit")


def overlay_image(result: PhotoScene, show_mask: bool, show_scene: bool) -> tuple[QPixmap, float]:
    """The canvas overlay: the empty scene (opaque) and/or the mask's tint, at display size,
    and the scale back to photo pixels."""
    scene, mask = result.scene, result.mask
    h, w = mask.shape
    scale = max(1.0, max(h, w) / MAX_DISPLAY_SIDE)
    if scale > 1.0:
        size = (round(w / scale), round(h / scale))
        scene = cv2.resize(scene, size, interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_AREA)
    if scene.ndim == 2:
        scene = np.repeat(scene[:, :, None], 3, axis=2)
    a = (TINT_OPACITY * mask if show_mask else np.zeros_like(mask))[:, :, None]
    tint = np.array(TINT, np.float32)
    if show_scene:
        rgb = scene[:, :, :3].astype(np.float32) * (1.0 - a) + tint * a
        alpha: np.ndarray = np.full(mask.shape, 255.0, np.float32)
    else:
        rgb = np.broadcast_to(tint, (*mask.shape, 3))
        alpha = a[:, :, 0] * 255.0
    rgba = np.ascontiguousarray(np.dstack([rgb, alpha]).round().astype(np.uint8))
    qimage = QImage(rgba.data, rgba.shape[1], rgba.shape[0], 4 * rgba.shape[1], QImage.Format.Format_RGBA8888)
    return QPixmap.fromImage(qimage.copy()), scale


class SceneView(QObject):
    """The View menu's "Show person mask" and "Show empty scene": what they show on the canvas."""

    message = Signal(str)

    def __init__(
        self, doc: StudioDocument, canvas: PoseCanvas, service: SceneService, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._doc, self._canvas, self._service = doc, canvas, service
        self._shown: tuple[SceneKey | None, bool, bool] | None = None
        self.act_mask = QAction("Show person &mask", self)
        self.act_mask.setStatusTip("Tint the person the app found in the photo")
        self.act_scene = QAction("Show &empty scene", self)
        self.act_scene.setStatusTip("Show the photo with the person removed")
        for act in (self.act_mask, self.act_scene):
            act.setCheckable(True)
            act.toggled.connect(self.refresh)
        doc.currentChanged.connect(self.refresh)
        doc.photosChanged.connect(self.refresh)
        doc.poseChanged.connect(self.refresh)
        service.ready.connect(self._on_ready)

    @property
    def actions(self) -> list[QAction]:
        return [self.act_mask, self.act_scene]

    def refresh(self, *_: object) -> None:
        photo = self._doc.current
        wanted = self.act_mask.isChecked() or self.act_scene.isChecked()
        if photo is None or not wanted:
            self._clear()
            return
        result = self._service.request(photo)
        if result is None:
            self._clear()
            if scene_key(photo) is not None:
                self.message.emit("Finding the person's mask…")
            return
        shown = (scene_key(photo), self.act_mask.isChecked(), self.act_scene.isChecked())
        if shown != self._shown:  # pose edits refresh too: don't rebuild the same overlay
            self._canvas.set_overlay(*overlay_image(result, shown[1], shown[2]))
            self._shown = shown

    def _clear(self) -> None:
        self._canvas.set_overlay(None)
        self._shown = None

    def _on_ready(self, photo_id: int) -> None:
        photo = self._doc.current
        if photo is None or photo.id != photo_id:
            return
        self.refresh()
        result = self._service.get(photo)
        if result is not None:
            self.message.emit(result.message())
