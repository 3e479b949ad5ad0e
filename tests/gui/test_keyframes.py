"""Animations as a user makes them: the keyframes strip (add, remove, reorder, jump), the
export dialog's options with its playing preview, and an H.264 MP4."""

from __future__ import annotations

import subprocess

from gui_helpers import drag, view_pos
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QFileDialog

from vunet_studio.skeleton import JOINT_INDEX

LEFT = Qt.MouseButton.LeftButton
WRIST = JOINT_INDEX["rwrist"]


def click_key(strip, index: int, double: bool = False) -> None:
    pos = strip.list.visualItemRect(strip.list.item(index)).center()
    QTest.mouseClick(strip.list.viewport(), LEFT, Qt.KeyboardModifier.NoModifier, pos)
    if double:
        QTest.mouseDClick(strip.list.viewport(), LEFT, Qt.KeyboardModifier.NoModifier, pos)


def three_keyframes(window) -> list:
    """K, drag the wrist, K, drag again, K: three different poses."""
    canvas = window.canvas
    poses = []
    for k in range(3):
        if k:
            start = view_pos(canvas, WRIST)
            drag(canvas, start, start + QPoint(0, -25))
        QTest.keyClick(canvas, Qt.Key.Key_K)
        poses.append(window.doc.current.pose)
    return poses


def test_keyframe_strip_add_remove_reorder_jump(qtbot, loaded) -> None:
    window, _ = loaded
    strip, doc = window.keyframe_strip, window.doc
    assert window.keyframes_dock.isVisible()
    assert strip.list.count() == 0
    assert "No keyframes" in strip.count.text()
    p1, p2, p3 = three_keyframes(window)
    assert strip.list.count() == 3
    assert strip.count.text() == "3 keyframes"
    assert strip.selected_index() == 2  # the newest

    click_key(strip, 0)
    assert not strip.left_button.isEnabled()
    QTest.mouseClick(strip.right_button, LEFT)  # 1 moves after 2
    assert [k == p for k, p in zip(doc.ws.keyframes, (p2, p1, p3), strict=True)] == [True] * 3
    assert strip.selected_index() == 1  # the selection follows the moved keyframe
    QTest.mouseClick(strip.remove_button, LEFT)
    assert [k == p for k, p in zip(doc.ws.keyframes, (p2, p3), strict=True)] == [True, True]
    assert strip.count.text() == "2 keyframes"

    # Jump: double-click a keyframe puts its pose on the edited photo (one undo step).
    assert doc.current.pose == p3
    click_key(strip, 0, double=True)
    assert doc.current.pose == p2
    assert doc.undo.undoText() == "Go to keyframe 1"
    QTest.keyClick(strip.list, Qt.Key.Key_Right)
    QTest.keyClick(strip.list, Qt.Key.Key_Return)
    assert doc.current.pose == p3

    doc.undo.undo()  # the jump
    doc.undo.undo()  # the jump
    doc.undo.undo()  # the removal
    assert len(doc.ws.keyframes) == 3
    assert strip.list.count() == 3


def test_animation_dialog_options_preview_and_h264_mp4(qtbot, loaded, tmp_path, monkeypatch) -> None:
    import imageio_ffmpeg

    window, _ = loaded
    strip = window.keyframe_strip
    three_keyframes(window)
    QTest.mouseClick(strip.play_button, LEFT)
    dialog = window.animation_dialog
    assert dialog.isVisible()
    dialog.frames_between.setFocus()
    dialog.frames_between.selectAll()
    QTest.keyClicks(dialog.frames_between, "2")
    dialog.fps.selectAll()
    QTest.keyClicks(dialog.fps, "25")
    assert dialog.loop.isChecked()
    # 3 keys, 2 between each, looping back to the first: 3 + 3 * 2 frames.
    qtbot.waitUntil(lambda: dialog.frames_shown == 9, timeout=5000)
    assert dialog.summary.text().startswith("3 keyframes, 9 frames")
    # The preview plays: the shown frame advances by itself.
    first = dialog.frame_label.text()
    qtbot.waitUntil(lambda: dialog.frame_label.text() != first, timeout=2000)
    QTest.mouseClick(dialog.loop, LEFT, Qt.KeyboardModifier.NoModifier, QPoint(8, dialog.loop.height() // 2))
    assert not dialog.loop.isChecked()
    qtbot.waitUntil(lambda: dialog.frames_shown == 7, timeout=5000)

    dialog.format.setCurrentIndex(dialog.format.findData(".mp4"))
    out = tmp_path / "walk.mp4"
    asked = {}

    def save_name(_parent, _title, start, _filters):
        asked["start"] = start
        return str(out), "MP4 video (*.mp4)"

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_name)
    with qtbot.waitSignal(window.render_service.animationDone, timeout=20000) as done:
        QTest.mouseClick(dialog.export_button, LEFT)
    assert done.args == [str(out), ""]
    assert asked["start"].endswith("_animation.mp4")
    assert window.prefs.fps == 25
    assert window.prefs.frames_between == 2
    probe = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(out)], capture_output=True, text=True
    )
    video = next(line for line in probe.stderr.splitlines() if "Video:" in line)
    assert "h264" in video
    assert "yuv420p" in video
    assert "25 fps" in video
    frames = imageio_ffmpeg.count_frames_and_secs(str(out))[0]
    assert frames == 7  # no loop: 3 keys and 2 between each of the 2 gaps


