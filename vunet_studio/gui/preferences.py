"""The preferences dialog: model checkpoint, device, pose estimator and its checkpoint,
autosave interval, animation timing."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from vunet_studio.estimation import ESTIMATOR_CHOICES, ESTIMATOR_LABELS
from vunet_studio.gui.settings import DEVICES, MAX_EXPORT_SIDE, MIN_EXPORT_SIDE, Preferences


class PreferencesDialog(QDialog):
    def __init__(self, prefs: Preferences, default_checkpoint: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.setMinimumWidth(640)
        self._default = default_checkpoint

        self.checkpoint = QLineEdit(prefs.checkpoint)
        self.checkpoint.setPlaceholderText(f"default: {default_checkpoint.name}")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        reset = QPushButton("Default")
        reset.clicked.connect(lambda: self.checkpoint.setText(""))
        row = QHBoxLayout()
        row.addWidget(self.checkpoint, 1)
        row.addWidget(browse)
        row.addWidget(reset)

        self.estimator = QComboBox()
        for choice in ESTIMATOR_CHOICES:
            self.estimator.addItem(ESTIMATOR_LABELS[choice], choice)
        self.estimator.setCurrentIndex(max(0, self.estimator.findData(prefs.estimator)))
        self.estimator.setToolTip(
            "Which pose estimator finds the person in a photo without a pose file beside it.\n"
            "BlazePose comes with the app and works offline; openpifpaf finds several people\n"
            "and needs its checkpoint (downloaded once, or a file chosen below)."
        )
        self.pose_checkpoint = QLineEdit(prefs.pose_checkpoint)
        self.pose_checkpoint.setPlaceholderText("openpifpaf's shufflenetv2k16, if downloaded")
        pose_browse = QPushButton("Browse…")
        pose_browse.clicked.connect(self._browse_pose)
        pose_row = QHBoxLayout()
        pose_row.addWidget(self.pose_checkpoint, 1)
        pose_row.addWidget(pose_browse)

        self.device = QComboBox()
        self.device.addItems(list(DEVICES))
        self.device.setCurrentText(prefs.device)
        self.autosave = QSpinBox()
        self.autosave.setRange(5, 3600)
        self.autosave.setSuffix(" s")
        self.autosave.setValue(prefs.autosave_s)
        self.fps = QSpinBox()
        self.fps.setRange(1, 60)
        self.fps.setValue(int(prefs.fps))
        self.frames = QSpinBox()
        self.frames.setRange(0, 60)
        self.frames.setValue(prefs.frames_between)
        self.export_side = QSpinBox()
        self.export_side.setRange(MIN_EXPORT_SIDE, MAX_EXPORT_SIDE)
        self.export_side.setSingleStep(64)
        self.export_side.setSuffix(" px")
        self.export_side.setValue(prefs.export_max_side)
        self.export_side.setToolTip("Animations are exported at the photo's size, at most this long side")

        form = QFormLayout()
        form.addRow("Model checkpoint:", row)
        form.addRow("Device:", self.device)
        form.addRow("Pose estimator:", self.estimator)
        form.addRow("openpifpaf checkpoint:", pose_row)
        form.addRow("Autosave every:", self.autosave)
        form.addRow("Animation frames per second:", self.fps)
        form.addRow("Frames between poses:", self.frames)
        form.addRow("Animation size (long side):", self.export_side)
        note = QLabel(
            "Changing the model or device reloads it in the background. "
            "A new pose estimator is used for photos opened from now on."
        )
        note.setWordWrap(True)
        note.setStyleSheet("color: gray")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)

    def _browse(self) -> None:
        start = self.checkpoint.text() or str(self._default.parent)
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a model checkpoint", start, "Checkpoints (*.safetensors *.pt *.pth);;All files (*)"
        )
        if path:
            self.checkpoint.setText(path)

    def _browse_pose(self) -> None:
        start = self.pose_checkpoint.text() or str(Path.home())
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Choose an openpifpaf checkpoint",
            start,
            "openpifpaf checkpoints (*.pkl *.pt *.pth);;All files (*)",
        )
        if path:
            self.pose_checkpoint.setText(path)

    def preferences(self) -> Preferences:
        return Preferences(
            checkpoint=self.checkpoint.text().strip(),
            device=self.device.currentText(),
            autosave_s=self.autosave.value(),
            fps=float(self.fps.value()),
            frames_between=self.frames.value(),
            export_max_side=self.export_side.value(),
            estimator=str(self.estimator.currentData()),
            pose_checkpoint=self.pose_checkpoint.text().strip(),
        )
