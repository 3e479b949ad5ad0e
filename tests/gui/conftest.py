"""GUI test setup: offscreen Qt, settings and app data in a temp dir per test, message
boxes that never block, a fake engine and a controllable pose estimator."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if os.environ["QT_QPA_PLATFORM"] == "offscreen":
    # A desktop monitor (the offscreen platform's own screen is 800 x 800): the window opens
    # at its usual 1440 x 900, as for most users. The laptop screen has a test of its own.
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={Path(__file__).with_name('screen.json')}"

import pytest
from fake_engine import FakeEngine
from gui_helpers import FakeEstimator, crash, open_and_wait, person_photo
from PySide6.QtCore import QCoreApplication, QSettings
from PySide6.QtWidgets import QMessageBox

from vunet_studio.pose import Pose
from vunet_studio.pose_io import write_openpose


@dataclass
class Messages:
    """Every message box the app tried to show; `answer` replies to questions."""

    calls: list[tuple[str, str, str]] = field(default_factory=list)
    answer: QMessageBox.StandardButton = QMessageBox.StandardButton.Discard

    def texts(self) -> str:
        return "\n".join(f"{kind}: {title}: {text}" for kind, title, text in self.calls)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qapp) -> Messages:
    QCoreApplication.setOrganizationName("VUNetStudioTests")
    QCoreApplication.setApplicationName("VUNet Studio Tests")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    QSettings().clear()
    monkeypatch.setenv("VUNET_STUDIO_DATA_DIR", str(tmp_path / "appdata"))
    messages = Messages()

    def recorder(kind: str):
        def show(_parent, title, text, *args, **kwargs):
            messages.calls.append((kind, str(title), str(text)))
            if kind == "question":
                return messages.answer
            return QMessageBox.StandardButton.Ok

        return show

    for kind in ("warning", "critical", "information", "question", "about"):
        monkeypatch.setattr(QMessageBox, kind, staticmethod(recorder(kind)))
    return messages


@pytest.fixture
def messages(isolated: Messages) -> Messages:
    return isolated


@pytest.fixture
def photos(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "photos"
    folder.mkdir()
    a = person_photo(folder / "alice.png", colour=(200, 60, 60))
    b = person_photo(folder / "bob.jpg", (240, 320), colour=(40, 80, 200))
    # A sidecar OpenPose file for alice, as the bundled samples have.
    pose = Pose.template(200, 300, (40, 30, 120, 240))
    write_openpose(folder / "alice.json", [pose], (200, 300))
    return [a, b]


@pytest.fixture
def make_window(qtbot, tmp_path: Path):
    from vunet_studio.gui.main_window import MainWindow

    made = []

    def make(
        estimator: FakeEstimator | None = None, *, load: bool = True, delay_s: float = 0.005
    ) -> MainWindow:
        est = estimator or FakeEstimator()
        w = MainWindow(
            engine_factory=lambda c, d, p: FakeEngine(c, d, p, delay_s=delay_s),
            estimator_factory=lambda: est,
        )
        qtbot.addWidget(w)
        w.show()
        made.append(w)
        if load:
            with qtbot.waitSignal(w.render_service.engineReady, timeout=5000):
                w.load_engine()
        return w

    yield make
    for w in made:
        w.doc.undo.setClean()
        w.close()


@pytest.fixture
def window(make_window):
    return make_window()


@pytest.fixture
def loaded(qtbot, window, photos):
    ids = open_and_wait(qtbot, window, photos)
    window.doc.set_current(ids[0])
    qtbot.waitUntil(
        lambda: window.render_view.image() is not None and window.render_service.caught_up(), timeout=5000
    )
    return window, ids


@pytest.fixture
def crashed(loaded):
    """The loaded window after one edit, autosaved, and then its process died: the recovery
    file (`crashed.files.autosaver.path`) is left for the next instance to offer."""
    window, _ = loaded
    window.editor.mirror()
    assert window.files.autosaver.save_now()
    crash(window)
    return window
