"""The file controller: opening photos and workspaces, drops, recent files, samples,
saving, exports, crash recovery and the unsaved-changes prompt.

Every public method that would show a file dialog takes an optional path so tests and
scripts can drive it without one. Failures always reach the user (status bar and a
message box); the open workspace is left as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from vunet_studio.exports import (
    ANIMATION_FILTERS,
    POSE_FILTERS,
    RENDER_FILTERS,
    ExportError,
    animation_frames,
    check_fps,
    image_format,
    pose_format_for,
    write_image,
    write_pose,
)
from vunet_studio.gui import settings
from vunet_studio.gui.commands import AddPhotosCommand, RemovePhotoCommand, SetPoseCommand
from vunet_studio.gui.document import StudioDocument
from vunet_studio.gui.editor import EditController
from vunet_studio.gui.pose_finder import PoseFinder
from vunet_studio.gui.qimage import rgb_from_qimage
from vunet_studio.gui.recovery import Autosaver, RecoveryFile, orphans
from vunet_studio.gui.render_view import RenderView
from vunet_studio.gui.render_worker import AnimationJob, CompositeJob, RenderService, StillJob
from vunet_studio.imageio import IMAGE_EXTENSIONS, ImageLoadError, is_image_path, load_image
from vunet_studio.pose import Pose
from vunet_studio.pose_io import PoseFileError, read_poses
from vunet_studio.workspace import (
    WORKSPACE_SUFFIX,
    Photo,
    WorkspaceError,
    fit_pose_to_box,
    load_workspace,
    place_hidden_joints,
    save_workspace,
    workspace_document,
)

log = logging.getLogger(__name__)

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "resources" / "samples"
_IMAGE_GLOB = " ".join(f"*{e}" for e in IMAGE_EXTENSIONS)
OPEN_FILTERS = (
    f"Photos and workspaces ({_IMAGE_GLOB} *{WORKSPACE_SUFFIX});;Photos ({_IMAGE_GLOB});;"
    f"Workspaces (*{WORKSPACE_SUFFIX});;All files (*)"
)
WORKSPACE_FILTER = f"VUNet Studio workspace (*{WORKSPACE_SUFFIX})"


def sample_photos() -> list[Path]:
    if not SAMPLES_DIR.is_dir():
        return []
    return sorted(p for p in SAMPLES_DIR.iterdir() if is_image_path(p))


class FileController(QObject):
    message = Signal(str)
    photoReady = Signal(int)  # a photo's starting pose is known
    recentChanged = Signal()
    exported = Signal(str)  # path of a finished export

    def __init__(
        self,
        doc: StudioDocument,
        editor: EditController,
        render_view: RenderView,
        render: RenderService,
        finder: PoseFinder,
        window: QWidget,
        prefs: settings.Preferences,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.doc, self.editor, self.render_view = doc, editor, render_view
        self.render, self.finder, self.window, self.prefs = render, finder, window, prefs
        finder.found.connect(self._on_found)
        render.animationDone.connect(self._on_animation_done)
        render.stillDone.connect(self._on_still_done)
        #: The photo at export size with its person re-posed, for stills and animations
        #: (set by the window: `CompositeView.export_job`); None while its empty scene is made.
        self.export_composite: Callable[[Photo, Sequence[Pose], int | None], CompositeJob | None] = (
            lambda _photo, _poses, _side: None
        )
        self.autosaver = Autosaver(self._autosave_document, prefs.autosave_s, self)
        doc.undo.cleanChanged.connect(self._on_clean_changed)
        # Every committed edit moves the undo index: keep it on disk within seconds.
        doc.undo.indexChanged.connect(self.autosaver.schedule)

    # --- messages -----------------------------------------------------------------------
    def error(self, title: str, text: str) -> None:
        log.warning("%s: %s", title, text)
        self.message.emit(f"{title}: {text}")
        QMessageBox.warning(self.window, title, text)

    def info(self, text: str) -> None:
        self.message.emit(text)

    # --- opening ------------------------------------------------------------------------
    def open_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self.window, "Open photos", settings.last_folder(), OPEN_FILTERS
        )
        if paths:
            self.open_paths([Path(p) for p in paths])

    def open_paths(self, paths: Iterable[str | Path]) -> None:
        """Open whatever the user dropped or chose: photos, a workspace, or a pose file."""
        chosen = [Path(p) for p in paths]
        workspaces = [p for p in chosen if p.suffix.lower() == WORKSPACE_SUFFIX]
        poses = [p for p in chosen if p.suffix.lower() == ".json"]
        images = [p for p in chosen if p not in workspaces and p not in poses]
        if workspaces:
            self.open_workspace(workspaces[0])
        if images:
            self.add_photos(images)
        for p in poses:
            self.import_pose(p)

    def add_photos(self, paths: Iterable[str | Path]) -> list[int]:
        photos: list[Photo] = []
        problems: list[str] = []
        for path in (Path(p) for p in paths):
            if not is_image_path(path) and path.suffix:
                problems.append(f"{path.name}: not a photo this app can open")
                continue
            try:
                image = load_image(path)
            except ImageLoadError as e:
                problems.append(str(e))
                continue
            photos.append(Photo(id=self.doc.ws.new_id(), path=path, image=image))
            settings.remember_folder(path)
            settings.add_recent(path)
        if photos:
            self.doc.undo.push(AddPhotosCommand(self.doc, photos))
            for p in photos:
                assert p.image is not None
                self.finder.find(p.id, p.path, p.image)
            self.info(f"Opened {photos[0].name}" if len(photos) == 1 else f"Opened {len(photos)} photos")
            self.recentChanged.emit()
        if problems:
            self.error("Could not open", "\n".join(problems))
        return [p.id for p in photos]

    def open_samples(self) -> bool:
        samples = sample_photos()
        if not samples:
            self.error("No samples", f"The sample photos are missing from {SAMPLES_DIR}.")
            return False
        self.add_photos(samples)
        return True

    def _on_found(self, pid: int, pose: object, origin: str, note: str) -> None:
        photo = self.doc.photo(pid)
        self.doc.set_found_pose(pid, pose, origin, note)  # type: ignore[arg-type]
        if photo is not None and note:
            self.message.emit(f"{photo.name}: {note}")
        self.photoReady.emit(pid)

    def import_pose(self, path: str | Path) -> bool:
        photo = self.doc.current
        p = Path(path)
        if photo is None or photo.pose is None:
            self.error(
                "Cannot import the pose",
                "Open a photo first; a pose file is put onto the photo being edited.",
            )
            return False
        try:
            poses = [q for q in read_poses(p, photo.size) if q.visible.any()]
        except PoseFileError as e:
            self.error("Cannot import the pose", str(e))
            return False
        if not poses:
            self.error("Cannot import the pose", f"{p.name} has no person in it.")
            return False
        pose = place_hidden_joints(poses[0]).with_image_size(photo.size)
        self.doc.undo.push(SetPoseCommand(self.doc, photo.id, photo.pose, pose, f"Import pose from {p.name}"))
        self.info(f"Pose imported from {p.name}")
        return True

    def close_photo(self, pid: int) -> None:
        photo = self.doc.photo(pid)
        if photo is not None:
            self.doc.undo.push(RemovePhotoCommand(self.doc, photo))

    # --- workspaces ---------------------------------------------------------------------
    def _load_images(self, photos: list[Photo]) -> tuple[list[Photo], list[str]]:
        kept, problems = [], []
        for p in photos:
            try:
                p.image = load_image(p.path)
            except ImageLoadError as e:
                problems.append(str(e))
                continue
            kept.append(p)
        return kept, problems

    def open_workspace_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Open workspace", settings.last_folder(), WORKSPACE_FILTER
        )
        if path:
            self.open_workspace(Path(path))

    def open_workspace(self, path: str | Path, *, recovered: bool = False) -> bool:
        p = Path(path)
        if not recovered and not self.maybe_save():
            return False
        try:
            ws = load_workspace(p)
        except WorkspaceError as e:
            self.error("Could not open the workspace", str(e))
            return False
        kept, problems = self._load_images(ws.photos)
        ws.photos = kept
        if ws.photo(ws.current) is None:
            ws.current = kept[0].id if kept else None
        for key, kind in (("fps", float), ("frames_between", int)):
            value = ws.settings.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
                setattr(self.prefs, key, kind(value))
        self.doc.replace_workspace(ws, None if recovered else p, clean=not (recovered or problems))
        for photo in kept:
            if photo.pose is None or photo.source_pose is None:
                assert photo.image is not None
                self.finder.find(photo.id, photo.path, photo.image)
        if not recovered:
            settings.add_recent(p)
            settings.remember_folder(p)
            self.recentChanged.emit()
        if not recovered:
            self.info(f"Opened {p.name}")
        if problems:
            self.error(
                "Some photos are missing",
                "These photos could not be loaded and were left out:\n" + "\n".join(problems),
            )
        if ws.load_warnings:  # repaired on load: the rest of the workspace opened as saved
            self.error("Parts of the workspace were repaired", "\n".join(ws.load_warnings))
        return True

    def new_workspace(self) -> None:
        if not self.maybe_save():
            return
        from vunet_studio.workspace import Workspace

        self.doc.replace_workspace(Workspace(), None)

    def save(self) -> bool:
        if self.doc.path is None:
            return self.save_as()
        return self._save_to(self.doc.path)

    def save_as(self, path: str | Path | None = None) -> bool:
        if path is None:
            start = str(self.doc.path or Path(settings.last_folder()) / f"untitled{WORKSPACE_SUFFIX}")
            chosen, _ = QFileDialog.getSaveFileName(self.window, "Save workspace", start, WORKSPACE_FILTER)
            if not chosen:
                return False
            path = chosen
        p = Path(path)
        if p.suffix.lower() != WORKSPACE_SUFFIX:
            p = p.with_name(p.name + WORKSPACE_SUFFIX)
        return self._save_to(p)

    def _save_to(self, path: Path) -> bool:
        # Animation timing travels with the workspace, so a reopened project exports the same.
        self.doc.ws.settings.update(fps=self.prefs.fps, frames_between=self.prefs.frames_between)
        try:
            save_workspace(path, self.doc.ws)
        except WorkspaceError as e:
            self.error("Could not save", str(e))
            return False
        self.doc.set_path(path)
        self.doc.undo.setClean()
        self.autosaver.discard()
        settings.add_recent(path)
        settings.remember_folder(path)
        self.recentChanged.emit()
        self.info(f"Saved {path.name}")
        return True

    def maybe_save(self) -> bool:
        """True when it is fine to drop the current workspace (saved, discarded, or clean)."""
        if not self.doc.is_dirty():
            return True
        answer = QMessageBox.question(
            self.window,
            "Unsaved changes",
            "The workspace has unsaved changes. Save them first?",
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    # --- recovery -----------------------------------------------------------------------
    def _autosave_document(self) -> dict | None:
        if not self.doc.is_dirty() or not self.doc.photos:
            return None
        doc = workspace_document(self.doc.ws)
        # Which workspace these changes belong to, so recovery can put them back there.
        doc["recovery"] = {"workspace": str(self.doc.path.resolve()) if self.doc.path else None}
        return doc

    def _on_clean_changed(self, clean: bool) -> None:
        if clean:
            self.autosaver.discard()

    def offer_recovery(self) -> bool:
        """Offer the work of instances that ended without saving, newest first; True when one
        was recovered. Files of instances still running are never touched."""
        for rf in orphans():
            claim = rf.claim()
            if claim is None:
                continue  # another instance, started at the same time, is offering it
            try:
                answer = QMessageBox.question(
                    self.window,
                    "Recover unsaved work?",
                    f"{rf.describe()}\n\nRecover it?",
                    QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                    QMessageBox.StandardButton.Yes,
                )
                if not self.window.isVisible():
                    # The app was closed while asking (SIGTERM): that was no answer, keep the work.
                    return False
                if answer != QMessageBox.StandardButton.Yes:
                    rf.discard()
                    continue
                if self._recover(rf):
                    return True
            finally:
                claim.unlock()
        return False

    def _recover(self, rf: RecoveryFile) -> bool:
        if not self.open_workspace(rf.path, recovered=True):
            # Said why already; set aside so it is not offered at every start, but not deleted.
            try:
                rf.path.replace(rf.path.with_name(rf.path.name + ".unreadable"))
            except OSError as e:
                log.warning("could not set aside %s: %s", rf.path, e)
            return False
        if rf.workspace is not None:
            self.doc.set_path(rf.workspace)  # Save goes back to the workspace it came from
        # The work is this instance's now: keep it in our own file before dropping the old one.
        if self.autosaver.save_now():
            rf.discard()
        name = rf.workspace.name if rf.workspace is not None else "an untitled workspace"
        when = f" from {rf.saved_at:%H:%M:%S}" if rf.saved_at else ""
        self.info(f"Recovered unsaved changes to {name}{when}")
        return True

    # --- exports ------------------------------------------------------------------------
    def _ask_save_path(
        self, title: str, default_name: str, filters: str, suffixes: dict[str, str] | None = None
    ) -> tuple[Path | None, str]:
        """The chosen path and filter; with `suffixes` (filter keyword -> suffix), a name typed
        without a suffix gets the selected filter's (else the default name's)."""
        start = str(Path(settings.last_folder()) / default_name)
        chosen, selected = QFileDialog.getSaveFileName(self.window, title, start, filters)
        if not chosen:
            return None, selected
        path = Path(chosen)
        if suffixes is not None and not path.suffix:
            fallback = Path(default_name).suffix
            path = path.with_suffix(next((s for key, s in suffixes.items() if key in selected), fallback))
        return path, selected

    def export_render(self, path: str | Path | None = None, *, square: bool = False) -> bool:
        """Export the photo with its person re-posed, at the photo's resolution (rendered and
        written in the render thread: `exported` says when it is on disk), or with `square`
        the model's square render as shown."""
        image = self.render_view.image()
        photo = self.doc.current
        if image is None or photo is None:
            self.error(
                "Nothing to export",
                "There is no render yet: open a photo and wait for the model to render it.",
            )
            return False
        if path is not None:
            try:
                image_format(path)
            except ExportError as e:
                self.error("Export failed", str(e))
                return False
        composite = None
        if not square:
            composite = self.export_composite(photo, (), None)
            job = self.editor.appearance_job(self.doc.appearance, photo)
            if composite is None or job is None or photo.pose is None:
                self.error(
                    "Not ready yet",
                    "The photo without its person is still being made: export again in a moment, "
                    "or export the square render (File ▸ Export square render).",
                )
                return False
        if path is None:
            stem = f"{photo.path.stem}_render" if square else f"{photo.path.stem}_reposed"
            path, _ = self._ask_save_path(
                "Export square render" if square else "Export photo",
                f"{stem}.png",
                RENDER_FILTERS,
                {"JPEG": ".jpg"},
            )
            if path is None:
                return False
        p = Path(path)
        if square:
            try:
                write_image(p, rgb_from_qimage(image))
            except ExportError as e:
                self.error("Export failed", str(e))
                return False
            self._on_still_done(str(p), "")
            return True
        try:
            image_format(p)
        except ExportError as e:
            self.error("Export failed", str(e))
            return False
        assert photo.pose is not None
        assert job is not None
        self.render.export_still(StillJob(p, photo.pose, job, composite))
        self.info(f"Rendering {p.name} at {photo.size[0]}x{photo.size[1]}…")
        return True

    def _on_still_done(self, path: str, err: str) -> None:
        if err:
            self.error("Export failed", f"{Path(path).name}: {err}")
            return
        settings.remember_folder(path)
        self.info(f"Render exported to {path}")
        self.exported.emit(path)

    def export_pose(self, path: str | Path | None = None, fmt: str | None = None) -> bool:
        photo = self.doc.current
        if photo is None or photo.pose is None:
            self.error("Nothing to export", "Open a photo first: its pose is what gets exported.")
            return False
        selected = ""
        if path is None:
            chosen, selected = self._ask_save_path(
                "Export pose", f"{photo.path.stem}_pose.json", POSE_FILTERS
            )
            if chosen is None:
                return False
            path = chosen
        p = Path(path)
        try:
            write_pose(p, photo.pose, photo.size, fmt or pose_format_for(p, selected), photo.name)
        except ExportError as e:
            self.error("Export failed", str(e))
            return False
        settings.remember_folder(p)
        self.info(f"Pose exported to {p}")
        self.exported.emit(str(p))
        return True

    def animation_poses(self) -> list:
        """Keyframes if there are two or more, else the poses of all loaded photos, each fitted
        onto the edited person so the animation stays in one frame."""
        photo = self.doc.current
        if photo is None or photo.pose is None:
            return []
        if len(self.doc.ws.keyframes) >= 2:
            return list(self.doc.ws.keyframes)
        ref = photo.source_pose or photo.pose
        box = ref.bbox() or (0.0, 0.0, float(photo.size[0]), float(photo.size[1]))
        poses = [photo.pose]
        for other in self.doc.photos:
            if other.id != photo.id and other.pose is not None:
                poses.append(fit_pose_to_box(other.pose, box))
        return poses

    def export_animation(
        self, path: str | Path | None = None, *, loop: bool = False, suffix: str = ".gif"
    ) -> bool:
        """Render and write the animation (timing from the preferences; `loop` goes back to
        the first pose and repeats a GIF forever; `suffix` is the file type offered)."""
        photo = self.doc.current
        keys = self.animation_poses()
        if photo is None or len(keys) < 2:
            self.error(
                "Nothing to animate",
                "An animation needs two or more poses: add keyframes (Edit ▸ Add keyframe) or open more photos.",
            )
            return False
        if not self.render.ready:
            self.error("Cannot export", "The model is not loaded yet, so nothing can be rendered.")
            return False
        job = self.editor.appearance_job(self.doc.appearance, photo)
        if job is None:
            self.error("Cannot export", "The appearance source has no pose yet; wait for it to be found.")
            return False
        if path is None:
            path, _ = self._ask_save_path(
                "Export animation", f"{photo.path.stem}_animation{suffix}", ANIMATION_FILTERS, {"MP4": ".mp4"}
            )
            if path is None:
                return False
        p = Path(path)
        try:
            frames = animation_frames(keys, self.prefs.frames_between, loop)
            check_fps(self.prefs.fps)
        except (ValueError, ExportError) as e:
            self.error("Cannot export", str(e))
            return False
        # The frames are the photo with its person re-posed (at most export_max_side pixels),
        # or the square renders while the photo's empty scene is still being made.
        composite = self.export_composite(photo, frames, self.prefs.export_max_side)
        self.render.export_animation(AnimationJob(p, tuple(frames), job, self.prefs.fps, loop, composite))
        self.info(f"Rendering {len(frames)} frames to {p.name}…")
        return True

    def _on_animation_done(self, path: str, err: str) -> None:
        if err:
            self.error("Animation export failed", f"{Path(path).name}: {err}")
            return
        settings.remember_folder(path)
        self.info(f"Animation exported to {path}")
        self.exported.emit(path)
