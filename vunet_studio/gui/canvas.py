"""The pose canvas: the photo with its editable stick figure on a zoomable, pannable view.

Scene coordinates are the photo's original pixels, whatever size the photo is shown at.
The canvas shows a pose and, while the mouse is down, a new one per move (emitted live for
rendering; poses are immutable, so nothing is copied); it reports one finished edit on release; the controller turns that into one
undo step. It never touches the document itself.
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QBrush,
    QColor,
    QContextMenuEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPen,
    QPixmap,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsLineItem,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QMenu,
    QWidget,
)

from vunet_studio.gui.qimage import display_pixmap
from vunet_studio.pose import Pose
from vunet_studio.skeleton import JOINT_INDEX, JOINT_LABELS, JOINT_NAMES, LIMBS

log = logging.getLogger(__name__)

# Side colours follow the stickman the model sees: right = red channel, left = green.
RIGHT = QColor(235, 64, 52)
LEFT = QColor(46, 204, 64)
CENTRE = QColor(66, 135, 245)
JOINT_RADIUS = 6.0  # screen pixels, whatever the zoom
BONE_WIDTH = 3.0
_ROLE = 0  # QGraphicsItem.data key: ("joint", index) or ("bone", index)
MIN_ZOOM, MAX_ZOOM = 0.02, 40.0
# How far outside the photo a joint may be put, as a fraction of the photo's longer side: the
# canvas's margin, room to grab joints at the edge. Workspace files accept 10x the photo size,
# so whatever the editor keeps can always be saved and opened again.
REACH = 0.15


def reach_rect(size: tuple[int, int]) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) where joints of a photo of `size` (width, height) may be."""
    w, h = size
    m = REACH * max(w, h)
    return -m, -m, w + m, h + m


def keep_in_reach(pose: Pose, size: tuple[int, int]) -> Pose:
    """`pose` with every joint (hidden ones too: they are saved) moved into `reach_rect`.

    Joints already inside are untouched, so ordinary edits are exact. An unknown size
    (no pixels loaded) leaves the pose as it is."""
    if size[0] <= 0 or size[1] <= 0:
        return pose
    x0, y0, x1, y1 = reach_rect(size)
    xy = np.clip(pose.xy, (x0, y0), (x1, y1)).astype(np.float32)
    if np.array_equal(xy, pose.xy):
        return pose
    return pose.with_xy(xy)


#: The bones (indices into LIMBS) that end at each joint.
_BONES_OF: tuple[tuple[int, ...], ...] = tuple(
    tuple(k for k, (a, b) in enumerate(LIMBS) if j in (JOINT_INDEX[a], JOINT_INDEX[b])) for j in range(len(JOINT_NAMES))
)


def side_colour(name: str) -> QColor:
    if name.startswith("r"):
        return RIGHT
    if name.startswith("l"):
        return LEFT
    return CENTRE


def _bone_colour(a: str, b: str) -> QColor:
    sides = {n[0] for n in (a, b)} - {"c"}
    return side_colour(next(iter(sides)) if len(sides) == 1 else "c")


