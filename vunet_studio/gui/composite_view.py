"""The main view shows the photo with its person re-posed in place, live while dragging.

`CompositeView` turns each photo's empty scene (`scene_worker.SceneService`) into a
`CompositeJob` for the render worker (the scene at display size, the person's stable box, grey
or colour), and lays the composited frames it gets back over the canvas photo. The square
render stays in its dock for inspection. View ▸ "Re-posed person in the photo" turns it off.
A person re-posed with their own look keeps the photo's own pixels where the edit left them
(`vunet_studio.kept`); View ▸ "Keep the photo where the pose is unchanged" turns that off, to
see the model's render of the whole person. With another photo's look, that photo's own head
is carried onto the pose (`vunet_studio.borrowed`), and its torso and limbs: View ▸ "Carry
the look photo's head" and "Carry the look photo's body" turn them off.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence

import cv2
import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QImage, QPixmap

from vunet_studio.borrowed import LookSource
from vunet_studio.composite import stable_box
from vunet_studio.framing import FramingError, pose_box
from vunet_studio.gui.canvas import PoseCanvas
from vunet_studio.gui.document import StudioDocument
from vunet_studio.gui.qimage import qimage_from_rgb
from vunet_studio.gui.render_worker import CompositeJob, RenderService
from vunet_studio.gui.scene_worker import SceneKey, SceneService, scene_key
from vunet_studio.imageio import is_grey
from vunet_studio.kept import KeptSource
from vunet_studio.pose import Pose
from vunet_studio.skeleton import PART_INDEX
from vunet_studio.workspace import Photo

log = logging.getLogger(__name__)

#: What a photo's composite job is made from: its scene, the display side, whether it keeps
#: the photo's own person (and carries their moved limbs), and the look photo's scene (with
#: its mask made or not, and whether its head and body are carried) to borrow them from.
LookKey = tuple[SceneKey, bool, bool, bool]
JobKey = tuple[SceneKey, int, tuple[bool, bool], LookKey | None]

#: The composite shown while editing is made at most this many pixels on its long side: a
#: 12-megapixel photo composited at full size would cost more than the render. Exports use
#: the photo's own resolution.
DISPLAY_SIDE = 1600
#: Below that, it is made at the canvas's own resolution (its zoom times the screen's device
#: pixel ratio), rounded up to the next of these steps, so zooming in by less than one step
#: does not make a new one, and a photo shown at a fifth of its size is not blended at twice
#: the pixels the screen shows (measured on a 12-megapixel photo in a 1280 x 800 window: the
#: blend went from ~10 ms at 1600 px to ~3 ms).
ZOOM_STEP = math.sqrt(2.0)
#: ...and never smaller than this on its long side (a tiny window still composites sharply
#: when it is made bigger, until the next render).
MIN_DISPLAY_SIDE = 480


class CompositeView(QObject):
    message = Signal(str)
    frameShown = Signal(float)  # request-to-screen latency of a composited frame, ms

    def __init__(
        self,
        doc: StudioDocument,
        canvas: PoseCanvas,
        scenes: SceneService,
        render: RenderService,
        rerender: Callable[[], object],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._doc, self._canvas, self._scenes, self._rerender = doc, canvas, scenes, rerender
        self._jobs: dict[int, tuple[JobKey, CompositeJob]] = {}
        self._alpha_source = ""
        self._scene_shown: tuple[int, JobKey] | None = None
        self.act_show = _switch(
            self, "Re-posed person in the &photo", "Show the render composited into the photo (off: the photo as it is)"
        )
        self.act_show.toggled.connect(self._on_toggled)
        self.act_keep = _switch(
            self,
            "&Keep the photo where the pose is unchanged",
            "Re-render only the limbs that moved; the rest of the person stays the photo's own (with their own look)",
        )
        self.act_limbs = _switch(
            self,
            "Carry moved &limbs from the photo",
            "A dragged arm or leg is the photo's own limb turned onto its new bone (off: the model's render of it)",
        )
        self.act_borrow = _switch(
            self,
            "Carry the look photo's &head",
            "With another photo's look (or mixed parts: the head's photo), show that photo's own head on the pose "
            "instead of the model's render of it",
        )
        self.act_body = _switch(
            self,
            "Carry the look photo's &body",
            "With another photo's look, show that photo's own torso, arms and legs on the pose instead of "
            "the model's render of them (the render fills what they do not cover)",
        )
        for act in (self.act_keep, self.act_limbs, self.act_borrow, self.act_body):
            act.toggled.connect(lambda _on: self._rerender())
        scenes.ready.connect(self._on_scene_ready)
        render.compositeReady.connect(self._on_frame)
        doc.currentChanged.connect(self._on_current_changed)
        canvas.zoomChanged.connect(self._on_zoom)

    def job_for(self, photo: Photo) -> CompositeJob | None:
        """The composite job for a render of `photo`, or None (turned off, or the photo's
        empty scene is still being made: the render then comes without a composite)."""
        if not self.act_show.isChecked() or photo.image is None or photo.source_pose is None:
            return None
        scene = scene_key(photo)
        if scene is None:
            return None
        side = self.display_side(photo)
        key = (scene, side, (self.keeps(photo), self.act_limbs.isChecked()), self._look_key(photo))
        hit = self._jobs.get(photo.id)
        if hit is not None and hit[0] == key:
            return hit[1]
        job = self.export_job(photo, (), side)
        if job is None:
            return None  # `ready` comes later and asks for a render again
        self._jobs[photo.id] = (key, job)
        live = {p.id for p in self._doc.photos}
        for pid in [pid for pid in self._jobs if pid not in live]:
            del self._jobs[pid]
        return job

    def display_side(self, photo: Photo) -> int:
        """The long side, in pixels, of the composite shown for `photo` at the canvas's zoom:
        the screen pixels the photo covers, rounded up to a `ZOOM_STEP`, within
        [MIN_DISPLAY_SIDE, DISPLAY_SIDE] and never more than the photo's own."""
        assert photo.image is not None
        long_side = max(photo.image.shape[:2])
        screen = self._canvas.zoom() * self._canvas.devicePixelRatioF() * long_side
        steps = math.ceil(math.log(max(screen, 1.0) / MIN_DISPLAY_SIDE, ZOOM_STEP) - 1e-9)
        side = MIN_DISPLAY_SIDE * ZOOM_STEP ** max(0, steps)
        return min(long_side, DISPLAY_SIDE, math.ceil(side))

    def export_job(
        self, photo: Photo, poses: Sequence[Pose] = (), max_side: int | None = None
    ) -> CompositeJob | None:
        """The photo's empty scene at export size (full size, or at most `max_side` pixels on
        its long side) and one box that holds `poses` (an animation's frames: the person keeps
        one size throughout), or None while the empty scene is still being made."""
        if photo.image is None or photo.source_pose is None:
            return None
        scene = self._scenes.request(photo)
        if scene is None:
            return None
        try:
            box = pose_box(photo.source_pose)
        except FramingError:
            return None
        for p in poses:
            box = stable_box(box, p)
        kept = (
            (photo.image, scene.mask, photo.source_pose, self.act_limbs.isChecked()) if self.keeps(photo) else None
        )
        return _make_job(scene.scene, box, max_side, kept, self._look_source(photo))

    def borrows_from(self, photo: Photo) -> Photo | None:
        """The photo whose head (and body) renders of `photo` carry (`vunet_studio.borrowed`):
        the look's, when it is another single photo; with mixed parts, the photo the head part
        comes from (this photo's own too: its face stays its own under another's clothes);
        else None. That photo must have a person found in it."""
        spec = photo.appearance
        if not (self.act_borrow.isChecked() or self._borrows_body(photo)):
            return None
        if spec.mode == "photo" and spec.source not in (None, photo.id):
            source = spec.source
        elif spec.mode == "mix":
            head = spec.parts[PART_INDEX["head"]]
            source = photo.id if head is None else head
        else:
            return None
        look = self._doc.photo(source)
        if look is None or look.image is None or look.source_pose is None:
            return None
        return look

    def _look_source(self, photo: Photo) -> LookSource | None:
        """The look photo's head and body for renders of `photo`, once that photo's person mask
        is made (asked for here; `ready` renders again)."""
        look = self.borrows_from(photo)
        if look is None or look.image is None or look.source_pose is None:
            return None
        made = self._scenes.request(look)
        if made is None:
            return None
        head, body = self.act_borrow.isChecked(), self._borrows_body(photo)
        return LookSource.of(look.image, made.mask, look.source_pose, head=head, body=body)

    def _borrows_body(self, photo: Photo) -> bool:
        """Whether renders of `photo` carry the look photo's torso and limbs: with another single
        photo's look (mixed parts take each part from a photo of its own)."""
        spec = photo.appearance
        return self.act_body.isChecked() and spec.mode == "photo" and spec.source not in (None, photo.id)

    def _look_key(self, photo: Photo) -> LookKey | None:
        """What a job's borrowed head and body depend on: the look photo's scene, whether its
        mask is made, and which of the two are carried."""
        look = self.borrows_from(photo)
        key = None if look is None else scene_key(look)
        if look is None or key is None:
            return None
        return key, self._scenes.request(look) is not None, self.act_borrow.isChecked(), self._borrows_body(photo)

    def keeps(self, photo: Photo) -> bool:
        """Whether renders of `photo` keep its own person where the pose is unchanged: with
        its own look only (another photo's clothes, mixed parts or a random person are
        the render's everywhere)."""
        spec = photo.appearance
        return self.act_keep.isChecked() and spec.mode == "photo" and spec.source in (None, photo.id)

    def _on_scene_ready(self, photo_id: int) -> None:
        photo = self._doc.current
        if photo is None or not self.act_show.isChecked():
            return
        look = self.borrows_from(photo)
        if photo.id == photo_id or (look is not None and look.id == photo_id):
            self._rerender()

    def _on_frame(
        self, photo_id: int, tile: QImage, x: int, y: int, scale: float, alpha_source: str, t_request: float
    ) -> None:
        photo = self._doc.current
        hit = self._jobs.get(photo_id)
        if photo is None or photo.id != photo_id or not self.act_show.isChecked() or hit is None:
            return
        key, job = hit
        if self._scene_shown != (photo_id, key):  # the empty scene under the tiles, once per photo
            self._canvas.set_composite(QPixmap.fromImage(qimage_from_rgb(job.scene)), 1.0 / job.scale)
            self._scene_shown = (photo_id, key)
        self._canvas.set_composite_tile(QPixmap.fromImage(tile), x, y)
        self.frameShown.emit((time.perf_counter() - t_request) * 1e3)
        if alpha_source != self._alpha_source:
            self._alpha_source = alpha_source
            self.message.emit(f"Person cut out by {alpha_source}")

    def _on_zoom(self, _zoom: float) -> None:
        """A new composite when the zoom needs another resolution (the next render makes it)."""
        photo = self._doc.current
        if photo is None or photo.image is None or not self.act_show.isChecked():
            return
        hit = self._jobs.get(photo.id)
        if hit is not None and hit[0][1] != self.display_side(photo):
            self._rerender()

    def _on_current_changed(self, _pid: int) -> None:
        self._canvas.set_composite(None)
        self._scene_shown = None

    def _on_toggled(self, on: bool) -> None:
        if not on:
            self._canvas.set_composite(None)
            self._scene_shown = None
        self._rerender()


