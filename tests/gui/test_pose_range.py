"""Whatever the editor lets a user make can be saved and opened again: no edit moves a joint
out of reach of the photo (workspace files refuse joints >10x the photo size away).

Each case is driven with real key and mouse events, saved, and opened in a second window.
"""

from __future__ import annotations

import numpy as np
from gui_helpers import click_joint, drag, view_pos
from PySide6.QtCore import QPoint, Qt

from vunet_studio.gui.canvas import MIN_ZOOM, reach_rect
from vunet_studio.skeleton import JOINT_INDEX
from vunet_studio.workspace import load_workspace

SHIFT = Qt.KeyboardModifier.ShiftModifier


def zoom_all_the_way_out(canvas) -> None:
    while canvas.zoom() * 0.8 >= MIN_ZOOM:
        canvas.zoom_by(0.8)


def in_reach(pose, size) -> bool:
    x0, y0, x1, y1 = reach_rect(size)
    return bool(np.all((pose.xy >= (x0, y0)) & (pose.xy <= (x1, y1))))


def save_and_reopen(window, make_window, tmp_path, messages):
    path = tmp_path / "far.vunet"
    assert window.files.save_as(path)
    assert load_workspace(path).photos[0].pose is not None  # the file itself reads back
    other = make_window(load=False)
    n = len(messages.calls)
    assert other.files.open_workspace(path), messages.texts()
    assert messages.calls[n:] == []  # opened as saved: nothing refused, nothing repaired
    return other.doc.photos[0].pose


def test_shift_arrow_nudges_zoomed_out_stay_in_reach(qtbot, loaded, make_window, tmp_path, messages) -> None:
    window, _ = loaded
    canvas, doc = window.canvas, window.doc
    j = JOINT_INDEX["rwrist"]
    click_joint(canvas, j)
    assert canvas.selected_joint == j
    zoom_all_the_way_out(canvas)
    for _ in range(40):  # each press is 10 screen pixels: ~500 photo pixels at this zoom
        qtbot.keyClick(canvas, Qt.Key.Key_Right, SHIFT)
        qtbot.keyClick(canvas, Qt.Key.Key_Down, SHIFT)
    pose, size = doc.current.pose, doc.current.size
    _x0, _y0, x1, y1 = reach_rect(size)
    assert np.allclose(pose.xy[j], (x1, y1))  # moved as far as it may go, and no further
    assert in_reach(pose, size)
    assert np.allclose(canvas.joint_scene_pos(j).x(), x1)  # the canvas shows where it is

    reopened = save_and_reopen(window, make_window, tmp_path, messages)
    assert np.allclose(reopened.xy, pose.xy, atol=1e-2)


def test_dragging_the_skeleton_far_away_stops_at_the_border(
    qtbot, loaded, make_window, tmp_path, messages
) -> None:
    window, _ = loaded
    canvas, doc = window.canvas, window.doc
    before = doc.current.pose
    zoom_all_the_way_out(canvas)
    start = view_pos(canvas, JOINT_INDEX["cneck"])
    for _ in range(3):  # three drags to the far right, each thousands of photo pixels
        start = view_pos(canvas, JOINT_INDEX["cneck"])
        drag(canvas, start, start + QPoint(600, -300), steps=12, mods=SHIFT)
    pose, size = doc.current.pose, doc.current.size
    assert in_reach(pose, size)
    delta = pose.xy - before.xy
    assert np.allclose(delta, delta[0], atol=1e-3)  # moved as one, its shape kept
    assert delta[0, 0] > 0.1 * size[0]
    assert delta[0, 1] < 0
    _x0, y0, x1, _y1 = reach_rect(size)
    assert np.isclose(pose.xy[:, 0].max(), x1) or np.isclose(pose.xy[:, 1].min(), y0)

    # A single joint dragged off the photo stops at its edge.
    j = JOINT_INDEX["lankle"]
    p = view_pos(canvas, j)
    drag(canvas, p, p + QPoint(0, 400), steps=5)
    assert doc.current.pose.xy[j, 1] <= size[1]

    reopened = save_and_reopen(window, make_window, tmp_path, messages)
    assert np.allclose(reopened.xy, doc.current.pose.xy, atol=1e-2)
