"""The main view shows the user's own photo with the person re-posed in it, live while dragging."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from _photo_helpers import PHOTOS, pose_of
from gui_helpers import RealPose, canvas_pixel, drag, grab_canvas, open_and_wait, view_pos
from PySide6.QtCore import QPoint

from vunet_studio.framing import pose_box
from vunet_studio.skeleton import JOINT_INDEX

pytest.importorskip("mediapipe", reason="the empty scene needs the bundled segmentation (make setup)")


def test_a_drag_re_poses_the_person_inside_their_photo(qtbot, make_window, tmp_path: Path) -> None:
    photo = Path(shutil.copy(PHOTOS / "basketball1.png", tmp_path / "basketball1.png"))
    window = make_window(RealPose())
    window.resize(1000, 700)
    (pid,) = open_and_wait(qtbot, window, [photo])
    window.doc.set_current(pid)
    canvas = window.canvas
    qtbot.waitUntil(canvas.composite_shown, timeout=20000)  # once the empty scene is made
    before = grab_canvas(window)

    # Requests carry one box for the whole drag: the person is not rescaled or recropped.
    boxes: list[tuple[float, float, float]] = []
    submit = window.render_service.worker.submit
    window.render_service.worker.submit = lambda req: (boxes.append(req.composite and req.composite.base_box), submit(req))  # type: ignore[method-assign]
    j = JOINT_INDEX["rwrist"]
    start = view_pos(canvas, j)
    drag(canvas, start, start + QPoint(-40, -60), steps=12)
    qtbot.waitUntil(window.render_service.caught_up, timeout=5000)
    qtbot.wait(50)
    after = grab_canvas(window)
    assert len(boxes) >= 12
    assert len(set(boxes)) == 1
    assert boxes[0] == pose_box(pose_of("basketball1.png"))

    # Far from the person the pixels are the photo's own, and grey (the photo is grey).
    assert np.array_equal(canvas_pixel(window, 600, 40, after), canvas_pixel(window, 600, 40, before))
    corner = canvas_pixel(window, 620, 460, after)
    assert corner[0] == corner[1] == corner[2]
    # Where the wrist went, the re-posed person now is.
    wx, wy = window.doc.current.pose.xy[j]
    assert np.abs(canvas_pixel(window, wx, wy, after) - canvas_pixel(window, wx, wy, before)).max() > 10

    # View ▸ off: the photo as it is.
    window.composite_view.act_show.setChecked(False)
    assert not canvas.composite_shown()
