"""The workflow a first-time user goes through (issue 16), driven by real clicks and keys:
picking a photo in the list without switching to it, per-photo looks, the CPU fallback,
redo keys, the model-load bar, the first start, an empty workspace, and selection tints."""

from __future__ import annotations

import json
import time
from argparse import Namespace

import numpy as np
import pytest
from fake_engine import FakeEngine
from gui_helpers import FakeEstimator, drag, open_and_wait, view_pos
from PySide6.QtCore import QPoint, QSettings, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QComboBox, QDialogButtonBox, QToolBar

from vunet_studio.engine import EngineError
from vunet_studio.skeleton import JOINT_INDEX

LEFT = Qt.MouseButton.LeftButton


def item_center(panel, photo_id: int) -> QPoint:
    lst = panel.list
    for i in range(lst.count()):
        if lst.item(i).data(Qt.ItemDataRole.UserRole) == photo_id:
            return lst.visualItemRect(lst.item(i)).center()
    raise AssertionError(f"photo {photo_id} is not in the list")


def click_photo(panel, photo_id: int) -> None:
    QTest.mouseClick(
        panel.list.viewport(), LEFT, Qt.KeyboardModifier.NoModifier, item_center(panel, photo_id)
    )


def double_click_photo(panel, photo_id: int) -> None:
    pos = item_center(panel, photo_id)
    QTest.mouseClick(panel.list.viewport(), LEFT, Qt.KeyboardModifier.NoModifier, pos)
    QTest.mouseDClick(panel.list.viewport(), LEFT, Qt.KeyboardModifier.NoModifier, pos)


def test_copy_its_pose_and_use_its_look_through_clicks(qtbot, loaded) -> None:
    window, (alice_id, bob_id) = loaded
    doc, panel = window.doc, window.photos_panel
    bob = doc.photo(bob_id)
    bob.pose = bob.pose.with_joint(4, *(bob.pose.xy[4] + (-30, -60)))  # a raised right wrist to copy

    click_photo(panel, bob_id)
    assert doc.ws.current == alice_id  # a click picks bob for the buttons; alice is still edited
    QTest.mouseClick(panel.copy_button, LEFT)
    assert doc.undo.undoText() == "Copy pose of bob.jpg"
    assert doc.current.pose.xy[4, 1] < doc.current.pose.xy[3, 1]  # the raised wrist came along

    QTest.mouseClick(panel.use_button, LEFT)
    assert doc.appearance.mode == "photo"
    assert doc.appearance.source == bob_id
    assert window.appearance_panel.source.currentText() == "bob.jpg"
    assert "That is the photo being edited" not in window.statusBar().currentMessage()


def test_double_click_or_enter_switches_the_edited_photo(qtbot, loaded) -> None:
    window, (alice_id, bob_id) = loaded
    panel = window.photos_panel
    double_click_photo(panel, bob_id)
    assert window.doc.ws.current == bob_id
    click_photo(panel, alice_id)
    assert window.doc.ws.current == bob_id
    QTest.keyClick(panel.list, Qt.Key.Key_Return)
    assert window.doc.ws.current == alice_id
    QTest.keyClick(panel.list, Qt.Key.Key_Right)  # arrows move the selection only
    assert window.doc.ws.current == alice_id
    QTest.keyClick(panel.list, Qt.Key.Key_Enter)
    assert window.doc.ws.current == bob_id


def test_a_selected_thumbnail_keeps_its_colours(qtbot, loaded) -> None:
    window, (_alice_id, bob_id) = loaded
    panel = window.photos_panel
    window.photos_dock.resize(300, 400)
    qtbot.wait(20)
    rect = panel.list.visualItemRect(panel.list.item(1))

    def bob_blue() -> int:
        img = panel.list.viewport().grab(rect).toImage()
        rgb = np.array(
            [[img.pixelColor(x, y).getRgb()[:3] for x in range(img.width())] for y in range(img.height())]
        )
        return int((np.abs(rgb - (40, 80, 200)).sum(axis=2) <= 6).sum())  # bob's jacket, untinted

    before = bob_blue()
    assert before > 50
    click_photo(panel, bob_id)
    assert panel.list.item(1).isSelected()
    assert bob_blue() >= 0.9 * before


def test_switching_the_edited_photo_repaints_every_name(qtbot, loaded) -> None:
    """The edited photo's name is bold; when another photo is edited, the old bold name's
    overhang must go too (on screen, a stray letter stayed after the plain name)."""
    from PySide6.QtCore import QEvent, QObject, QRect

    window, (alice_id, bob_id) = loaded
    viewport = window.photos_panel.list.viewport()
    painted: list[QRect] = []

    class Painted(QObject):
        def eventFilter(self, obj, event) -> bool:
            if event.type() == QEvent.Type.Paint:
                painted.append(event.rect())
            return False

    spy = Painted()
    viewport.installEventFilter(spy)
    qtbot.wait(20)
    painted.clear()
    window.doc.set_current(bob_id if window.doc.current.id == alice_id else alice_id)
    qtbot.waitUntil(lambda: any(r.contains(viewport.rect()) for r in painted), timeout=2000)
    viewport.removeEventFilter(spy)


