"""Opening (dialog-free, drop), pose sources, bad input, workspaces, recovery, preferences."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from gui_helpers import FakeEstimator, open_and_wait, person_photo
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMessageBox

from vunet_studio.gui.settings import Preferences, recent_files
from vunet_studio.workspace import load_workspace


def test_open_uses_sidecar_pose_and_estimator(qtbot, window, photos) -> None:
    ids = open_and_wait(qtbot, window, photos)
    alice, bob = (window.doc.photo(i) for i in ids)
    assert alice.origin == "file"
    assert bob.origin == "estimated"
    assert alice.pose is not None
    assert alice.pose == alice.source_pose
    assert window.stack.currentIndex() == 1  # the editor, not the empty state
    assert window.photos_panel.list.count() == 2
    assert str(photos[1].resolve()) in recent_files()


def test_no_person_falls_back_to_template_with_reason(qtbot, make_window, photos, tmp_path) -> None:
    window = make_window(FakeEstimator(empty=True))
    shown: list[str] = []
    window.statusBar().messageChanged.connect(shown.append)
    (pid,) = open_and_wait(qtbot, window, [photos[1]])
    photo = window.doc.photo(pid)
    assert photo.origin == "template"
    assert photo.pose.visible.all()
    assert "no person found" in photo.note
    assert any("no person found" in m for m in shown)


def test_estimator_unavailable_falls_back_to_template(qtbot, qapp, tmp_path, photos) -> None:
    from vunet_studio.gui.main_window import MainWindow

    def broken():
        raise RuntimeError("openpifpaf is not installed")

    window = MainWindow(engine_factory=lambda c, d, p: None, estimator_factory=broken)
    qtbot.addWidget(window)
    (pid,) = open_and_wait(qtbot, window, [photos[1]])
    assert "openpifpaf is not installed" in window.doc.photo(pid).note
    window.close()


def test_drop_files_on_window_opens_them(qtbot, window, photos) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in photos])
    drop = QDropEvent(
        QPointF(100, 100),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    # Qt 6 delivers a Drop through QApplication only during a real drag session, so the
    # handler gets the event directly (as labelme's tests do).
    window.dropEvent(drop)
    qtbot.waitUntil(
        lambda: len(window.doc.photos) == 2 and all(p.pose is not None for p in window.doc.photos),
        timeout=5000,
    )
    assert drop.isAccepted()


def test_corrupt_image_gives_message_and_keeps_work(qtbot, loaded, tmp_path, messages) -> None:
    window, _ids = loaded
    before = [p.id for p in window.doc.photos]
    pose = window.doc.current.pose
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    window.files.open_paths([bad])
    assert [p.id for p in window.doc.photos] == before
    assert window.doc.current.pose == pose
    assert "broken.jpg" in messages.texts()
    assert "broken.jpg" in window.statusBar().currentMessage()


def test_malformed_pose_file_gives_message_and_keeps_pose(qtbot, loaded, tmp_path, messages) -> None:
    window, _ = loaded
    pose = window.doc.current.pose
    bad = tmp_path / "bad_pose.json"
    bad.write_text('{"people": [{"pose_keypoints_2d": [1, 2, 3]}]}')
    assert not window.files.import_pose(bad)
    assert window.doc.current.pose == pose
    assert "54" in messages.texts()  # says what was expected


def test_import_pose_file_replaces_pose_undoably(qtbot, loaded, tmp_path) -> None:
    from vunet_studio.pose import Pose
    from vunet_studio.pose_io import write_coco

    window, _ = loaded
    w, h = window.doc.current.size
    other = Pose.template(w, h, (10, 10, 60, 120))
    write_coco(tmp_path / "p.json", [other], (w, h))
    old = window.doc.current.pose
    assert window.files.import_pose(tmp_path / "p.json")
    assert window.doc.current.pose != old
    window.doc.undo.undo()
    assert window.doc.current.pose == old


def test_workspace_save_and_reopen(qtbot, loaded, tmp_path, make_window) -> None:
    window, ids = loaded
    doc = window.doc
    window.editor.toggle_joint(3)
    window.editor.use_appearance_of(ids[1])
    assert window.isWindowModified()
    path = tmp_path / "work.vunet"
    window.prefs.frames_between = 3
    assert window.files.save_as(path)
    assert not window.isWindowModified()
    assert "work.vunet" in window.windowTitle()
    assert load_workspace(path).photos[0].pose.visible[3] == doc.current.pose.visible[3]

    other = make_window()
    assert other.files.open_workspace(path)
    assert [p.name for p in other.doc.photos] == [p.name for p in doc.photos]
    assert not other.doc.current.pose.visible[3]
    assert other.doc.appearance.source == other.doc.photos[1].id
    assert other.appearance_panel.source.currentText() == "bob.jpg"
    assert other.prefs.frames_between == 3
    assert not other.isWindowModified()


def test_unsaved_changes_prompt_can_cancel(qtbot, loaded, tmp_path, messages) -> None:
    window, _ = loaded
    window.editor.mirror()
    messages.answer = QMessageBox.StandardButton.Cancel
    window.files.new_workspace()
    assert window.doc.photos  # nothing lost
    assert any(kind == "question" for kind, *_ in messages.calls)
    messages.answer = QMessageBox.StandardButton.Discard
    window.files.new_workspace()
    assert not window.doc.photos
    assert window.stack.currentIndex() == 0


def test_autosave_and_crash_recovery(qtbot, loaded, make_window, messages) -> None:
    window, _ = loaded
    window.editor.toggle_joint(4)
    assert window.files.autosaver.save_now()
    assert window.files.autosaver.path.exists()
    saved = json.loads(window.files.autosaver.path.read_text())
    assert len(saved["photos"]) == 2
    window.files.autosaver.release()  # the process "crashes": its file stays, its lock goes

    # A new session finds the file, as after a crash.
    messages.answer = QMessageBox.StandardButton.Yes
    fresh = make_window()
    assert fresh.files.offer_recovery()
    assert len(fresh.doc.photos) == 2
    assert not fresh.doc.current.pose.visible[4]
    assert fresh.isWindowModified()  # recovered work is not saved anywhere yet


def test_clean_exit_removes_recovery_file(qtbot, loaded) -> None:
    window, _ = loaded
    window.editor.mirror()
    window.files.autosaver.save_now()
    assert window.files.autosaver.path.exists()
    window.doc.undo.setClean()
    assert not window.files.autosaver.path.exists()


def test_corrupt_checkpoint_shows_message(qtbot, make_window, tmp_path) -> None:
    window = make_window(load=False)
    bad = tmp_path / "model.corrupt"
    bad.write_bytes(b"nope")
    with qtbot.waitSignal(window.render_service.engineFailed, timeout=5000):
        window.apply_preferences(Preferences(checkpoint=str(bad), device="cpu"))
    assert "model.corrupt" in window.engine_label.text() or "not loaded" in window.engine_label.text()
    qtbot.waitUntil(lambda: "model.corrupt" in window.statusBar().currentMessage())
    assert Preferences.load().checkpoint == str(bad)
    # Choosing a good model again recovers.
    with qtbot.waitSignal(window.render_service.engineReady, timeout=5000):
        window.apply_preferences(Preferences(checkpoint="", device="cpu"))


def test_large_photo_keeps_original_coordinates(qtbot, window, tmp_path) -> None:
    big = person_photo(tmp_path / "big.png", (4000, 3000))
    (pid,) = open_and_wait(qtbot, window, [big])
    photo = window.doc.photo(pid)
    assert photo.size == (4000, 3000)
    rect = window.canvas.scene().itemsBoundingRect()
    assert rect.width() >= 4000 * 0.99
    assert np.all(photo.pose.xy[:, 0] <= 4000)


def test_recent_files_menu(qtbot, window, photos) -> None:
    open_and_wait(qtbot, window, photos[:1])
    names = [a.text() for a in window.recent_menu.actions()]
    assert "alice.png" in names


def test_window_layout_is_remembered(qtbot, make_window) -> None:
    w = make_window(load=False)
    w.resize(1000, 700)
    w.photos_dock.hide()
    w._save_layout()
    w2 = make_window(load=False)
    assert w2.photos_dock.isHidden()


_ON_A_SCREEN = """
import json, sys
sys.path[:0] = sys.argv[3:]
from PySide6.QtCore import QCoreApplication, QSettings
from PySide6.QtWidgets import QApplication
app = QApplication([])
QCoreApplication.setOrganizationName("VUNetStudioTests")
QSettings.setDefaultFormat(QSettings.Format.IniFormat)
QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, sys.argv[1])
from fake_engine import FakeEngine
from vunet_studio.gui.main_window import MainWindow
w = MainWindow(engine_factory=lambda c, d, p: FakeEngine(c, d, p))
w.show()
w.stack.setCurrentIndex(1)  # the editing view, as with a photo open
for _ in range(20):
    app.processEvents()