def test_gif_loop_option(qtbot, loaded, tmp_path) -> None:
    window, _ = loaded
    three_keyframes(window)
    window.prefs.frames_between = 1
    for loop, name in ((True, "loop.gif"), (False, "once.gif")):
        with qtbot.waitSignal(window.render_service.animationDone, timeout=10000):
            assert window.files.export_animation(tmp_path / name, loop=loop)
        gif = Image.open(tmp_path / name)
        assert gif.n_frames == (6 if loop else 5)
        assert ("loop" in gif.info) == loop


def test_mp4_falls_back_to_mp4v_with_a_message(qtbot, loaded, tmp_path, monkeypatch, messages) -> None:
    import imageio_ffmpeg

    def broken(*_a, **_k):
        raise RuntimeError("no libx264 in this ffmpeg")

    monkeypatch.setattr(imageio_ffmpeg, "write_frames", broken)
    window, _ = loaded
    three_keyframes(window)
    out = tmp_path / "a.mp4"
    with qtbot.waitSignal(window.render_service.animationDone, timeout=10000):
        window.files.export_animation(out)
    qtbot.waitUntil(lambda: "mp4v" in window.statusBar().currentMessage(), timeout=2000)
    assert out.stat().st_size > 0
    assert "browsers do not play" in messages.texts()


def test_the_preview_shows_the_photo_as_the_export_will(qtbot, loaded) -> None:
    window, _ = loaded
    photo = window.doc.current  # 200 x 300: a composited frame keeps that shape, a render is square
    qtbot.waitUntil(lambda: window.composite_view.export_job(photo) is not None, timeout=20000)
    three_keyframes(window)
    QTest.mouseClick(window.keyframe_strip.play_button, LEFT)
    dialog = window.animation_dialog
    qtbot.waitUntil(lambda: dialog.frames_shown > 0, timeout=5000)
    frame = dialog._frames[0]
    assert abs(frame.width() / frame.height() - 200 / 300) < 0.02
    dialog.reject()


def test_export_from_the_dialog_does_not_wait_for_its_preview(qtbot, loaded, tmp_path, monkeypatch) -> None:
    # The dialog's preview renders every frame in the render thread; closing the dialog to
    # export left that job running, and the export queued behind it waited for all of it
    # (122 preview frames: 15 s before the first export frame on this project's CPU).
    window, _ = loaded
    three_keyframes(window)
    window.prefs.frames_between = 40  # 123 frames with the loop
    engine = window.render_service.worker._engine
    engine.delay_s = 0.02
    QTest.mouseClick(window.keyframe_strip.play_button, LEFT)
    dialog = window.animation_dialog
    # The preview says how far it is while it renders.
    qtbot.waitUntil(lambda: "of 123" in dialog.preview.text(), timeout=5000)
    assert dialog.preview.text().startswith("Rendering the preview…\nframe ")
    out = tmp_path / "walk.gif"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *_a: (str(out), "Animated GIF (*.gif)"))
    first, totals = [], set()
    window.render_service.animationProgress.connect(lambda *_a: first.append(engine.renders) if not first else None)
    window.render_service.animationProgress.connect(lambda _p, _d, total: totals.add(total))
    at_click = engine.renders
    with qtbot.waitSignal(window.render_service.animationDone, timeout=30000):
        QTest.mouseClick(dialog.export_button, LEFT)
    assert first[0] - at_click <= 3  # the preview stopped: the export's first frame came next
    assert totals == {123}  # the whole animation: 3 keys, 40 frames between, back to the first
    assert out.stat().st_size > 0
