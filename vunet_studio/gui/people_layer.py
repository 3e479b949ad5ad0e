"""Several people in one photo: the others' skeletons drawn faintly on the canvas, a click on
one makes it the edited person (one undo step), and the photo remembers which one.

`PeopleLayer` owns the faint drawing and the click on the canvas (it watches the canvas's
viewport, so the canvas itself needs no change); `PeopleController` keeps each photo's people
(`Photo.people`, `Photo.person`) in step with the pose finder and the document.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QMouseEvent, QPen, QUndoCommand
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsItem, QGraphicsLineItem, QGraphicsView

from vunet_studio.estimation import Estimation
from vunet_studio.gui.document import StudioDocument
from vunet_studio.gui.pose_finder import PoseFinder
from vunet_studio.pose import Pose
from vunet_studio.skeleton import JOINT_INDEX, LIMBS
from vunet_studio.workspace import place_hidden_joints

log = logging.getLogger(__name__)

OTHER_COLOUR = QColor(255, 255, 255)
OTHER_OPACITY = 0.55  # visible on dark and bright photos, clearly not the edited skeleton
OTHER_Z = 0.5  # above the photo (0), below the edited skeleton (1, 2)
#: A click this close (screen pixels) to another person's bones or joints picks that person.
PICK_DISTANCE = 14.0


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    ab = b - a
    t = 0.0 if not ab.any() else float(np.clip(np.dot(p - a, ab) / np.dot(ab, ab), 0.0, 1.0))
    return float(np.linalg.norm(p - (a + t * ab)))


def distance_to_pose(pose: Pose, x: float, y: float) -> float:
    """Distance (photo pixels) from (x, y) to the nearest visible bone or joint of `pose`."""
    p = np.array([x, y], np.float64)
    xy, vis = pose.xy.astype(np.float64), pose.visible
    best = math.inf
    for a, b in LIMBS:
        ia, ib = JOINT_INDEX[a], JOINT_INDEX[b]
        if vis[ia] and vis[ib]:
            best = min(best, _segment_distance(p, xy[ia], xy[ib]))
    if vis.any():
        best = min(best, float(np.linalg.norm(xy[vis] - p, axis=1).min()))
    return best


class PeopleLayer(QObject):
    """The other people of the shown photo, faint, on `canvas`; emits `personClicked(index)`."""

    personClicked = Signal(int)

    def __init__(self, canvas: QGraphicsView) -> None:
        super().__init__(canvas)
        self.canvas = canvas
        self._items: list[QGraphicsItem] = []
        self._people: list[Pose] = []
        self._edited = -1
        canvas.viewport().installEventFilter(self)

    def set_people(self, people: list[Pose], edited: int) -> None:
        """Show every person in `people` except the edited one (index `edited`)."""
        scene = self.canvas.scene()
        for item in self._items:
            if item.scene() is scene:
                scene.removeItem(item)
        self._items = []
        self._people = list(people)
        self._edited = edited
        for k, pose in enumerate(self._people):
            if k != edited:
                self._draw(pose, k)

    def others(self) -> list[int]:
        """Indices of the people drawn faintly (clickable)."""
        return [k for k in range(len(self._people)) if k != self._edited]

    def _draw(self, pose: Pose, k: int) -> None:
        scene = self.canvas.scene()
        pen = QPen(OTHER_COLOUR, 2.0, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        # A dark halo under the light dashes keeps the skeleton visible on bright and busy clothes.
        halo = QPen(QColor(0, 0, 0), 4.0)
        halo.setCosmetic(True)
        tip = f"Person {k + 1}: click to edit this person"
        for a, b in LIMBS:
            ia, ib = JOINT_INDEX[a], JOINT_INDEX[b]
            if pose.visible[ia] and pose.visible[ib]:
                (x0, y0), (x1, y1) = pose.xy[ia], pose.xy[ib]
                for p in (halo, pen):
                    line = QGraphicsLineItem(float(x0), float(y0), float(x1), float(y1))
                    line.setPen(p)
                    self._add(scene, line, tip)
        r = 3.5
        for j in np.flatnonzero(pose.visible):
            dot = QGraphicsEllipseItem(-r, -r, 2 * r, 2 * r)
            dot.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
            dot.setPos(*map(float, pose.xy[j]))
            dot.setBrush(QBrush(OTHER_COLOUR))
            dot.setPen(QPen(QColor(0, 0, 0), 1.0))
            self._add(scene, dot, tip)

    def _add(self, scene: object, item: QGraphicsItem, tip: str) -> None:
        item.setOpacity(OTHER_OPACITY)
        item.setZValue(OTHER_Z)
        item.setToolTip(tip)
        item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)  # clicks are decided by distance
        scene.addItem(item)  # type: ignore[attr-defined]
        self._items.append(item)

    def person_at(self, view_pos: QPointF) -> int | None:
        """The faint person nearest the viewport point, if close enough to count as a click."""
        if not self.others():
            return None
        scene_pos = self.canvas.mapToScene(view_pos.toPoint())
        zoom = max(float(self.canvas.transform().m11()), 1e-6)
        best, best_d = None, PICK_DISTANCE / zoom
        for k in self.others():
            d = distance_to_pose(self._people[k], scene_pos.x(), scene_pos.y())
            if d <= best_d:
                best, best_d = k, d
        return best

    def _on_edited_skeleton(self, view_pos: QPointF) -> bool:
        """Whether the point is on the edited skeleton's joints or bones (those win)."""
        return any(item.data(0) for item in self.canvas.items(view_pos.toPoint()) if item.isVisible())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.MouseButtonPress and isinstance(event, QMouseEvent):
            if event.button() == Qt.MouseButton.LeftButton and not self._on_edited_skeleton(event.position()):
                k = self.person_at(event.position())
                if k is not None:
                    self.personClicked.emit(k)
                    return True
        elif event.type() == QEvent.Type.MouseMove and isinstance(event, QMouseEvent) and not event.buttons():
            if self.person_at(event.position()) is not None and not self._on_edited_skeleton(
                event.position()
            ):
                self.canvas.viewport().setCursor(Qt.CursorShape.PointingHandCursor)
            else:
                self.canvas.viewport().unsetCursor()
        return False