if sys.argv[2] == "big":
    w.resize(2400, 1300)
    w._save_layout()
bar, play = w.statusBar(), w.keyframe_strip
corner = lambda x: [x.mapToGlobal(x.rect().bottomRight()).x(), x.mapToGlobal(x.rect().bottomRight()).y()]
f = w.frameGeometry()
print(json.dumps({"frame": [f.x(), f.y(), f.right(), f.bottom()], "status": corner(bar), "keyframes": corner(play)}))
w.close()
"""


def _window_on_screen(tmp_path: Path, width: int, height: int, run: str) -> dict:
    """Where the window lies on a width x height screen (the offscreen platform's own size is 800 x 800)."""
    config = tmp_path / f"screen{width}.json"
    screen = {"name": "s", "x": 0, "y": 0, "width": width, "height": height, "logicalDpi": 96, "dpr": 1}
    config.write_text(json.dumps({"screens": [screen]}))
    env = {**os.environ, "QT_QPA_PLATFORM": f"offscreen:configfile={config}"}
    here = Path(__file__).resolve().parent
    args = [sys.executable, "-c", _ON_A_SCREEN, str(tmp_path / "settings"), run, str(here), str(here.parent)]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_window_fits_a_laptop_screen_even_after_a_big_monitor(tmp_path) -> None:
    """A 1440 x 900 first window on a 1366 x 768 laptop hid the status bar and the keyframes
    dock below the screen's edge; a window saved on a big monitor did the same."""
    for run in ("first", "after"):
        if run == "after":
            _window_on_screen(tmp_path, 2560, 1440, "big")  # used on a big monitor, saved there
        got = _window_on_screen(tmp_path, 1366, 768, run)
        x0, y0, x1, y1 = got["frame"]
        assert min(x0, y0) >= 0, (run, got)
        assert x1 < 1366, (run, got)
        assert y1 < 768, (run, got)
        for corner in (got["status"], got["keyframes"]):
            assert corner[0] < 1366, (run, got)
            assert corner[1] < 768, (run, got)


def test_a_short_window_scrolls_the_appearance_panel_instead_of_overlapping(qtbot, make_window, photos) -> None:
    w = make_window()
    open_and_wait(qtbot, w, photos[:2])
    w.resize(760, 420)
    qtbot.wait(50)
    panel = w.appearance_panel
    dock = w.appearance_dock
    shown = dock.widget()
    assert panel.height() >= panel.minimumSizeHint().height()  # not squeezed over its neighbours
    assert shown.height() <= dock.height()
    assert shown.verticalScrollBar().maximum() > 0  # the rest is a scroll away


def test_startup_recovers_after_crash_and_loads_samples_only_first_time(
    qtbot, crashed, make_window, messages
) -> None:
    from vunet_studio.gui.app import parse_args, startup
    from vunet_studio.gui.files import sample_photos

    messages.answer = QMessageBox.StandardButton.Yes
    fresh = make_window(load=False)
    startup(fresh, parse_args([]))
    assert [p.name for p in fresh.doc.photos] == ["alice.png", "bob.jpg"]  # recovered, no samples
    assert any("Recover" in title for _, title, _ in messages.calls)

    if sample_photos():
        messages.answer = QMessageBox.StandardButton.No  # decline recovery this time
        third = make_window(load=False)
        startup(third, parse_args([]))  # started before: the empty state, no samples
        assert not third.doc.photos
        assert third.stack.currentIndex() == 0
        assert not crashed.files.autosaver.path.exists()