class PoseCanvas(QGraphicsView):
    """Signals only; the controller decides what an edit means."""

    poseDragged = Signal(object)  # Pose, live, while a drag is under way
    jointHovered = Signal(int)  # the pointer came onto this joint (a drag of it may follow)
    poseEdited = Signal(object, object, str, bool)  # old Pose, new Pose, undo text, is_nudge
    toggleJointRequested = Signal(int)
    mirrorRequested = Signal()
    resetRequested = Signal()
    zoomChanged = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.BoundingRectViewportUpdate)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        self.setBackgroundBrush(QBrush(QColor(38, 40, 44)))
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        # Panning is by dragging the background; scroll bars would only take room.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMouseTracking(True)
        self.setAcceptDrops(False)  # drops go to the main window

        self._photo_item: QGraphicsPixmapItem | None = None
        self._overlay_item: QGraphicsPixmapItem | None = None
        self._composite_item: QGraphicsPixmapItem | None = None
        self._tile_item: QGraphicsPixmapItem | None = None
        self._image_size: tuple[int, int] = (0, 0)
        self._pose: Pose | None = None
        self._joints: list[QGraphicsEllipseItem] = []
        self._bones: list[QGraphicsLineItem] = []
        self._status_item = QGraphicsSimpleTextItem()
        self._status_item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self._status_item.setBrush(QColor(240, 240, 240))
        self._status_item.setZValue(10)
        self.scene().addItem(self._status_item)
        self._build_skeleton_items()

        self._drag: str | None = None  # "joint" | "all" | "pan"
        self._drag_joint = -1
        self._drag_start_pose: Pose | None = None
        self._drag_start_scene = QPointF()
        self._pan_last = QPoint()
        self.selected_joint = -1
        self._hover_joint = -1
        self._user_zoomed = False

    # --- content ------------------------------------------------------------------
    def _build_skeleton_items(self) -> None:
        for a, b in LIMBS:
            line = QGraphicsLineItem()
            pen = QPen(_bone_colour(a, b), BONE_WIDTH)
            pen.setCosmetic(True)  # constant on-screen width at any zoom
            pen.setCapStyle(Qt.PenCapStyle.RoundCap)
            line.setPen(pen)
            line.setZValue(1)
            line.setData(_ROLE, ("bone", len(self._bones)))
            line.setCursor(Qt.CursorShape.SizeAllCursor)
            line.setToolTip("Drag to move the whole skeleton")
            line.setVisible(False)
            self.scene().addItem(line)
            self._bones.append(line)
        r = JOINT_RADIUS
        for j, name in enumerate(JOINT_NAMES):
            dot = QGraphicsEllipseItem(-r, -r, 2 * r, 2 * r)
            dot.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
            dot.setZValue(2)
            dot.setData(_ROLE, ("joint", j))
            dot.setToolTip(f"{JOINT_LABELS[name]} — drag to move, H to hide/show, Shift+drag moves all")
            dot.setCursor(Qt.CursorShape.PointingHandCursor)
            dot.setVisible(False)
            self.scene().addItem(dot)
            self._joints.append(dot)

    def set_photo(self, rgb: np.ndarray | None) -> None:
        self.set_composite(None)
        if self._photo_item is not None:
            self.scene().removeItem(self._photo_item)
            self._photo_item = None
        if rgb is None:
            self._image_size = (0, 0)
            self.set_pose(None)
            return
        pixmap, scale = display_pixmap(rgb)
        self._photo_item = QGraphicsPixmapItem(pixmap)
        self._photo_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._photo_item.setScale(scale)
        self._photo_item.setZValue(0)
        self.scene().addItem(self._photo_item)
        self._image_size = (int(rgb.shape[1]), int(rgb.shape[0]))
        # A margin around the photo so joints near the edge can be grabbed and panned to.
        x0, y0, x1, y1 = reach_rect(self._image_size)
        self.scene().setSceneRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        self._status_item.setPos(0, 0)
        self._user_zoomed = False
        self.fit()

    def set_pose(self, pose: Pose | None) -> None:
        """Show `pose`; ignored while the user is dragging."""
        if self._drag in ("joint", "all"):
            return
        self._pose = pose
        self._sync_items()

    def set_status_text(self, text: str) -> None:
        self._status_item.setText(text)

    def set_overlay(self, pixmap: QPixmap | None, scale: float = 1.0) -> None:
        """Lay `pixmap` (shown `scale` times bigger: photo pixels) over the photo, under the
        skeleton; None removes it. The person mask and empty scene view use it."""
        if self._overlay_item is not None:
            self.scene().removeItem(self._overlay_item)
        self._overlay_item = None if pixmap is None else self.scene().addPixmap(pixmap)
        if self._overlay_item is not None:
            self._overlay_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
            self._overlay_item.setScale(scale)
            self._overlay_item.setZValue(0.5)

    def set_composite(self, pixmap: QPixmap | None, scale: float = 1.0) -> None:
        """Show `pixmap` (shown `scale` times bigger: photo pixels) in place of the photo: the
        photo with its person re-posed. None shows the photo itself again."""
        if self._composite_item is None:
            if pixmap is None:
                return
            self._composite_item = QGraphicsPixmapItem()
            self._composite_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
            self._composite_item.setZValue(0.25)  # over the photo, under the mask view and skeleton
            self.scene().addItem(self._composite_item)
        if pixmap is None:
            self._composite_item.setVisible(False)
            if self._photo_item is not None:
                self._photo_item.setVisible(True)
            return
        self._composite_item.setPixmap(pixmap)
        self._composite_item.setScale(scale)
        self._composite_item.setVisible(True)
        if self._photo_item is not None:
            # Covered by the (opaque) composite: not painting it under every frame saves a
            # smooth-scaled copy of the photo per repaint (~20% of a frame's repaint here).
            self._photo_item.setVisible(False)
        if self._tile_item is not None:
            self._tile_item.setVisible(False)

    def set_composite_tile(self, pixmap: QPixmap, x: int, y: int) -> None:
        """Lay `pixmap` over the composite at (x, y) of its pixels: the part of the photo a pose
        edit changed (the person in their box). One item, its pixmap replaced per frame."""
        if self._composite_item is None or not self._composite_item.isVisible():
            return
        if self._tile_item is None:
            self._tile_item = QGraphicsPixmapItem(self._composite_item)  # in the composite's pixels
            self._tile_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._tile_item.setPixmap(pixmap)
        self._tile_item.setPos(x, y)
        self._tile_item.setVisible(True)

    def composite_shown(self) -> bool:
        return self._composite_item is not None and self._composite_item.isVisible()

    def pose(self) -> Pose | None:
        return self._pose

    def joint_scene_pos(self, j: int) -> QPointF:
        return self._joints[j].pos()

    def _sync_items(self) -> None:
        pose = self._pose
        for j, dot in enumerate(self._joints):
            if pose is None:
                dot.setVisible(False)
                continue
            dot.setVisible(True)
            x, y = (float(v) for v in pose.xy[j])
            dot.setPos(x, y)
            colour = side_colour(JOINT_NAMES[j])
            selected = j == self.selected_joint
            if pose.visible[j]:
                dot.setBrush(QBrush(colour))
                dot.setPen(
                    QPen(QColor(255, 255, 255) if selected else QColor(20, 20, 20), 2.5 if selected else 1.2)
                )
                dot.setOpacity(1.0)
            else:
                # Hidden joints stay grabbable as faint rings so they can be shown again.
                dot.setBrush(Qt.BrushStyle.NoBrush)
                pen = QPen(colour, 2.0, Qt.PenStyle.DotLine)
                dot.setPen(pen)
                dot.setOpacity(0.7)
        for k, (a, b) in enumerate(LIMBS):
            line = self._bones[k]
            ia, ib = JOINT_INDEX[a], JOINT_INDEX[b]
            if pose is None or not (pose.visible[ia] and pose.visible[ib]):
                line.setVisible(False)
                continue
            line.setLine(*(float(v) for v in pose.xy[ia]), *(float(v) for v in pose.xy[ib]))
            line.setVisible(True)

    def _sync_positions(self, joint: int | None) -> None:
        """What a drag changes, and only that: where `joint` and its bones are (every joint
        and bone with None, the whole figure moved). Styles and visibility stay as the press
        left them; restyling all 35 items on every mouse move held the GUI thread, and so the
        render thread waiting on the same interpreter, about a millisecond a move."""
        pose = self._pose
        if pose is None:
            return
        xy = pose.xy.tolist()
        for j in range(len(self._joints)) if joint is None else (joint,):
            self._joints[j].setPos(*xy[j])
        for k in range(len(self._bones)) if joint is None else _BONES_OF[joint]:
            line = self._bones[k]
            if line.isVisible():
                a, b = LIMBS[k]
                line.setLine(*xy[JOINT_INDEX[a]], *xy[JOINT_INDEX[b]])

    # --- view ----------------------------------------------------------------------
    def fit(self) -> None:
        if self._photo_item is None:
            return
        w, h = self._image_size
        self.fitInView(QRectF(0, 0, w, h), Qt.AspectRatioMode.KeepAspectRatio)
        self._user_zoomed = False
        self.zoomChanged.emit(self.zoom())

    def zoom(self) -> float:
        return float(self.transform().m11())

    def zoom_by(self, factor: float, anchor: QPoint | None = None) -> None:
        """Zoom keeping the scene point under `anchor` (viewport pixels; default: centre) fixed."""
        new = self.zoom() * factor
        if not (MIN_ZOOM <= new <= MAX_ZOOM):
            return
        anchor = anchor if anchor is not None else self.viewport().rect().center()
        fixed = self.mapToScene(anchor)
        self.scale(factor, factor)
        # Scroll so the same scene point is back under the anchor. (AnchorUnderMouse uses the
        # last mouse-move position, which is not always where the wheel turned.)
        moved = self.mapFromScene(fixed) - anchor
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + moved.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + moved.y())
        self._user_zoomed = True
        self.zoomChanged.emit(self.zoom())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if not self._user_zoomed:
            self.fit()

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            # zoom_by keeps the scene point under the cursor fixed (the view's own anchor is
            # NoAnchor: AnchorUnderMouse follows the last mouse move, not the wheel).
            self.zoom_by(1.15**steps, event.position().toPoint())
        event.accept()

    # --- mouse ---------------------------------------------------------------------
    def _hit(self, pos: QPoint) -> tuple[str, int] | None:
        for item in self.items(pos):
            role = item.data(_ROLE)
            if role and item.isVisible():
                return role
        return None

    def mousePressEvent(self, event: QMouseEvent) -> None:
        pos = event.position().toPoint()
        hit = self._hit(pos)
        if event.button() == Qt.MouseButton.MiddleButton or (
            event.button() == Qt.MouseButton.LeftButton and (hit is None or self._pose is None)
        ):
            self._drag = "pan"
            self._pan_last = pos
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        if event.button() == Qt.MouseButton.LeftButton and hit is not None and self._pose is not None:
            kind, index = hit
            move_all = kind == "bone" or bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            self._drag = "all" if move_all else "joint"
            self._drag_joint = index if kind == "joint" else -1
            if kind == "joint":
                self.selected_joint = index
            self._drag_start_pose = self._pose
            self._drag_start_scene = self.mapToScene(pos)
            self._sync_items()
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position().toPoint()
        if self._drag == "pan":
            delta = pos - self._pan_last
            self._pan_last = pos
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
            event.accept()
            return
        if self._drag in ("joint", "all") and self._pose is not None and self._drag_start_pose is not None:
            scene = self.mapToScene(pos)
            dx = scene.x() - self._drag_start_scene.x()
            dy = scene.y() - self._drag_start_scene.y()
            start = self._drag_start_pose
            if self._drag == "joint":
                w, h = self._image_size
                x = min(max(float(start.xy[self._drag_joint, 0] + dx), 0.0), float(w))
                y = min(max(float(start.xy[self._drag_joint, 1] + dy), 0.0), float(h))
                pose = start.with_joint(self._drag_joint, x, y)
            else:
                pose = start.translated(*self._skeleton_shift(start, dx, dy))
            self._pose = pose
            self._sync_positions(self._drag_joint if self._drag == "joint" else None)
            self.poseDragged.emit(pose)
            event.accept()
            return
        hit = self._hit(pos)
        hover = hit[1] if hit and hit[0] == "joint" else -1
        if hover != self._hover_joint and hover >= 0:
            self.jointHovered.emit(hover)
        self._hover_joint = hover
        super().mouseMoveEvent(event)

    def _skeleton_shift(self, pose: Pose, dx: float, dy: float) -> tuple[float, float]:
        """The whole-skeleton move (dx, dy) limited so no joint leaves `reach_rect`: the figure
        stops at the border with its shape intact (never moved further out than it started)."""
        if self._image_size[0] <= 0:
            return dx, dy
        x0, y0, x1, y1 = reach_rect(self._image_size)
        lo, hi = pose.xy.min(axis=0), pose.xy.max(axis=0)
        dx = min(max(dx, min(0.0, x0 - float(lo[0]))), max(0.0, x1 - float(hi[0])))
        dy = min(max(dy, min(0.0, y0 - float(lo[1]))), max(0.0, y1 - float(hi[1])))
        return dx, dy

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._drag == "pan":
            self._drag = None
            self.viewport().unsetCursor()
            event.accept()
            return
        if self._drag in ("joint", "all"):
            kind, joint, start = self._drag, self._drag_joint, self._drag_start_pose
            self._drag, self._drag_start_pose = None, None
            if start is not None and self._pose is not None and not np.allclose(start.xy, self._pose.xy):
                text = f"Move {JOINT_LABELS[JOINT_NAMES[joint]]}" if kind == "joint" else "Move skeleton"
                self.poseEdited.emit(start, self._pose, text, False)
            event.accept()
            return
        super().mouseReleaseEvent(event)

    # --- keys and menu ------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        target = self._hover_joint if self._hover_joint >= 0 else self.selected_joint
        if key == Qt.Key.Key_H and target >= 0 and self._pose is not None:
            self.toggleJointRequested.emit(target)
            return
        arrows: dict[int, tuple[int, int]] = {
            Qt.Key.Key_Left: (-1, 0),
            Qt.Key.Key_Right: (1, 0),
            Qt.Key.Key_Up: (0, -1),
            Qt.Key.Key_Down: (0, 1),
        }
        if key in arrows and self.selected_joint >= 0 and self._pose is not None and self._drag is None:
            step = 10.0 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1.0
            # One screen pixel per press, whatever the zoom.
            step /= max(self.zoom(), 1e-6)
            dx, dy = arrows[key]
            old = self._pose
            x, y = old.xy[self.selected_joint] + (dx * step, dy * step)
            new = old.with_joint(self.selected_joint, x, y)
            # Zoomed far out one press is hundreds of pixels: stop at the border instead.
            new = keep_in_reach(new, self._image_size)
            self._pose = new
            self._sync_items()
            self.poseEdited.emit(old, new, "Nudge joint", True)
            return
        super().keyPressEvent(event)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        if self._pose is None:
            return
        hit = self._hit(event.pos())
        menu = QMenu(self)
        if hit and hit[0] == "joint":
            j = hit[1]
            label = JOINT_LABELS[JOINT_NAMES[j]]
            act = QAction(f"{'Hide' if self._pose.visible[j] else 'Show'} {label}", menu)
            act.triggered.connect(lambda: self.toggleJointRequested.emit(j))
            menu.addAction(act)
            menu.addSeparator()
        mirror = menu.addAction("Mirror left/right")
        mirror.triggered.connect(self.mirrorRequested.emit)
        reset = menu.addAction("Reset to detected pose")
        reset.triggered.connect(self.resetRequested.emit)
        menu.addSeparator()
        fit = menu.addAction("Fit to window")
        fit.triggered.connect(self.fit)
        menu.exec(event.globalPos())
