"""The main view shows the user's own photo with the person re-posed in it, live while dragging."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from gui_helpers import open_and_wait
from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QApplication
from test_editing import drag, view_pos

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for the real photos' helpers
from _photo_helpers import PHOTOS, pose_of  # noqa: E402

from vunet_studio.framing import pose_box  # noqa: E402
from vunet_studio.gui.qimage import rgb_from_qimage  # noqa: E402
from vunet_studio.pose import Pose  # noqa: E402
from vunet_studio.skeleton import JOINT_INDEX  # noqa: E402

pytest.importorskip("mediapipe", reason="the empty scene needs the bundled segmentation (make setup)")


class RealPose:
    def estimate(self, image: np.ndarray) -> list[Pose]:
        return [pose_of("basketball1.png")]


def _shown(window) -> np.ndarray:  # noqa: ANN001
    QApplication.processEvents()
    return rgb_from_qimage(window.canvas.viewport().grab().toImage())


def _at(window, img: np.ndarray, x: float, y: float) -> np.ndarray:  # noqa: ANN001
    p = window.canvas.mapFromScene(x, y)
    r = window.canvas.viewport().devicePixelRatioF()
    return img[int(p.y() * r), int(p.x() * r)].astype(int)


def test_a_drag_re_poses_the_person_inside_their_photo(qtbot, make_window, tmp_path: Path) -> None:  # noqa: ANN001
    photo = Path(shutil.copy(PHOTOS / "basketball1.png", tmp_path / "basketball1.png"))
    window = make_window(RealPose())
    window.resize(1000, 700)
    (pid,) = open_and_wait(qtbot, window, [photo])
    window.doc.set_current(pid)
    canvas = window.canvas
    qtbot.waitUntil(canvas.composite_shown, timeout=20000)  # once the empty scene is made
    before = _shown(window)

    # Requests carry one box for the whole drag: the person is not rescaled or recropped.
    boxes: list[tuple[float, float, float]] = []
    submit = window.render.worker.submit
    window.render.worker.submit = lambda req: (boxes.append(req.composite and req.composite.base_box), submit(req))  # type: ignore[method-assign]
    j = JOINT_INDEX["rwrist"]
    start = view_pos(canvas, j)
    drag(canvas, start, start + QPoint(-40, -60), steps=12)
    qtbot.waitUntil(window.render.caught_up, timeout=5000)
    qtbot.wait(50)
    after = _shown(window)
    assert len(boxes) >= 12 and len(set(boxes)) == 1
    assert boxes[0] == pose_box(pose_of("basketball1.png"))

    # Far from the person the pixels are the photo's own, and grey (the photo is grey).
    assert np.array_equal(_at(window, after, 600, 40), _at(window, before, 600, 40))
    corner = _at(window, after, 620, 460)
    assert corner[0] == corner[1] == corner[2]
    # Where the wrist went, the re-posed person now is.
    wrist = window.doc.current.pose.xy[j]
    assert np.abs(_at(window, after, *wrist) - _at(window, before, *wrist)).max() > 10

    # View ▸ off: the photo as it is.
    window.composite_view.act_show.setChecked(False)
    assert not canvas.composite_shown()
