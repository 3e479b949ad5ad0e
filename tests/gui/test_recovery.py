"""Crash recovery with several instances, real crashes and SIGTERM: nothing a user made is
lost, and no instance touches the work of another one that is still running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from gui_helpers import crash, drag, open_and_wait, view_pos
from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QFileDialog, QMessageBox

from vunet_studio.fileio import is_temporary
from vunet_studio.gui.app import parse_args, startup
from vunet_studio.gui.recovery import DEBOUNCE_MS, orphans
from vunet_studio.skeleton import JOINT_INDEX

REPO = Path(__file__).resolve().parents[2]
YES, NO = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No


def questions(messages) -> list[str]:
    return [text for kind, _title, text in messages.calls if kind == "question"]


def test_a_second_instance_never_touches_a_running_instances_work(
    qtbot, loaded, make_window, messages
) -> None:
    a, _ = loaded
    a.editor.mirror()
    assert a.files.autosaver.save_now()
    mine = a.files.autosaver.path
    saved = mine.read_text()

    messages.answer = NO  # whatever B would be asked, it must not cost A its work
    b = make_window(load=False)
    startup(b, parse_args(["--no-samples"]))
    assert questions(messages) == []  # A is alive: its file is not a crash to recover
    assert not b.doc.photos
    open_and_wait(qtbot, b, [a.doc.photos[1].path])
    b.editor.mirror()
    b.files.autosaver.save_now()
    b.doc.undo.setClean()
    b.close()  # a clean exit of B

    assert mine.read_text() == saved  # A's recovery file is still there, unchanged
    assert not b.files.autosaver.path.exists()  # B cleaned up only its own


def test_recovery_names_the_workspace_and_time_and_saves_back_to_it(
    qtbot, loaded, make_window, messages, tmp_path, monkeypatch
) -> None:
    a, _ = loaded
    work = tmp_path / "holiday.vunet"
    assert a.files.save_as(work)
    a.editor.mirror()
    edited = a.doc.current.pose
    assert a.files.autosaver.save_now()
    orphan = a.files.autosaver.path
    crash(a)

    messages.answer = YES
    b = make_window(load=False)
    before = time.strftime("%H:%M")
    assert b.files.offer_recovery()
    (text,) = questions(messages)
    assert "holiday.vunet" in text
    assert "did not close properly" in text
    assert before in text or time.strftime("%H:%M") in text  # says from when
    assert b.doc.path == work.resolve()
    assert "holiday.vunet" in b.windowTitle()
    assert b.isWindowModified()
    assert b.doc.current.pose == edited
    assert not orphan.exists()
    assert b.files.autosaver.path.exists()

    def no_dialog(*_args, **_kwargs):
        raise AssertionError("Save asked for a file name: the recovered workspace lost its own")

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(no_dialog))
    assert b.files.save()
    assert not b.isWindowModified()
    assert not b.files.autosaver.path.exists()
    c = make_window(load=False)
    assert c.files.open_workspace(work)
    assert c.doc.current.pose == edited


def test_each_edit_reaches_the_recovery_file_within_seconds(qtbot, loaded) -> None:
    window, _ = loaded
    canvas, path = window.canvas, window.files.autosaver.path
    j = JOINT_INDEX["lwrist"]
    start = view_pos(canvas, j)
    drag(canvas, start, start + QPoint(25, 30))
    moved = window.doc.current.pose.xy[j].copy()
    t0 = time.perf_counter()

    def kept() -> bool:
        if not path.exists():
            return False
        pose = json.loads(path.read_text())["photos"][0]["pose"]["people"][0]["joints"][j]
        return bool(np.allclose(pose, moved, atol=1e-2))

    qtbot.waitUntil(kept, timeout=DEBOUNCE_MS + 1500)
    assert time.perf_counter() - t0 < DEBOUNCE_MS / 1000 + 1.5  # seconds, not a minute


def test_files_named_again_after_a_crash_are_not_added_twice(
    qtbot, crashed, make_window, messages, photos
) -> None:
    messages.answer = YES
    b = make_window(load=False)
    startup(b, parse_args(["--no-samples", str(photos[0]), str(photos[1])]))
    assert [p.name for p in b.doc.photos] == ["alice.png", "bob.jpg"]


def _start_app(tmp_path: Path, photo: Path) -> tuple[subprocess.Popen, Path]:
    env = dict(os.environ)
    env.update(
        QT_QPA_PLATFORM="offscreen",
        VUNET_STUDIO_DATA_DIR=str(tmp_path / "child-data"),
        XDG_CONFIG_HOME=str(tmp_path / "child-config"),  # the child's QSettings
        PYTHONPATH=str(REPO),
    )
    cmd = [
        sys.executable,
        str(REPO / "scripts" / "dev_studio.py"),
        "--fake-engine",
        "--no-samples",
        str(photo),
    ]
    # Output to a file: a pipe nobody reads fills up and blocks the app.
    with open(tmp_path / "child.log", "wb") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    return proc, tmp_path / "child-data" / "recovery"


def finished(folder: Path) -> list[Path]:
    """The whole recovery files in `folder`: a glob also finds one being written (dot-named)."""
    return [p for p in folder.glob("*.vunet") if not is_temporary(p)]


def output(tmp_path: Path) -> str:
    return (tmp_path / "child.log").read_text(errors="replace")[-3000:]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_real_app_process_stopped_or_killed_keeps_the_work(
    qtbot, make_window, messages, tmp_path, photos, monkeypatch, sig
) -> None:
    proc, folder = _start_app(tmp_path, photos[0])
    try:
        # Opening a photo is an edit: the debounced autosave writes it within seconds.
        deadline = time.monotonic() + 60
        while not finished(folder) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert finished(folder), f"no recovery file; app output:\n{output(tmp_path)}"
        proc.send_signal(sig)
        rc = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = output(tmp_path)
    if sig == signal.SIGTERM:
        assert rc == 0, f"SIGTERM is a normal close, not a kill (exit {rc}):\n{out}"
        config = next((tmp_path / "child-config").rglob("*.conf"), None)
        assert config is not None
        assert "geometry" in config.read_text()
        assert not list(folder.glob("*.lock"))  # the lock was let go
    (kept,) = finished(folder)
    assert json.loads(kept.read_text())["photos"][0]["path"].endswith("alice.png")

    # The next start (here: this test process) offers it, saying how the last one ended.
    monkeypatch.setenv("VUNET_STUDIO_DATA_DIR", str(tmp_path / "child-data"))
    messages.answer = YES
    b = make_window(load=False)
    assert b.files.offer_recovery()
    (text,) = questions(messages)
    expected = "closed by the system" if sig == signal.SIGTERM else "did not close properly"
    assert expected in text
    assert "1 photo" in text
    assert [p.name for p in b.doc.photos] == ["alice.png"]


def test_closing_while_the_recovery_question_is_open_keeps_the_work(
    qtbot, crashed, make_window, messages, monkeypatch
) -> None:
    orphan = crashed.files.autosaver.path
    b = make_window(load=False)

    def sigterm_while_asking(*_args, **_kwargs):
        b.terminate()  # what SIGTERM does while the question is on screen
        return QMessageBox.StandardButton.No  # how a box closed without an answer returns

    monkeypatch.setattr(QMessageBox, "question", staticmethod(sigterm_while_asking))
    startup(b, parse_args(["--no-samples"]))
    assert orphan.exists()  # no answer was given: the work is offered again next time
    assert not b.doc.photos


def test_a_running_instances_half_written_autosave_is_left_alone(qtbot, loaded) -> None:
    window, _ = loaded
    window.editor.mirror()
    assert window.files.autosaver.save_now()  # it runs and holds its lock
    mine = window.files.autosaver.path
    writing = mine.with_name(f".{mine.stem}.abcd1234.tmp.vunet")
    writing.write_text("{")
    os.utime(writing, (time.time() - 3600, time.time() - 3600))
    assert mine not in [f.path for f in orphans()]
    assert writing.exists()


def test_work_another_starting_instance_is_offering_is_not_offered_twice(
    qtbot, crashed, make_window, messages
) -> None:
    b = make_window(load=False)
    (rf,) = [f for f in orphans() if f.path == crashed.files.autosaver.path]
    claim = rf.claim()  # B is asking its user about it right now
    assert claim is not None
    messages.answer = YES
    c = make_window(load=False)
    assert not c.files.offer_recovery()
    assert questions(messages) == []
    claim.unlock()
    assert b.files.offer_recovery()
    assert len(b.doc.photos) == 2


def test_a_kill_during_an_autosave_offers_the_last_whole_save_only(
    qtbot, crashed, make_window, messages
) -> None:
    # A kill mid-write leaves our dot-named temporary (empty or cut) beside the last whole save.
    saved = crashed.files.autosaver.path
    cut = saved.with_name(f".{saved.stem}.abcd1234.tmp.vunet")
    cut.write_text("")
    assert is_temporary(cut)
    assert [f.path for f in orphans()] == [saved]
    assert cut.exists()  # newer than this process: it could be a write in progress
    # Left by a process before this one (its instance gone): ours to remove.
    os.utime(cut, (time.time() - 3600, time.time() - 3600))
    assert [f.path for f in orphans()] == [saved]
    assert not cut.exists()

    messages.answer = YES
    b = make_window(load=False)
    assert b.files.offer_recovery()
    assert len(questions(messages)) == 1  # one question, about the whole save
    assert len(b.doc.photos) == 2
