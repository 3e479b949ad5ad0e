"""The animation dialog: frame rate, frames between keyframes, loop and file type, with a
preview that plays in the dialog before anything is written.

The preview frames are rendered by the render thread (`RenderService.render_frames`); each
change of an option asks for a fresh set, and answers to older requests are ignored.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from vunet_studio.exports import animation_frames
from vunet_studio.gui.render_worker import AppearanceJob, CompositeJob, RenderService
from vunet_studio.pose import Pose

log = logging.getLogger(__name__)

PREVIEW_SIDE = 256
FORMATS = (("Animated GIF", ".gif"), ("MP4 video (H.264)", ".mp4"))


@dataclass(frozen=True)
class AnimationOptions:
    fps: int
    frames_between: int
    loop: bool
    suffix: str  # ".gif" or ".mp4"


class AnimationDialog(QDialog):
    def __init__(
        self,
        keys: list[Pose],
        appearance: Callable[[], AppearanceJob | None],
        render: RenderService,
        options: AnimationOptions,
        parent: QWidget | None = None,
        composite: Callable[[Sequence[Pose]], CompositeJob | None] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export animation")
        self._keys = list(keys)
        self._appearance = appearance
        self._render = render
        #: The preview shows what the export writes: the frames composited into the photo
        #: (None while its empty scene is being made: the square renders then).
        self._composite = composite or (lambda _poses: None)
        self._token = 0
        self._frames: list[QPixmap] = []
        self._shown = 0

        self.fps = QSpinBox()
        self.fps.setRange(1, 60)
        self.fps.setSuffix(" frames/s")
        self.fps.setValue(options.fps)
        self.frames_between = QSpinBox()
        self.frames_between.setRange(0, 60)
        self.frames_between.setValue(options.frames_between)
        self.loop = QCheckBox("Loop: back to the first pose, and a GIF repeats forever")
        self.loop.setChecked(options.loop)
        self.format = QComboBox()
        for label, suffix in FORMATS:
            self.format.addItem(label, suffix)
        self.format.setCurrentIndex(max(0, self.format.findData(options.suffix)))

        self.preview = QLabel("Rendering the preview…")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setFixedSize(PREVIEW_SIDE, PREVIEW_SIDE)
        self.preview.setStyleSheet("background: #202020; color: #bbbbbb")
        self.play_button = QPushButton("Pause")
        self.play_button.setCheckable(True)
        self.play_button.toggled.connect(self._toggle_play)
        self.frame_label = QLabel("")
        self.frame_label.setStyleSheet("color: gray")
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._next_frame)
        # Typing a number sends a change per digit: render once the user pauses.
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(150)
        self._debounce.timeout.connect(self.refresh_preview)

        form = QFormLayout()
        form.addRow("Frame rate:", self.fps)
        form.addRow("Frames between keyframes:", self.frames_between)
        form.addRow("", self.loop)
        form.addRow("File type:", self.format)
        self.summary = QLabel("")
        self.summary.setStyleSheet("color: gray")
        form.addRow("", self.summary)
        controls = QHBoxLayout()
        controls.addWidget(self.play_button)
        controls.addWidget(self.frame_label, 1)
        left = QVBoxLayout()
        left.addWidget(self.preview)
        left.addLayout(controls)
        body = QHBoxLayout()
        body.addLayout(left)
        body.addLayout(form, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.export_button = buttons.addButton("Export…", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(body)
        layout.addWidget(buttons)

        render.framesReady.connect(self._on_frames)
        render.framesProgress.connect(self._on_frames_progress)
        self.fps.valueChanged.connect(self._on_fps)
        self.frames_between.valueChanged.connect(lambda _v: self._debounce.start())
        self.loop.toggled.connect(lambda _v: self._debounce.start())
        self._on_fps(self.fps.value())
        self.refresh_preview()

    # --- options -----------------------------------------------------------------------
    def options(self) -> AnimationOptions:
        return AnimationOptions(
            fps=self.fps.value(),
            frames_between=self.frames_between.value(),
            loop=self.loop.isChecked(),
            suffix=str(self.format.currentData()),
        )

    def poses(self) -> list[Pose]:
        o = self.options()
        return animation_frames(self._keys, o.frames_between, o.loop)

    def _on_fps(self, fps: int) -> None:
        self.timer.setInterval(max(1, round(1000 / fps)))
        self._update_summary()

    def _update_summary(self) -> None:
        n = len(self.poses())
        self.summary.setText(f"{len(self._keys)} keyframes, {n} frames, {n / self.fps.value():.1f} s")

    # --- preview -----------------------------------------------------------------------
    def refresh_preview(self) -> None:
        self._update_summary()
        job = self._appearance()
        if job is None or not self._render.ready:
            self.timer.stop()
            self.preview.setText("No preview: the model is not loaded\nor the look has no pose yet.")
            return
        poses = tuple(self.poses())
        self._token = self._render.render_frames(poses, job, self._composite(poses))

    def _on_frames_progress(self, token: int, done: int, total: int) -> None:
        # A long preview on a slow CPU takes tens of seconds: say how far it is, until the
        # first preview plays (a new one for changed options replaces it when done).
        if token == self._token and not self._frames:
            self.preview.setText(f"Rendering the preview…\nframe {done} of {total}")

    def _on_frames(self, token: int, images: object) -> None:
        if token != self._token:
            return  # an answer for options the user has changed since
        frames = list(images) if isinstance(images, list) else []
        self._frames = [
            QPixmap.fromImage(img).scaled(
                PREVIEW_SIDE,
                PREVIEW_SIDE,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            for img in frames
            if isinstance(img, QImage)
        ]
        self._shown = -1
        if not self._frames:
            self.preview.setText("The preview could not be rendered.")
            return
        self._next_frame()
        if not self.play_button.isChecked():
            self.timer.start()

    def _next_frame(self) -> None:
        if not self._frames:
            return
        # A preview always replays, also of an animation that plays once: it is for looking.
        self._shown = (self._shown + 1) % len(self._frames)
        self.preview.setPixmap(self._frames[self._shown])
        self.frame_label.setText(f"frame {self._shown + 1} / {len(self._frames)}")

    @property
    def frames_shown(self) -> int:
        """Frames the preview has (for tests and the status line)."""
        return len(self._frames)

    def _toggle_play(self, paused: bool) -> None:
        self.play_button.setText("Play" if paused else "Pause")
        if paused:
            self.timer.stop()
        elif self._frames:
            self.timer.start()

    def done(self, result: int) -> None:
        self.timer.stop()
        self._debounce.stop()
        self._render.cancel_frames()  # the export the user may have asked for goes next
        for signal, slot in ((self._render.framesReady, self._on_frames),
                             (self._render.framesProgress, self._on_frames_progress)):  # fmt: skip
            with contextlib.suppress(RuntimeError, TypeError):  # already gone with the window
                signal.disconnect(slot)
        super().done(result)
