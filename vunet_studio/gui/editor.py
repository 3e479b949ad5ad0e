"""The editing controller: wires the canvas, the panels and the render service to the
document. Every user edit becomes one undo command; every pose change asks for a render."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage, QPixmap

from vunet_studio.gui.canvas import PoseCanvas, keep_in_reach
from vunet_studio.gui.commands import (
    SetAppearanceCommand,
    SetKeyframesCommand,
    SetPoseCommand,
    SetSourcePoseCommand,
)
from vunet_studio.gui.document import StudioDocument
from vunet_studio.gui.qimage import thumbnail
from vunet_studio.gui.render_view import RenderView
from vunet_studio.gui.render_worker import AppearanceJob, CompositeJob, RenderService
from vunet_studio.gui.sources_panel import AppearancePanel, PhotoEntry, PhotosPanel
from vunet_studio.pose import Pose
from vunet_studio.skeleton import JOINT_LABELS, JOINT_NAMES
from vunet_studio.workspace import AppearanceSpec, Photo, fit_pose_to_box, pose_into_frame

log = logging.getLogger(__name__)

_ORIGIN_TEXT = {
    "estimated": "pose found by the estimator",
    "file": "pose read from a file",
    "template": "template pose (no person found)",
    "pending": "finding the person…",
}


def pose_key(pose: Pose) -> str:
    return hashlib.blake2b(pose.xy.tobytes() + pose.visible.tobytes(), digest_size=8).hexdigest()


def appearance_image(photo: Photo) -> tuple[str, np.ndarray, Pose]:
    """(key, image, pose) of a photo as an appearance image. The key names the photo's pixels
    (its id and image object) and its pose for the engine's cache: hashing the pixels on every
    request would cost more than the render."""
    assert photo.image is not None
    assert photo.source_pose is not None
    return f"photo:{photo.id}:{id(photo.image)}:{pose_key(photo.source_pose)}", photo.image, photo.source_pose


class EditController(QObject):
    message = Signal(str)
    frameShown = Signal(float, float)  # render ms, request-to-screen latency ms

    def __init__(
        self,
        doc: StudioDocument,
        canvas: PoseCanvas,
        render_view: RenderView,
        photos_panel: PhotosPanel,
        appearance_panel: AppearancePanel,
        render: RenderService,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.doc, self.canvas, self.render_view = doc, canvas, render_view
        self.photos_panel, self.appearance_panel, self.render = photos_panel, appearance_panel, render
        self._thumbs: dict[int, QPixmap] = {}
        #: Where a render of a photo goes back into it (set by the window: `CompositeView.job_for`).
        self.composite_job: Callable[[Photo], CompositeJob | None] = lambda _photo: None
        self._shown_photo: int | None = None
        #: The pose of the drag's last mouse move, once its render was asked for: the release
        #: commits that very pose, which then needs no second render.
        self._dragged: Pose | None = None
        #: The last joint hovered and what it was primed with (`_on_joint_hovered`).
        self._primed: tuple[int, int, int, int] | None = None

        doc.currentChanged.connect(self._on_current_changed)
        doc.poseChanged.connect(self._on_pose_changed)
        doc.photosChanged.connect(self._on_photos_changed)
        doc.appearanceChanged.connect(self._on_appearance_changed)

        canvas.poseDragged.connect(self._on_pose_dragged)
        canvas.jointHovered.connect(self._on_joint_hovered)
        canvas.poseEdited.connect(self._on_pose_edited)
        canvas.toggleJointRequested.connect(self.toggle_joint)
        canvas.mirrorRequested.connect(self.mirror)
        canvas.resetRequested.connect(self.reset_pose)

        photos_panel.photoActivated.connect(doc.set_current)
        photos_panel.useAppearanceRequested.connect(self.use_appearance_of)
        photos_panel.copyPoseRequested.connect(self.copy_pose_from)
        appearance_panel.specChanged.connect(self.set_appearance)

        render.imageReady.connect(self._on_image)
        render.engineReady.connect(self._on_engine_ready)

    # --- document -> views ------------------------------------------------------------
    def _on_current_changed(self, _pid: int) -> None:
        photo = self.doc.current
        if photo is None or photo.image is None:
            self.canvas.set_photo(None)
            self._shown_photo = None
            self.render_view.clear("Open a photo to start")
        else:
            if self._shown_photo != photo.id:
                self.canvas.set_photo(photo.image)
                self._shown_photo = photo.id
                self.render_view.clear(self._waiting_text())
            self.canvas.set_pose(photo.pose)
            self.canvas.set_status_text("" if photo.pose is not None else "Finding the person…")
        self.photos_panel.set_current(photo.id if photo else None)
        self.request_render()

    def _on_pose_changed(self, pid: int) -> None:
        photo = self.doc.current
        dragged, self._dragged = self._dragged, None
        if photo is not None and photo.id == pid:
            if self._shown_photo != pid:
                self._on_current_changed(pid)
                return
            self.canvas.set_pose(photo.pose)
            self.canvas.set_status_text("" if photo.pose is not None else "Finding the person…")
            if dragged is not None and photo.pose is dragged:
                return  # a drag's release: its last move asked for this render already
        self.request_render()  # the pose may also be an appearance source of the current render

    def _on_photos_changed(self) -> None:
        photos = self.doc.photos
        live = {p.id for p in photos}
        self._thumbs = {k: v for k, v in self._thumbs.items() if k in live}
        entries = []
        for p in photos:
            if p.id not in self._thumbs and p.image is not None:
                self._thumbs[p.id] = thumbnail(p.image)
            status = _ORIGIN_TEXT.get(p.origin, p.origin) + (f"\n{p.note}" if p.note else "")
            entries.append(PhotoEntry(p.id, p.name, self._thumbs.get(p.id, QPixmap()), status))
        self.photos_panel.set_photos(entries, self.doc.ws.current)
        self.appearance_panel.set_photos([(p.id, p.name) for p in photos])
        if self.doc.current is None and photos:
            self.doc.set_current(photos[0].id)
        elif self.doc.current is None or self._shown_photo != self.doc.ws.current:
            self._on_current_changed(self.doc.ws.current or 0)

    def _on_appearance_changed(self) -> None:
        self.appearance_panel.set_spec(self.doc.appearance)
        self.request_render()

    def _waiting_text(self) -> str:
        if self.render.ready:
            return "Rendering…"
        if self.render.last_error:
            return f"No render: {self.render.last_error}\n\nChoose another model in Preferences."
        return "Loading the model…"

    # --- rendering ----------------------------------------------------------------------
    def _on_engine_ready(self, _info: str) -> None:
        self.request_render()

    def appearance_job(self, spec: AppearanceSpec, current: Photo) -> AppearanceJob | None:
        def source_of(pid: int | None) -> Photo | None:
            p = self.doc.photo(pid) if pid else current
            p = p if p is not None else current
            return p if p.image is not None and p.source_pose is not None else None

        if spec.mode == "sample":
            if current.source_pose is None:
                return None
            return AppearanceJob(sample_pose=current.source_pose, seed=spec.seed)
        if spec.mode == "mix":
            photos = [source_of(pid) for pid in spec.parts]
            if any(p is None for p in photos):
                return None
            return AppearanceJob(tuple(appearance_image(p) for p in photos))  # type: ignore[arg-type]
        src = source_of(spec.source)
        if src is None:
            return None
        return AppearanceJob((appearance_image(src),))

    def _on_joint_hovered(self, joint: int) -> None:
        """The pointer is on a joint: the render thread gets its drag ready (`composite.prime`)
        while the user is still to press, once per joint and pose."""
        photo = self.doc.current
        if photo is None or photo.pose is None or not self.render.ready:
            return
        job = self.composite_job(photo)
        key = (photo.id, joint, id(photo.pose), id(job))
        if job is None or job.kept is None or key == self._primed:
            return
        self._primed = key
        self.render.prime(photo.pose, joint, job)

    def _on_pose_dragged(self, pose: Pose) -> None:
        self._dragged = pose if self.request_render(pose) is not None else None

    def request_render(self, pose: Pose | None = None) -> int | None:
        """Ask for a render of `pose` (default: the current photo's pose); never waits."""
        photo = self.doc.current
        if photo is None or not self.render.ready:
            return None
        pose = pose if pose is not None else photo.pose
        if pose is None:
            return None
        job = self.appearance_job(self.doc.appearance, photo)
        if job is None:
            return None
        if not pose.renderable():
            self.message.emit("The model needs both shoulders: show them to render.")
        return self.render.request(photo.id, pose, job, self.composite_job(photo))

    def _on_image(self, pid: int, image: QImage, ms: float, t_request: float) -> None:
        if pid != self._shown_photo:
            return  # a render for a photo the user has left
        self.render_view.set_image(image, self._caption())
        # Measured after the repaint: from the mouse event's request to pixels on screen.
        self.frameShown.emit(ms, (time.perf_counter() - t_request) * 1e3)

    def _caption(self) -> str:
        spec, photo = self.doc.appearance, self.doc.current
        if spec.mode == "sample":
            return f"random person · seed {spec.seed}"
        if spec.mode == "mix":
            return "mixed body parts"
        src = self.doc.photo(spec.source) if spec.source else None
        look = src or photo
        return f"look of {look.name}" if look else ""

    # --- edits --------------------------------------------------------------------------
    def _push_pose(self, new: Pose, text: str, *, nudge: bool = False, old: Pose | None = None) -> None:
        photo = self.doc.current
        if photo is None or photo.pose is None:
            return
        # Every pose edit is committed here, so this is the one place that guarantees a pose
        # stays where a saved workspace can be opened again.
        new = keep_in_reach(new, photo.size)
        self.doc.undo.push(SetPoseCommand(self.doc, photo.id, old or photo.pose, new, text, nudge=nudge))

    def _on_pose_edited(self, old: Pose, new: Pose, text: str, nudge: bool) -> None:
        self._push_pose(new, text, nudge=nudge, old=old)

    def toggle_joint(self, j: int) -> None:
        photo = self.doc.current
        if photo is None or photo.pose is None or not (0 <= j < len(JOINT_NAMES)):
            return
        new = photo.pose.with_visible(j, not photo.pose.visible[j])
        verb = "Show" if new.visible[j] else "Hide"
        self._push_pose(new, f"{verb} {JOINT_LABELS[JOINT_NAMES[j]]}")

    def toggle_selected_joint(self) -> None:
        if self.canvas.selected_joint >= 0:
            self.toggle_joint(self.canvas.selected_joint)
        else:
            self.message.emit("Click a joint first, then press H to hide or show it.")

    def mirror(self) -> None:
        photo = self.doc.current
        if photo is not None and photo.pose is not None:
            self._push_pose(photo.pose.mirrored(), "Mirror left/right")

    def reset_pose(self) -> None:
        photo = self.doc.current
        if (
            photo is not None
            and photo.source_pose is not None
            and photo.pose is not None
            and photo.pose != photo.source_pose
        ):
            self._push_pose(photo.source_pose, "Reset pose")

    def set_as_source_pose(self) -> None:
        """The edited pose describes the photo itself (a corrected detection)."""
        photo = self.doc.current
        if photo is not None and photo.pose is not None:
            self.doc.undo.push(SetSourcePoseCommand(self.doc, photo.id, photo.source_pose, photo.pose))
            self.message.emit(f"{photo.name}: its appearance is now cropped with this pose.")

    def copy_pose_from(self, pid: int) -> None:
        photo, other = self.doc.current, self.doc.photo(pid)
        if photo is None or other is None or other.pose is None or photo.pose is None:
            self.message.emit("Both photos need a pose to copy one onto the other.")
            return
        if other.id == photo.id:
            self.message.emit("That is the photo being edited; pick another photo to copy its pose.")
            return
        ref = photo.source_pose or photo.pose
        try:
            # The person keeps their size and place: the other pose's torso laid on theirs
            # (fitting the joints' box shrank a person into a pose with a raised arm, and
            # blew up one whose ankles the other photo cut off).
            new = pose_into_frame(other.pose, ref).with_image_size(photo.size)
        except ValueError:  # a pose without shoulders: the joints' box, fitted to theirs
            box = ref.bbox() or (0.0, 0.0, float(photo.size[0]), float(photo.size[1]))
            new = fit_pose_to_box(other.pose, box).with_image_size(photo.size)
        self._push_pose(new, f"Copy pose of {other.name}")

    def use_appearance_of(self, pid: int) -> None:
        photo = self.doc.photo(pid)
        if photo is None:
            return
        source = None if pid == self.doc.ws.current else pid
        self.set_appearance(
            self.doc.appearance.with_(mode="photo", source=source), f"Use the look of {photo.name}"
        )

    def set_appearance(self, spec: AppearanceSpec, text: str = "Change appearance") -> None:
        if spec != self.doc.appearance:
            self.doc.undo.push(SetAppearanceCommand(self.doc, spec, text))

    def shuffle(self) -> None:
        seed = (self.doc.appearance.seed * 1103515245 + 12345) % (2**31 - 1) or 1
        self.set_appearance(self.doc.appearance.with_(mode="sample", seed=seed), "Shuffle appearance")

    def add_keyframe(self) -> None:
        photo = self.doc.current
        if photo is None or photo.pose is None:
            return
        keys = [*self.doc.ws.keyframes, photo.pose]
        self.doc.undo.push(SetKeyframesCommand(self.doc, keys, "Add keyframe"))
        self.message.emit(f"Keyframe {len(keys)} added (File ▸ Export animation plays them).")

    def clear_keyframes(self) -> None:
        if self.doc.ws.keyframes:
            self.doc.undo.push(SetKeyframesCommand(self.doc, [], "Clear keyframes"))
