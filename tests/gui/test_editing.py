"""Editing on the canvas with real mouse events: drags, undo, live renders, zoom, hide, mirror."""

from __future__ import annotations

import time

import numpy as np
from gui_helpers import LEFT, click_joint, drag, send_mouse, view_pos
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QWheelEvent
from PySide6.QtWidgets import QApplication

from vunet_studio.skeleton import JOINT_INDEX


def test_drag_moves_joint_in_one_undo_step_and_renders_live(qtbot, loaded) -> None:
    window, _ids = loaded
    canvas, doc = window.canvas, window.doc
    j = JOINT_INDEX["rwrist"]
    before = doc.current.pose
    start = view_pos(canvas, j)
    end = start + QPoint(-30, 25)
    count0 = doc.undo.count()
    frames0 = window.render_view.frames_shown

    with qtbot.waitSignal(window.render_service.imageReady, timeout=5000):
        drag(canvas, start, end)

    after = doc.current.pose
    moved = after.xy[j] - before.xy[j]
    scale = 1.0 / canvas.zoom()
    assert np.allclose(moved, (-30 * scale, 25 * scale), atol=2 * scale)
    others = np.arange(18) != j
    assert np.allclose(after.xy[others], before.xy[others])
    assert doc.undo.count() == count0 + 1  # one step for the whole drag
    assert window.render_view.frames_shown > frames0
    assert window.isWindowModified()

    doc.undo.undo()
    assert doc.current.pose == before
    assert canvas.joint_scene_pos(j).x() == float(before.xy[j, 0])
    doc.undo.redo()
    assert np.allclose(doc.current.pose.xy[j], after.xy[j])


def test_mid_drag_the_figure_follows_the_pointer(qtbot, loaded) -> None:
    from vunet_studio.skeleton import LIMBS

    window, _ = loaded
    canvas = window.canvas
    j = JOINT_INDEX["relbow"]
    start = view_pos(canvas, j)
    bones = [canvas._bones[k] for k, (a, b) in enumerate(LIMBS) if j in (JOINT_INDEX[a], JOINT_INDEX[b])]
    assert len(bones) == 2  # upper arm and forearm
    for shift, mods in ((QPoint(25, -15), Qt.KeyboardModifier.NoModifier), (QPoint(-10, 20), Qt.KeyboardModifier.ShiftModifier)):
        send_mouse(canvas, QEvent.Type.MouseButtonPress, start, LEFT, LEFT, mods)
        send_mouse(canvas, QEvent.Type.MouseMove, start + shift, LEFT, Qt.MouseButton.NoButton, mods)
        # Before the release: the dot is under the pointer and both its bones end there.
        dot = canvas.mapFromScene(canvas.joint_scene_pos(j))
        assert (dot - (start + shift)).manhattanLength() <= 2
        ends = [canvas.mapFromScene(p) for line in bones for p in (line.line().p1(), line.line().p2())]
        assert min((e - dot).manhattanLength() for e in ends[:2]) <= 1
        assert min((e - dot).manhattanLength() for e in ends[2:]) <= 1
        if mods == Qt.KeyboardModifier.ShiftModifier:  # the whole figure moved: a far joint too
            far = JOINT_INDEX["lankle"]
            assert canvas.joint_scene_pos(far) == QPointF(*(float(v) for v in canvas.pose().xy[far]))
        send_mouse(canvas, QEvent.Type.MouseButtonRelease, start + shift, Qt.MouseButton.NoButton, LEFT, mods)
        start = view_pos(canvas, j)


def test_drag_bone_or_shift_moves_whole_skeleton(qtbot, loaded) -> None:
    window, _ = loaded
    canvas, doc = window.canvas, window.doc
    before = doc.current.pose
    start = view_pos(canvas, JOINT_INDEX["lknee"])
    drag(canvas, start, start + QPoint(20, 0), mods=Qt.KeyboardModifier.ShiftModifier)
    delta = doc.current.pose.xy - before.xy
    assert np.allclose(delta, delta[0])
    assert delta[0, 0] > 5
    assert doc.undo.undoText() == "Move skeleton"


def test_hide_joint_by_key_and_menu_action(qtbot, loaded) -> None:
    window, _ = loaded
    canvas, doc = window.canvas, window.doc
    j = JOINT_INDEX["lelbow"]
    click_joint(canvas, j)
    assert canvas.selected_joint == j
    qtbot.keyClick(canvas, Qt.Key.Key_H)
    assert not doc.current.pose.visible[j]
    assert doc.undo.undoText() == "Hide left elbow"
    window.editor.toggle_selected_joint()
    assert doc.current.pose.visible[j]
    doc.undo.undo()
    assert not doc.current.pose.visible[j]


def test_mirror_and_reset(qtbot, loaded) -> None:
    window, _ = loaded
    doc = window.doc
    before = doc.current.pose
    drag(
        window.canvas,
        view_pos(window.canvas, JOINT_INDEX["rwrist"]),
        view_pos(window.canvas, JOINT_INDEX["rwrist"]) + QPoint(-40, 0),
    )
    edited = doc.current.pose
    window.act_mirror.trigger()
    mirrored = doc.current.pose
    r, lw = JOINT_INDEX["rwrist"], JOINT_INDEX["lwrist"]
    # The edited right wrist is now the left one, reflected about the figure's centre.
    assert np.isclose(mirrored.xy[lw, 1], edited.xy[r, 1])
    assert np.isclose(mirrored.xy[lw, 0], 2 * edited.center()[0] - edited.xy[r, 0], atol=1e-3)
    window.act_reset.trigger()
    assert doc.current.pose == before
    doc.undo.undo()
    assert doc.current.pose == mirrored


