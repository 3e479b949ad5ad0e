"""Undoable edits. One command per user gesture: a whole drag is one step, nudges merge."""

from __future__ import annotations

from PySide6.QtGui import QUndoCommand

from vunet_studio.gui.document import StudioDocument
from vunet_studio.pose import Pose
from vunet_studio.workspace import AppearanceSpec, Photo

_NUDGE_ID = 1001


class SetPoseCommand(QUndoCommand):
    """Replace a photo's target pose (a drag, mirror, hide, reset, copy...)."""

    def __init__(
        self, doc: StudioDocument, photo_id: int, old: Pose, new: Pose, text: str, *, nudge: bool = False
    ) -> None:
        super().__init__(text)
        self.doc, self.photo_id = doc, photo_id
        self.old, self.new = old, new
        self.nudge = nudge

    def redo(self) -> None:
        self.doc._set_pose(self.photo_id, self.new)

    def undo(self) -> None:
        self.doc._set_pose(self.photo_id, self.old)

    def id(self) -> int:
        return _NUDGE_ID if self.nudge else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        # Consecutive arrow-key nudges of one photo are one step, as in drawing tools.
        if not isinstance(other, SetPoseCommand) or not other.nudge or other.photo_id != self.photo_id:
            return False
        self.new = other.new
        return True


class SetSourcePoseCommand(QUndoCommand):
    """Correct where the person in the photo is (the pose used to crop its appearance)."""

    def __init__(self, doc: StudioDocument, photo_id: int, old: Pose | None, new: Pose) -> None:
        super().__init__("Use as the photo's own pose")
        self.doc, self.photo_id = doc, photo_id
        self.old, self.new = old, new

    def redo(self) -> None:
        self.doc._set_source_pose(self.photo_id, self.new)

    def undo(self) -> None:
        self.doc._set_source_pose(self.photo_id, self.old)


class AddPhotosCommand(QUndoCommand):
    def __init__(self, doc: StudioDocument, photos: list[Photo]) -> None:
        n = len(photos)
        super().__init__(f"Open {photos[0].name}" if n == 1 else f"Open {n} photos")
        self.doc, self.photos = doc, list(photos)
        self.index = len(doc.photos)
        self.previous_current = doc.ws.current

    def redo(self) -> None:
        self.doc._insert_photos(self.photos, self.index)
        self.doc.set_current(self.photos[0].id)

    def undo(self) -> None:
        self.doc._remove_photos({p.id for p in self.photos})
        self.doc.set_current(self.previous_current if self.doc.photo(self.previous_current) else None)


class RemovePhotoCommand(QUndoCommand):
    def __init__(self, doc: StudioDocument, photo: Photo) -> None:
        super().__init__(f"Close {photo.name}")
        self.doc, self.photo = doc, photo
        self.index = doc.ws.index_of(photo.id) or 0
        self.was_current = doc.ws.current == photo.id

    def redo(self) -> None:
        self.doc._remove_photos({self.photo.id})

    def undo(self) -> None:
        self.doc._insert_photos([self.photo], self.index)
        if self.was_current:
            self.doc.set_current(self.photo.id)


class SetAppearanceCommand(QUndoCommand):
    """Change the edited photo's appearance choice; undo finds that photo even after a switch."""

    def __init__(self, doc: StudioDocument, new: AppearanceSpec, text: str) -> None:
        super().__init__(text)
        self.doc, self.old, self.new = doc, doc.appearance, new
        self.photo_id = doc.ws.current

    def redo(self) -> None:
        self.doc._set_appearance(self.new, self.photo_id)

    def undo(self) -> None:
        self.doc._set_appearance(self.old, self.photo_id)


class SetKeyframesCommand(QUndoCommand):
    def __init__(self, doc: StudioDocument, new: list[Pose], text: str) -> None:
        super().__init__(text)
        self.doc = doc
        self.old = list(doc.ws.keyframes)
        self.new = list(new)

    def redo(self) -> None:
        self.doc._set_keyframes(self.new)

    def undo(self) -> None:
        self.doc._set_keyframes(self.old)
