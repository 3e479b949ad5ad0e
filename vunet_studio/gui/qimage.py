"""numpy <-> QImage conversions (always copying: Qt must never point into numpy memory
that a worker thread or the garbage collector may free)."""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtGui import QImage, QPixmap

#: Photos are shown at most this many pixels on their long side; the scene still uses the
#: original pixel coordinates (the pixmap item is scaled back up).
MAX_DISPLAY_SIDE = 2560


def qimage_from_rgb(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def rgb_from_qimage(image: QImage) -> np.ndarray:
    img = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), np.uint8, count=bpl * h).reshape(h, bpl)
    return buf[:, : 3 * w].reshape(h, w, 3).copy()


def display_pixmap(rgb: np.ndarray, max_side: int = MAX_DISPLAY_SIDE) -> tuple[QPixmap, float]:
    """A pixmap for showing `rgb` and the scale that maps it back to original pixels."""
    h, w = rgb.shape[:2]
    scale = 1.0
    if max(h, w) > max_side:
        scale = max(h, w) / max_side
        rgb = cv2.resize(rgb, (round(w / scale), round(h / scale)), interpolation=cv2.INTER_AREA)
    return QPixmap.fromImage(qimage_from_rgb(rgb)), scale


def thumbnail(rgb: np.ndarray, side: int = 96) -> QPixmap:
    h, w = rgb.shape[:2]
    s = side / max(h, w)
    small = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return QPixmap.fromImage(qimage_from_rgb(small))
