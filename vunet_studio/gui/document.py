"""The open workspace as seen by the GUI: a `Workspace` plus its undo stack and change signals.

Undo commands (`commands.py`) call the `_set_*` methods here; views listen to the signals.
The undo stack's clean state is the single source of the unsaved-changes marker.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from vunet_studio.pose import Pose
from vunet_studio.workspace import AppearanceSpec, Photo, Workspace, place_hidden_joints

log = logging.getLogger(__name__)


class StudioDocument(QObject):
    photosChanged = Signal()  # photos added/removed/reordered or their pose status changed
    currentChanged = Signal(int)  # photo id being edited (0 = none)
    poseChanged = Signal(int)  # photo id whose target pose changed
    appearanceChanged = Signal()
    keyframesChanged = Signal()
    pathChanged = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ws = Workspace()
        self.undo = QUndoStack(self)
        self.path: Path | None = None

    # --- queries -----------------------------------------------------------------
    @property
    def photos(self) -> list[Photo]:
        return self.ws.photos

    @property
    def current(self) -> Photo | None:
        return self.ws.current_photo

    def photo(self, photo_id: int | None) -> Photo | None:
        return self.ws.photo(photo_id)

    @property
    def appearance(self) -> AppearanceSpec:
        return self.ws.appearance

    def is_dirty(self) -> bool:
        return not self.undo.isClean()

    # --- whole-document changes (not undoable) ---------------------------------------
    def replace_workspace(self, ws: Workspace, path: Path | None, *, clean: bool = True) -> None:
        self.undo.clear()
        self.ws = ws
        self.path = path
        if not clean:
            # A recovered workspace is not saved anywhere: make the stack dirty so the
            # title shows it and closing warns. resetClean puts the clean index out of reach.
            self.undo.resetClean()
        self.pathChanged.emit()
        self.photosChanged.emit()
        self.currentChanged.emit(ws.current or 0)
        self.appearanceChanged.emit()
        self.keyframesChanged.emit()

    def set_path(self, path: Path | None) -> None:
        self.path = path
        self.pathChanged.emit()

    def set_current(self, photo_id: int | None) -> None:
        # Which photo is shown is navigation, not an edit: no undo step, no dirty marker.
        if photo_id == self.ws.current:
            return
        self.ws.current = photo_id
        self.currentChanged.emit(photo_id or 0)
        self.appearanceChanged.emit()  # each photo has its own appearance choice

    def set_found_pose(self, photo_id: int, pose: Pose, origin: str, note: str) -> None:
        """The pose found on load (estimated, from a file or a template): the starting point."""
        photo = self.photo(photo_id)
        if photo is None:
            return
        pose = place_hidden_joints(pose)
        photo.source_pose = photo.pose = pose
        photo.origin, photo.note = origin, note
        self.poseChanged.emit(photo_id)
        self.photosChanged.emit()

    # --- used by undo commands ----------------------------------------------------
    def _set_pose(self, photo_id: int, pose: Pose) -> None:
        photo = self.photo(photo_id)
        if photo is None:
            return
        photo.pose = pose
        self.poseChanged.emit(photo_id)

    def _set_source_pose(self, photo_id: int, pose: Pose | None) -> None:
        photo = self.photo(photo_id)
        if photo is None:
            return
        photo.source_pose = pose
        self.poseChanged.emit(photo_id)
        self.appearanceChanged.emit()  # the photo's appearance crops moved

    def _insert_photos(self, photos: list[Photo], index: int) -> None:
        self.ws.photos[index:index] = photos
        self.photosChanged.emit()

    def _remove_photos(self, ids: set[int]) -> None:
        self.ws.photos = [p for p in self.ws.photos if p.id not in ids]
        if self.ws.current in ids:
            self.ws.current = self.ws.photos[0].id if self.ws.photos else None
            self.currentChanged.emit(self.ws.current or 0)
            self.appearanceChanged.emit()
        self.photosChanged.emit()

    def _set_appearance(self, spec: AppearanceSpec, photo_id: int | None = None) -> None:
        photo = self.photo(photo_id) if photo_id is not None else self.current
        if photo is None:
            return
        photo.appearance = spec
        self.appearanceChanged.emit()

    def _set_keyframes(self, keys: list[Pose]) -> None:
        self.ws.keyframes = list(keys)
        self.keyframesChanged.emit()