class ChoosePersonCommand(QUndoCommand):
    """Edit another person of the photo: their found pose becomes the photo's own and target pose."""

    def __init__(self, doc: StudioDocument, photo_id: int, person: int) -> None:
        super().__init__(f"Edit person {person + 1}")
        self.doc, self.photo_id, self.person = doc, photo_id, person
        photo = doc.photo(photo_id)
        assert photo is not None
        self.old = (photo.person, photo.source_pose, photo.pose)
        self.new_pose = place_hidden_joints(photo.people[person])

    def _apply(self, person: int, source: Pose | None, pose: Pose | None) -> None:
        photo = self.doc.photo(self.photo_id)
        if photo is None:
            return
        photo.person = person
        self.doc._set_source_pose(self.photo_id, source)
        if pose is not None:
            self.doc._set_pose(self.photo_id, pose)

    def redo(self) -> None:
        self._apply(self.person, self.new_pose, self.new_pose)

    def undo(self) -> None:
        self._apply(*self.old)


class PeopleController(QObject):
    """Keeps `Photo.people` from the pose finder, shows the current photo's people on the
    canvas, and turns a click on one into a `ChoosePersonCommand`."""

    message = Signal(str)
    #: for the status bar: which estimator found the shown photo's pose, and in its tooltip
    #: everything (time, skipped estimators and why)
    sourceChanged = Signal(str, str)

    def __init__(self, doc: StudioDocument, canvas: QGraphicsView, finder: PoseFinder) -> None:
        super().__init__(canvas)
        self.doc, self.finder = doc, finder
        self.layer = PeopleLayer(canvas)
        self._asked: set[int] = set()  # photos whose people were looked for
        self.results: dict[int, Estimation] = {}  # the last finding per photo id
        finder.people.connect(self._on_people)
        doc.currentChanged.connect(self._refresh)
        doc.poseChanged.connect(self._on_pose_changed)
        doc.photosChanged.connect(self._on_photos_changed)
        self.layer.personClicked.connect(self.choose)

    def _on_people(self, pid: int, result: Estimation) -> None:
        self._asked.add(pid)
        photo = self.doc.photo(pid)
        if photo is None:
            return
        self.results[pid] = result
        photo.people = list(result.poses) if result.origin != "template" else []
        if photo.origin == "pending":
            photo.person = 0  # a new photo starts with the most prominent person
        if photo.person >= len(photo.people):
            photo.person = 0
        self._refresh()

    def _on_pose_changed(self, pid: int) -> None:
        if self.doc.current is not None and self.doc.current.id == pid:
            self._refresh()

    def _on_photos_changed(self) -> None:
        # A reopened workspace has its poses but not the other people: look for them once.
        for photo in self.doc.photos:
            if photo.id in self._asked or photo.pose is None or photo.image is None or photo.people:
                continue
            self._asked.add(photo.id)
            self.finder.find_people(photo.id, photo.path, photo.image)
        self._refresh()

    def _refresh(self, *_: object) -> None:
        photo = self.doc.current
        if photo is None or len(photo.people) < 2:
            self.layer.set_people([], -1)
        else:
            self.layer.set_people(photo.people, photo.person)
        self.sourceChanged.emit(*self.source_text())

    def source_text(self) -> tuple[str, str]:
        """(short text, tooltip) saying who found the shown photo's pose."""
        photo = self.doc.current
        result = self.results.get(photo.id) if photo is not None else None
        if photo is None or result is None:
            return "", ""
        if result.origin == "estimated":
            text = f"Pose: {result.source}, {result.ms:.0f} ms"
        elif result.origin == "file":
            text = f"Pose: {result.source.removeprefix('pose file ')}"
        else:
            text = "Pose: template"
        if len(photo.people) > 1:
            text += f" · person {photo.person + 1} of {len(photo.people)}"
        return text, f"{photo.name}\n{result.details}"

    def choose(self, person: int) -> None:
        photo = self.doc.current
        if photo is None or not 0 <= person < len(photo.people) or person == photo.person:
            return
        self.doc.undo.push(ChoosePersonCommand(self.doc, photo.id, person))
        self.message.emit(f"Editing person {person + 1} of {len(photo.people)} in {photo.name}")
        self._refresh()