def _switch(parent: QObject, text: str, tip: str) -> QAction:
    """A View menu switch, on until the user turns it off."""
    act = QAction(text, parent)
    act.setStatusTip(tip)
    act.setCheckable(True)
    act.setChecked(True)
    return act


def _make_job(
    scene: np.ndarray,
    base_box: tuple[float, float, float],
    max_side: int | None,
    kept: tuple[np.ndarray, np.ndarray, Pose, bool] | None = None,
    borrowed: LookSource | None = None,
) -> CompositeJob:
    """The job at the export or display size; `kept`: (photo, person mask, pose as found,
    whether moved limbs are carried);
    `borrowed`: the look photo's head and body (in its own pixels: the job's scale places them)."""
    rgb = scene if scene.ndim == 3 else np.repeat(scene[:, :, None], 3, axis=2)
    rgb = np.ascontiguousarray(rgb[:, :, :3], dtype=np.uint8)
    h, w = rgb.shape[:2]
    scale = 1.0 if max_side is None else min(1.0, max_side / max(h, w))
    size = (round(w * scale), round(h * scale))
    if scale < 1.0:
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    source = None
    if kept is not None:
        image, mask, pose, limbs = kept
        if image.shape[:2] == (h, w):  # resized by the render thread, on first use
            source = KeptSource.of(image, mask, pose, size if scale < 1.0 else None, limbs=limbs)
    return CompositeJob(rgb, scale, base_box, is_grey(rgb), source, None if source is not None else borrowed)
