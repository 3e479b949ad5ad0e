"""Helpers shared by the GUI tests (a module of its own: conftest is not for importing)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from _photo_helpers import pose_of
from PIL import Image
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from vunet_studio.gui.qimage import rgb_from_qimage
from vunet_studio.pose import Pose

LEFT = Qt.MouseButton.LeftButton


class FakeEstimator:
    """Finds a person everywhere (a template in the middle), or no one when `empty`."""

    def __init__(self, empty: bool = False) -> None:
        self.empty = empty

    def estimate(self, image: np.ndarray) -> list[Pose]:
        if self.empty:
            return []
        h, w = image.shape[:2]
        return [Pose.template(w, h, (0.2 * w, 0.1 * h, 0.6 * w, 0.8 * h))]


class RealPose:
    """The estimator stand-in for the real photo basketball1.png: the man holding the ball,
    where the bundled estimator finds him."""

    def estimate(self, image: np.ndarray) -> list[Pose]:
        return [pose_of("basketball1.png")]


def person_photo(
    path: Path, size: tuple[int, int] = (200, 300), colour: tuple[int, int, int] = (200, 60, 60)
) -> Path:
    """A plain background with a coloured 'person' block in the middle."""
    w, h = size
    img = np.full((h, w, 3), 230, np.uint8)
    img[int(0.1 * h) : int(0.9 * h), int(0.35 * w) : int(0.65 * w)] = colour
    Image.fromarray(img).save(path)
    return path


def open_and_wait(qtbot, window, paths: list[Path]) -> list[int]:
    """Open photos and wait until each has its starting pose."""
    ready: set[int] = set()
    window.files.photoReady.connect(ready.add)
    ids = window.files.add_photos(paths)
    qtbot.waitUntil(lambda: set(ids) <= ready, timeout=5000)
    return ids


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def crash(window) -> None:
    """What dying does to an instance: its files stay, its lock is gone, nothing else runs."""
    window.files.autosaver.release()
    window.files.autosaver.timer.stop()


# --- what the canvas shows ---------------------------------------------------------------
def grab_canvas(window) -> np.ndarray:
    """The canvas as on screen now: (H, W, 3) uint8 RGB in device pixels."""
    QApplication.processEvents()
    return rgb_from_qimage(window.canvas.viewport().grab().toImage())


def canvas_pixel(window, x: float, y: float, shown: np.ndarray | None = None) -> np.ndarray:
    """The canvas pixel showing photo pixel (x, y), as RGB ints: in `shown` (a `grab_canvas`),
    or on screen now."""
    img = grab_canvas(window) if shown is None else shown
    p = window.canvas.mapFromScene(x, y)
    ratio = window.canvas.viewport().devicePixelRatioF()
    return img[int(p.y() * ratio), int(p.x() * ratio)].astype(int)


# --- mouse events on a view, as a user's would arrive --------------------------------------
def send_mouse(
    view,
    kind: QEvent.Type,
    pos: QPoint,
    buttons,
    button=Qt.MouseButton.NoButton,
    mods=Qt.KeyboardModifier.NoModifier,
) -> None:
    vp = view.viewport()
    event = QMouseEvent(kind, QPointF(pos), QPointF(vp.mapToGlobal(pos)), button, buttons, mods)
    QApplication.sendEvent(vp, event)


def drag(view, start: QPoint, end: QPoint, steps: int = 8, mods=Qt.KeyboardModifier.NoModifier) -> None:
    send_mouse(view, QEvent.Type.MouseButtonPress, start, LEFT, LEFT, mods)
    for k in range(1, steps + 1):
        p = start + (end - start) * (k / steps)
        send_mouse(view, QEvent.Type.MouseMove, p, LEFT, Qt.MouseButton.NoButton, mods)
    send_mouse(view, QEvent.Type.MouseButtonRelease, end, Qt.MouseButton.NoButton, LEFT, mods)


def view_pos(canvas, j: int) -> QPoint:
    """Where joint `j` is in the canvas's viewport."""
    return canvas.mapFromScene(canvas.joint_scene_pos(j))


def click_joint(canvas, j: int) -> None:
    """Press and release on joint `j` (it becomes the selected joint)."""
    pos = view_pos(canvas, j)
    send_mouse(canvas, QEvent.Type.MouseButtonPress, pos, LEFT, LEFT)
    send_mouse(canvas, QEvent.Type.MouseButtonRelease, pos, Qt.MouseButton.NoButton, LEFT)
