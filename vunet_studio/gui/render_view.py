"""Shows the latest render, scaled to fit, or a message while there is none."""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget


class RenderView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._message = "No render yet"
        self._caption = ""
        self.setMinimumSize(200, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.frames_shown = 0

    def sizeHint(self) -> QSize:
        return QSize(420, 420)

    def image(self) -> QImage | None:
        return self._image

    def set_image(self, image: QImage, caption: str = "") -> None:
        self._image = image
        self._caption = caption
        self.frames_shown += 1
        # repaint() rather than update(): the frame is on screen when this returns, which is
        # what the latency benchmark measures and what the user sees while dragging.
        self.repaint()

    def set_message(self, message: str) -> None:
        self._message = message
        if self._image is None:
            self.update()

    def clear(self, message: str = "No render yet") -> None:
        self._image = None
        self._message = message
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(38, 40, 44))
        if self._image is None:
            p.setPen(QColor(170, 170, 175))
            p.drawText(
                self.rect().adjusted(16, 16, -16, -16),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                self._message,
            )
            return
        margin = 12
        area = self.rect().adjusted(margin, margin, -margin, -margin - (20 if self._caption else 0))
        side = min(area.width(), area.height())
        target = QRect(
            area.x() + (area.width() - side) // 2, area.y() + (area.height() - side) // 2, side, side
        )
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.drawImage(target, self._image)
        if self._caption:
            p.setPen(QColor(170, 170, 175))
            p.drawText(
                QRect(0, target.bottom() + 4, self.width(), 20), Qt.AlignmentFlag.AlignHCenter, self._caption
            )