def test_each_photo_keeps_its_own_look(qtbot, loaded, tmp_path) -> None:
    window, (alice_id, bob_id) = loaded
    doc, panel = window.doc, window.photos_panel
    click_photo(panel, bob_id)
    QTest.mouseClick(panel.use_button, LEFT)  # alice wears bob's look
    double_click_photo(panel, bob_id)
    assert doc.ws.current == bob_id
    assert doc.appearance.source is None  # bob still shows his own look
    assert window.appearance_panel.source.currentIndex() == 0
    click_photo(panel, alice_id)
    QTest.mouseClick(panel.use_button, LEFT)  # bob wears alice's look
    radio = window.appearance_panel.sample_mode
    QTest.mouseClick(
        radio, LEFT, Qt.KeyboardModifier.NoModifier, QPoint(8, radio.height() // 2)
    )  # then a random person, on bob only
    assert doc.appearance.mode == "sample"
    double_click_photo(panel, alice_id)
    assert doc.appearance.mode == "photo"
    assert doc.appearance.source == bob_id
    assert window.appearance_panel.photo_mode.isChecked()
    assert window.appearance_panel.source.currentText() == "bob.jpg"

    # Undo of bob's change applies to bob, also while alice is edited.
    doc.undo.undo()
    assert doc.photo(bob_id).appearance.mode == "photo"
    assert doc.photo(bob_id).appearance.source == alice_id
    assert doc.photo(alice_id).appearance.source == bob_id

    # Saved per photo; a file from before (one choice for all) still opens.
    path = tmp_path / "w.vunet"
    assert window.files.save_as(path)
    saved = json.loads(path.read_text())
    assert [e["appearance"]["source"] for e in saved["photos"]] == [1, 0]
    window.files.open_workspace(path)
    assert [p.appearance.source for p in window.doc.photos] == [
        window.doc.photos[1].id,
        window.doc.photos[0].id,
    ]
    for e in saved["photos"]:
        del e["appearance"]
    saved["appearance"] = {"mode": "sample", "source": None, "parts": [None] * 8, "seed": 7}
    old = tmp_path / "old.vunet"
    old.write_text(json.dumps(saved))
    window.files.open_workspace(old)
    assert [(p.appearance.mode, p.appearance.seed) for p in window.doc.photos] == [("sample", 7)] * 2


def test_cuda_without_cuda_falls_back_to_the_cpu(qtbot, make_window, photos) -> None:
    from vunet_studio.gui.main_window import MainWindow

    def factory(checkpoint, device, progress):
        if device.startswith("cuda"):
            raise EngineError("CUDA was requested but no CUDA device is available: use 'cpu' or 'auto'.")
        return FakeEngine(checkpoint, device, progress, delay_s=0.005)

    est = FakeEstimator()
    window = MainWindow(engine_factory=factory, estimator_factory=lambda: est)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.render_service.engineReady, timeout=5000):
        window.load_engine()
    open_and_wait(qtbot, window, photos)

    def choose_cuda() -> None:
        dialog = QApplication.activeModalWidget()
        combo = next(c for c in dialog.findChildren(QComboBox) if c.findText("cuda") >= 0)
        combo.setFocus()
        while combo.currentText() != "cuda":
            QTest.keyClick(combo, Qt.Key.Key_Down)
        ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
        QTest.mouseClick(ok, LEFT)

    QTimer.singleShot(50, choose_cuda)
    with qtbot.waitSignal(window.render_service.engineReady, timeout=5000):
        window.act_prefs.trigger()
    assert window.prefs.device == "cuda"
    assert "on cpu" in window.engine_label.text()
    message = window.statusBar().currentMessage()
    assert "CPU" in message
    assert "File ▸ Preferences" in message
    qtbot.waitUntil(lambda: window.render_view.image() is not None, timeout=5000)
    window.doc.undo.setClean()
    window.close()


def test_a_model_that_fails_points_to_the_file_menu(qtbot, make_window, tmp_path) -> None:
    window = make_window(load=False)
    bad = tmp_path / "broken.corrupt"
    bad.write_text("x")
    window.prefs.checkpoint = str(bad)
    with qtbot.waitSignal(window.render_service.engineFailed, timeout=5000):
        window.load_engine()
    assert "File ▸ Preferences" in window.render_view._message


