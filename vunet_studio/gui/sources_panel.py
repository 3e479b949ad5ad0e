"""The side panels: the loaded photos (thumbnails) and the appearance source (one photo,
a per-part mix, or a random sample). Views only: they emit what the user asked for.

In the photo list, selecting a thumbnail (one click, arrow keys) only picks the photo the
buttons act on; double-click or Enter makes it the edited photo. Were a click to switch,
"Copy its pose" and "Use its look" could only ever name the photo being edited."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, QPoint, QSize, Qt, Signal, SignalInstance
from PySide6.QtGui import QFont, QIcon, QKeyEvent, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from vunet_studio.skeleton import NUM_PARTS, PART_NAMES
from vunet_studio.workspace import AppearanceSpec

PART_LABELS = {
    "torso": "Torso",
    "head": "Head",
    "lupperarm": "Left upper arm",
    "lforearm": "Left forearm",
    "rupperarm": "Right upper arm",
    "rforearm": "Right forearm",
    "lthigh": "Left thigh",
    "rthigh": "Right thigh",
}
_ID = Qt.ItemDataRole.UserRole
THIS_PHOTO = "This photo (being edited)"
_EDITING_TIP = "\n(being edited)"


@dataclass(frozen=True)
class PhotoEntry:
    id: int
    name: str
    thumbnail: QPixmap
    status: str  # shown as the tooltip: where the pose came from


class PhotosPanel(QWidget):
    photoActivated = Signal(int)
    useAppearanceRequested = Signal(int)
    copyPoseRequested = Signal(int)
    removeRequested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(88, 88))
        self.list.setGridSize(QSize(112, 124))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setWordWrap(True)
        self.list.setToolTip("Click a photo to pick it for the buttons below; double-click or Enter edits it")
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        self.list.itemSelectionChanged.connect(self._sync_buttons)
        # Double-click switches; Enter is caught below, not through `itemActivated`, which
        # some styles also send on a single click.
        self.list.itemDoubleClicked.connect(self._activate)
        self.list.installEventFilter(self)
        self.use_button = QPushButton("Use its look")
        self.use_button.setToolTip("Render the edited pose with the selected photo's appearance")
        self.copy_button = QPushButton("Copy its pose")
        self.copy_button.setToolTip("Put the selected photo's pose on the photo being edited")
        self.use_button.clicked.connect(lambda: self._emit_selected(self.useAppearanceRequested))
        self.copy_button.clicked.connect(lambda: self._emit_selected(self.copyPoseRequested))
        buttons = QHBoxLayout()
        buttons.addWidget(self.use_button)
        buttons.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self._hovered: int | None = None
        self._current: int | None = None
        self._sync_buttons()

    def set_photos(self, entries: list[PhotoEntry], current: int | None) -> None:
        selected = self._selected_id()
        self.list.blockSignals(True)
        self.list.clear()
        for e in entries:
            icon = QIcon(e.thumbnail)
            # Icon views tint a selected icon with the highlight colour; the selection frame
            # says enough, and a blue photo misleads about its colours (and the render's).
            icon.addPixmap(e.thumbnail, QIcon.Mode.Selected)
            item = QListWidgetItem(icon, e.name)
            item.setData(_ID, e.id)
            item.setToolTip(f"{e.name}\n{e.status}")
            self.list.addItem(item)
        self.list.blockSignals(False)
        self.set_current(current)
        self._select(selected if selected is not None else current)

    def set_current(self, photo_id: int | None) -> None:
        """Mark the edited photo (bold name); the selection stays where the user put it."""
        self._current = photo_id
        for i in range(self.list.count()):
            item = self.list.item(i)
            editing = item.data(_ID) == photo_id
            font = QFont(item.font())
            font.setBold(editing)
            item.setFont(font)
            tip = item.toolTip().removesuffix(_EDITING_TIP)
            item.setToolTip(tip + _EDITING_TIP if editing else tip)
        # A name's width changes with its weight, and the view repaints only the items'
        # new rects: the old bold name's overhang stayed on screen (a stray "g" after
        # "astronaut.png" once another photo was edited).
        self.list.viewport().update()
        if self._selected_id() is None:
            self._select(photo_id)
        self._sync_buttons()

    def _select(self, photo_id: int | None) -> None:
        self.list.blockSignals(True)
        for i in range(self.list.count()):
            if self.list.item(i).data(_ID) == photo_id:
                self.list.setCurrentRow(i)
        self.list.blockSignals(False)
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        selected = self._selected_id()
        self.use_button.setEnabled(selected is not None)  # on the edited photo: its own look again
        self.copy_button.setEnabled(selected is not None and selected != self._current)

    def _activate(self, item: QListWidgetItem | None) -> None:
        if item is not None:
            self.photoActivated.emit(int(item.data(_ID)))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.list and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self._activate(self.list.currentItem())
                return True
        return super().eventFilter(watched, event)

    def _selected_id(self) -> int | None:
        items = self.list.selectedItems()
        return int(items[0].data(_ID)) if items else None

    def _emit_selected(self, signal: SignalInstance) -> None:
        pid = self._selected_id()
        if pid is not None:
            signal.emit(pid)

    def _menu(self, pos: QPoint) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        pid = int(item.data(_ID))
        menu = QMenu(self)
        menu.addAction("Edit this photo").triggered.connect(lambda: self.photoActivated.emit(pid))
        menu.addAction("Use its look (appearance)").triggered.connect(
            lambda: self.useAppearanceRequested.emit(pid)
        )
        menu.addAction("Copy its pose onto the edited photo").triggered.connect(
            lambda: self.copyPoseRequested.emit(pid)
        )
        menu.addSeparator()
        menu.addAction("Close photo").triggered.connect(lambda: self.removeRequested.emit(pid))
        menu.exec(self.list.viewport().mapToGlobal(pos))


class AppearancePanel(QWidget):
    specChanged = Signal(object)  # AppearanceSpec

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._spec = AppearanceSpec()
        self.photo_mode = QRadioButton("From one photo")
        self.mix_mode = QRadioButton("Mix body parts")
        self.sample_mode = QRadioButton("Random person")
        self.modes = QButtonGroup(self)
        for k, b in enumerate((self.photo_mode, self.mix_mode, self.sample_mode)):
            self.modes.addButton(b, k)
        self.photo_mode.setChecked(True)
        self.modes.idClicked.connect(lambda _k: self._emit())

        self.source = QComboBox()
        self.source.currentIndexChanged.connect(lambda _i: self._emit())

        self.parts_box = QGroupBox("Part comes from")
        form = QFormLayout(self.parts_box)
        form.setContentsMargins(6, 6, 6, 6)
        self.part_combos: list[QComboBox] = []
        for name in PART_NAMES[:NUM_PARTS]:
            combo = QComboBox()
            combo.currentIndexChanged.connect(lambda _i: self._emit())
            form.addRow(PART_LABELS.get(name, name) + ":", combo)
            self.part_combos.append(combo)

        self.shuffle = QPushButton("Shuffle")
        self.shuffle.setToolTip("Draw another random appearance (Ctrl+R)")
        self.shuffle.clicked.connect(self._shuffle)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setPrefix("seed ")
        self.seed.valueChanged.connect(lambda _v: self._emit())
        sample_row = QHBoxLayout()
        sample_row.addWidget(self.shuffle)
        sample_row.addWidget(self.seed, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.photo_mode)
        layout.addWidget(self.source)
        layout.addWidget(self.mix_mode)
        layout.addWidget(self.parts_box)
        layout.addWidget(self.sample_mode)
        layout.addLayout(sample_row)
        hint = QLabel("The pose comes from the photo being edited; the look from here.")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: gray")
        layout.addWidget(hint)
        layout.addStretch(1)
        self.set_photos([])

    def set_photos(self, photos: list[tuple[int, str]]) -> None:
        for combo in (self.source, *self.part_combos):
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(THIS_PHOTO, 0)
            for pid, name in photos:
                combo.addItem(name, pid)
            combo.blockSignals(False)
        self.set_spec(self._spec)

    def set_spec(self, spec: AppearanceSpec) -> None:
        self._spec = spec
        widgets = (self.source, self.seed, *self.part_combos, *self.modes.buttons())
        for w in widgets:
            w.blockSignals(True)
        {"photo": self.photo_mode, "mix": self.mix_mode, "sample": self.sample_mode}[spec.mode].setChecked(
            True
        )
        _select(self.source, spec.source)
        for combo, pid in zip(self.part_combos, spec.parts, strict=False):
            _select(combo, pid)
        self.seed.setValue(spec.seed)
        for w in widgets:
            w.blockSignals(False)
        self._sync_enabled()

    def _sync_enabled(self) -> None:
        mode = self.modes.checkedId()
        self.source.setEnabled(mode == 0)
        self.parts_box.setEnabled(mode == 1)
        self.shuffle.setEnabled(mode == 2)
        self.seed.setEnabled(mode == 2)

    def _shuffle(self) -> None:
        self.seed.setValue((self.seed.value() * 1103515245 + 12345) % (2**31 - 1))

    def current_spec(self) -> AppearanceSpec:
        mode = ("photo", "mix", "sample")[max(0, self.modes.checkedId())]
        return AppearanceSpec(
            mode=mode,  # type: ignore[arg-type]
            source=self.source.currentData() or None,
            parts=tuple((c.currentData() or None) for c in self.part_combos),
            seed=self.seed.value(),
        )

    def _emit(self) -> None:
        self._sync_enabled()
        spec = self.current_spec()
        if spec != self._spec:
            self._spec = spec
            self.specChanged.emit(spec)


def _select(combo: QComboBox, pid: int | None) -> None:
    i = combo.findData(pid or 0)
    combo.setCurrentIndex(i if i >= 0 else 0)
