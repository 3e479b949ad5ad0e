"""The keyframes strip: the animation's poses as a row of stickman thumbnails, with buttons
to add the edited pose, remove, reorder and play them; double-click or Enter on a keyframe
puts that pose on the edited photo. `KeyframeStrip` is the view; `KeyframeController` turns
its requests into undoable commands on the document."""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import QEvent, QObject, QSize, Qt, Signal, SignalInstance
from PySide6.QtGui import QIcon, QKeyEvent, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from vunet_studio.gui.commands import SetKeyframesCommand, SetPoseCommand
from vunet_studio.gui.document import StudioDocument
from vunet_studio.gui.qimage import qimage_from_rgb
from vunet_studio.pose import Pose
from vunet_studio.stickman import draw_stickman
from vunet_studio.workspace import fit_pose_to_box

log = logging.getLogger(__name__)

THUMB = 72


def stickman_thumbnail(pose: Pose, side: int = THUMB) -> QPixmap:
    """The pose's stickman framed around its joints, on a light background."""
    box = pose.bbox() or (0.0, 0.0, 1.0, 1.0)
    extent = 1.2 * max(box[2] - box[0], box[3] - box[1], 1.0)
    x0 = (box[0] + box[2]) / 2 - extent / 2
    y0 = (box[1] + box[3]) / 2 - extent / 2
    local = pose.translated(-x0, -y0).scaled(side / extent, side / extent)
    stick = draw_stickman(local, side, side).astype(np.float32)  # (side, side, 3)
    drawn = stick.max(axis=2, keepdims=True) / 255.0
    rgb = 245.0 * (1.0 - drawn) + stick * drawn
    return QPixmap.fromImage(qimage_from_rgb(rgb.clip(0, 255).astype(np.uint8)))


class KeyframeStrip(QWidget):
    addRequested = Signal()
    removeRequested = Signal(int)  # index
    moveRequested = Signal(int, int)  # from index, to index
    jumpRequested = Signal(int)  # index: put this keyframe's pose on the edited photo
    playRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setFlow(QListView.Flow.LeftToRight)
        self.list.setWrapping(False)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setGridSize(QSize(THUMB + 16, THUMB + 26))
        self.list.setFixedHeight(THUMB + 44)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.list.setToolTip("Double-click or Enter: put this keyframe's pose on the edited photo")
        self.list.itemSelectionChanged.connect(self._sync)
        self.list.itemDoubleClicked.connect(lambda item: self.jumpRequested.emit(self.list.row(item)))
        self.list.installEventFilter(self)

        self.add_button = QPushButton("Add pose")
        self.add_button.setToolTip("Add the edited pose as the next keyframe (K)")
        self.remove_button = QPushButton("Remove")
        self.left_button = QPushButton("◀")
        self.left_button.setToolTip("Move the selected keyframe earlier")
        self.right_button = QPushButton("▶")
        self.right_button.setToolTip("Move the selected keyframe later")
        self.play_button = QPushButton("Play / export…")
        self.play_button.setToolTip("Preview the animation and export it as GIF or MP4")
        self.count = QLabel()
        self.count.setStyleSheet("color: gray")
        self.add_button.clicked.connect(self.addRequested)
        self.remove_button.clicked.connect(lambda: self._emit_row(self.removeRequested))
        self.left_button.clicked.connect(lambda: self._move(-1))
        self.right_button.clicked.connect(lambda: self._move(+1))
        self.play_button.clicked.connect(self.playRequested)

        buttons = QVBoxLayout()
        for b in (self.add_button, self.remove_button):
            buttons.addWidget(b)
        arrows = QHBoxLayout()
        arrows.addWidget(self.left_button)
        arrows.addWidget(self.right_button)
        buttons.addLayout(arrows)
        side = QVBoxLayout()
        side.addWidget(self.count)
        side.addWidget(self.play_button)
        side.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(buttons)
        layout.addWidget(self.list, 1)
        layout.addLayout(side)
        self.set_keyframes([])

    def set_keyframes(self, keys: list[Pose], select: int | None = None) -> None:
        keep = self.selected_index() if select is None else select
        self.list.blockSignals(True)
        self.list.clear()
        for k, pose in enumerate(keys):
            pix = stickman_thumbnail(pose)
            icon = QIcon(pix)
            icon.addPixmap(pix, QIcon.Mode.Selected)  # no highlight tint over the stickman
            item = QListWidgetItem(icon, str(k + 1))
            item.setToolTip(f"Keyframe {k + 1}")
            self.list.addItem(item)
        if keep is not None and keys:
            self.list.setCurrentRow(min(max(keep, 0), len(keys) - 1))
        self.list.blockSignals(False)
        n = len(keys)
        self.count.setText(
            "No keyframes: add poses (K)" if n == 0 else f"{n} keyframe{'s' if n != 1 else ''}"
        )
        self.play_button.setEnabled(n >= 2)
        self._sync()

    def selected_index(self) -> int | None:
        items = self.list.selectedItems()
        return self.list.row(items[0]) if items else None

    def _sync(self) -> None:
        i = self.selected_index()
        self.remove_button.setEnabled(i is not None)
        self.left_button.setEnabled(i is not None and i > 0)
        self.right_button.setEnabled(i is not None and i < self.list.count() - 1)

    def _emit_row(self, signal: SignalInstance) -> None:
        i = self.selected_index()
        if i is not None:
            signal.emit(i)

    def _move(self, step: int) -> None:
        i = self.selected_index()
        if i is not None and 0 <= i + step < self.list.count():
            self.moveRequested.emit(i, i + step)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.list and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            key = event.key()
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self._emit_row(self.jumpRequested)
                return True
            if key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
                self._emit_row(self.removeRequested)
                return True
        return super().eventFilter(watched, event)