def test_ctrl_y_and_ctrl_shift_z_redo(qtbot, loaded) -> None:
    window, _ = loaded
    before = window.doc.current.pose
    start = view_pos(window.canvas, JOINT_INDEX["rwrist"])
    drag(window.canvas, start, start + QPoint(-30, 25))
    edited = window.doc.current.pose
    assert edited != before
    for redo in ((Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier),
                 (Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)):  # fmt: skip
        QTest.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        assert window.doc.current.pose == before
        QTest.keyClick(window.canvas, *redo)
        assert window.doc.current.pose == edited


def test_the_toolbar_says_undo_and_its_tooltip_what(qtbot, loaded) -> None:
    # The undo button used to carry the step's text, so the toolbar grew with every edit and
    # its last buttons fell into the overflow menu.
    window, _ = loaded
    toolbar = window.findChild(QToolBar, "MainToolbar")
    undo, redo = (toolbar.widgetForAction(a) for a in (window.act_undo, window.act_redo))
    width = toolbar.sizeHint().width()
    start = view_pos(window.canvas, JOINT_INDEX["rwrist"])
    drag(window.canvas, start, start + QPoint(-30, 25))
    assert undo.text() == "Undo"
    assert undo.toolTip() == "Undo Move right wrist"
    assert "Move right wrist" in window.act_undo.text()  # the Edit menu says what
    QTest.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert redo.text() == "Redo"
    assert redo.toolTip() == "Redo Move right wrist"
    assert toolbar.sizeHint().width() == width


def test_model_load_bar_shows_activity_not_a_stuck_percentage(qtbot, tmp_path) -> None:
    from vunet_studio.gui.main_window import MainWindow

    def slow(checkpoint, device, progress):
        time.sleep(0.4)
        return FakeEngine(checkpoint, device, progress)

    window = MainWindow(engine_factory=slow, estimator_factory=FakeEstimator)
    qtbot.addWidget(window)
    window.show()
    window.load_engine()
    qtbot.wait(100)
    assert window.progress.isVisible()
    assert window.progress.minimum() == 0
    assert window.progress.maximum() == 0
    qtbot.waitUntil(lambda: window.render_service.ready, timeout=5000)
    assert not window.progress.isVisible()
    window.close()


def test_first_start_has_nothing_to_undo(qtbot, make_window) -> None:
    from vunet_studio.gui.app import startup
    from vunet_studio.gui.files import sample_photos

    if not sample_photos():
        pytest.skip("no bundled samples")
    window = make_window(load=False)
    QSettings().setValue("state/started_before", False)
    startup(window, Namespace(files=[], no_samples=False))
    assert len(window.doc.photos) == len(sample_photos())
    assert not window.act_undo.isEnabled()
    assert not window.isWindowModified()
    QTest.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(window.doc.photos) == len(sample_photos())


def test_empty_workspace_offers_no_save_and_no_photo_buttons(qtbot, make_window, photos) -> None:
    window = make_window()
    panel = window.photos_panel
    assert not window.act_save.isEnabled()
    assert not window.act_save_as.isEnabled()
    assert not panel.use_button.isEnabled()
    assert not panel.copy_button.isEnabled()
    ids = open_and_wait(qtbot, window, photos)
    assert window.act_save.isEnabled()
    assert panel.use_button.isEnabled()
    assert not panel.copy_button.isEnabled()  # the edited photo is selected: nothing to copy
    click_photo(panel, ids[1])
    assert panel.copy_button.isEnabled()
    for pid in ids:
        window.files.close_photo(pid)
    assert not window.act_save.isEnabled()
    assert not panel.use_button.isEnabled()


def test_the_released_pose_is_the_last_render(qtbot, loaded) -> None:
    """Never a stale render: the frame on screen after a drag is the pose let go of."""
    from vunet_studio.gui.qimage import rgb_from_qimage

    window, _ = loaded
    engine = window.render_service.worker._engine
    start = view_pos(window.canvas, JOINT_INDEX["rwrist"])
    t_release = {}
    shown: list[float] = []
    window.render_service.imageReady.connect(lambda *_: shown.append(time.perf_counter()))
    drag(window.canvas, start, start + QPoint(-40, -50), steps=30)
    t_release["t"] = time.perf_counter()
    qtbot.waitUntil(
        lambda: window.render_service.caught_up() and shown and shown[-1] > t_release["t"], timeout=5000
    )
    photo = window.doc.current
    job = window.editor.appearance_job(window.doc.appearance, photo)
    expected = engine.render(window.render_service.worker._appearance(job), photo.pose).image
    assert np.array_equal(rgb_from_qimage(window.render_view.image()), expected)
    assert shown[-1] - t_release["t"] < 0.5  # the benchmark holds the real model to 100 ms