def test_arrow_nudges_merge_into_one_step(qtbot, loaded) -> None:
    window, _ = loaded
    canvas, doc = window.canvas, window.doc
    j = JOINT_INDEX["cnose"]
    click_joint(canvas, j)
    n = doc.undo.count()
    before = doc.current.pose.xy[j].copy()
    for _ in range(3):
        qtbot.keyClick(canvas, Qt.Key.Key_Right)
    assert doc.undo.count() == n + 1
    assert doc.current.pose.xy[j, 0] > before[0]
    doc.undo.undo()
    assert np.allclose(doc.current.pose.xy[j], before)


def test_wheel_zoom_keeps_point_under_cursor(qtbot, loaded) -> None:
    window, _ = loaded
    canvas = window.canvas
    pos = view_pos(canvas, JOINT_INDEX["rknee"])
    scene_before = canvas.mapToScene(pos)
    z0 = canvas.zoom()
    vp = canvas.viewport()
    event = QWheelEvent(
        QPointF(pos), QPointF(vp.mapToGlobal(pos)), QPoint(0, 0), QPoint(0, 240),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )  # fmt: skip
    QApplication.sendEvent(vp, event)
    assert canvas.zoom() > z0 * 1.2
    scene_after = canvas.mapToScene(pos)
    assert abs(scene_after.x() - scene_before.x()) < 3 / canvas.zoom() + 1
    assert abs(scene_after.y() - scene_before.y()) < 3 / canvas.zoom() + 1


def test_stale_render_results_are_dropped(qtbot, loaded) -> None:
    window, ids = loaded
    service, view = window.render_service, window.render_view
    # The photo's empty scene made first: its arrival asks for a render of its own, which
    # landed inside the wait below now and then and was counted as the stale one shown.
    qtbot.waitUntil(lambda: window.scenes.get(window.doc.current) is not None, timeout=10000)
    # A pose edit's render reaches the view...
    with qtbot.waitSignal(service.imageReady, timeout=5000):
        rid = window.editor.request_render()
    assert rid is not None
    qtbot.waitUntil(service.caught_up, timeout=5000)
    newest, frames = view.image(), view.frames_shown
    # ...and the render thread delivering an older request's result after it must not replace it.
    shown = []
    service.imageReady.connect(lambda pid, img, ms, t0: shown.append(pid))
    stale = QImage(newest.size(), newest.format())
    stale.fill(Qt.GlobalColor.red)
    service.worker.rendered.emit(rid - 1, ids[0], stale, None, 1.0, time.perf_counter())
    qtbot.wait(50)
    assert shown == []
    assert view.frames_shown == frames
    assert view.image() == newest
    # A newer request is still shown.
    with qtbot.waitSignal(service.imageReady, timeout=5000):
        window.editor.request_render()
    assert shown == [ids[0]]


def test_actions_disabled_without_a_photo(make_window) -> None:
    window = make_window(load=False)
    assert not window.act_mirror.isEnabled()
    assert not window.act_export_render.isEnabled()
    assert window.stack.currentIndex() == 0
    assert window.appearance_panel.source.count() == 1  # "This photo" even before any photo


def test_drag_renders_its_final_pose_once(qtbot, loaded) -> None:
    window, _ids = loaded
    canvas, doc = window.canvas, window.doc
    photo = doc.current
    # Let the photo's empty scene arrive first: it asks for a render of its own.
    qtbot.waitUntil(lambda: window.composite_view.job_for(photo) is not None, timeout=20000)
    qtbot.wait(100)
    qtbot.waitUntil(window.render_service.caught_up, timeout=5000)
    engine = window.render_service.worker._engine
    rendered: list = []
    real_render = engine.render

    def counting_render(appearance, pose, box=None):
        rendered.append(pose)
        return real_render(appearance, pose, box)

    engine.render = counting_render
    j = JOINT_INDEX["rwrist"]
    start = view_pos(canvas, j)
    end = start + QPoint(-30, 25)
    send_mouse(canvas, QEvent.Type.MouseButtonPress, start, LEFT, LEFT)
    for k in range(1, 5):
        send_mouse(canvas, QEvent.Type.MouseMove, start + (end - start) * (k / 4), LEFT)
    # The user holds still before letting go: the last move's render arrives first.
    qtbot.waitUntil(lambda: window.render_service.caught_up() and len(rendered) > 0, timeout=5000)
    send_mouse(canvas, QEvent.Type.MouseButtonRelease, end, Qt.MouseButton.NoButton, LEFT)
    qtbot.wait(200)
    qtbot.waitUntil(window.render_service.caught_up, timeout=5000)
    final = doc.current.pose
    assert not np.array_equal(final.xy, photo.source_pose.xy)  # the drag was committed
    assert sum(np.array_equal(p.xy, final.xy) for p in rendered) == 1


def test_the_render_thread_keeps_reading_the_machines_load_while_idle(qtbot, window) -> None:
    """Between drags the engine's thread tuner still hears about the load (issue 16): a build
    started during a pause is seen before the next drag's first render."""
    engine = window.render_service.worker._engine
    qtbot.waitUntil(lambda: engine.watched >= 2, timeout=3000)  # every 0.25 s, no render asked
    assert engine.renders == 0