class KeyframeController(QObject):
    """Keeps the strip in step with the document and makes each strip request one undo step."""

    message = Signal(str)

    def __init__(self, doc: StudioDocument, strip: KeyframeStrip, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.doc, self.strip = doc, strip
        self._select: int | None = None
        doc.keyframesChanged.connect(self._refresh)
        strip.addRequested.connect(self.add)
        strip.removeRequested.connect(self.remove)
        strip.moveRequested.connect(self.move)
        strip.jumpRequested.connect(self.jump)
        self._refresh()

    def _refresh(self) -> None:
        self.strip.set_keyframes(self.doc.ws.keyframes, self._select)
        self._select = None

    def _push(self, keys: list[Pose], text: str, select: int | None) -> None:
        self._select = select
        self.doc.undo.push(SetKeyframesCommand(self.doc, keys, text))

    def add(self) -> None:
        photo = self.doc.current
        if photo is None or photo.pose is None:
            self.message.emit("Open a photo first: its edited pose becomes the keyframe.")
            return
        keys = [*self.doc.ws.keyframes, photo.pose]
        self._push(keys, "Add keyframe", len(keys) - 1)
        self.message.emit(f"Keyframe {len(keys)} added.")

    def remove(self, index: int) -> None:
        keys = list(self.doc.ws.keyframes)
        if 0 <= index < len(keys):
            del keys[index]
            self._push(keys, f"Remove keyframe {index + 1}", min(index, len(keys) - 1) if keys else None)

    def move(self, index: int, to: int) -> None:
        keys = list(self.doc.ws.keyframes)
        if 0 <= index < len(keys) and 0 <= to < len(keys) and index != to:
            keys.insert(to, keys.pop(index))
            self._push(keys, f"Move keyframe {index + 1}", to)

    def jump(self, index: int) -> None:
        photo = self.doc.current
        keys = self.doc.ws.keyframes
        if photo is None or photo.pose is None or not 0 <= index < len(keys):
            return
        pose = keys[index]
        if pose.image_size is not None and tuple(pose.image_size) != tuple(photo.size):
            # A keyframe made on another photo: fit it onto this person, as "Copy its pose" does.
            ref = photo.source_pose or photo.pose
            pose = fit_pose_to_box(pose, ref.bbox() or (0.0, 0.0, float(photo.size[0]), float(photo.size[1])))
            pose = pose.with_image_size(photo.size)
        if pose != photo.pose:
            self.doc.undo.push(
                SetPoseCommand(self.doc, photo.id, photo.pose, pose, f"Go to keyframe {index + 1}")
            )
