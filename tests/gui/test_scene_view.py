"""View ▸ Show person mask / Show empty scene: the user sees what the app understood of a real photo."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from _photo_helpers import PHOTOS, pose_of, torso_points
from gui_helpers import FakeEstimator, RealPose, canvas_pixel, grab_canvas, open_and_wait

pytest.importorskip("mediapipe", reason="the bundled segmentation comes with mediapipe (make setup)")


def photo_only(window) -> None:
    """Show the photo itself, not the person re-posed in it: the re-posed view asks for the
    empty scene as soon as a render comes, and these tests watch the View toggles ask."""
    window.composite_view.act_show.setChecked(False)


def test_view_toggles_show_the_mask_and_the_empty_scene(qtbot, make_window, tmp_path: Path) -> None:
    photo = Path(shutil.copy(PHOTOS / "basketball1.png", tmp_path / "basketball1.png"))
    window = make_window(RealPose())
    window.resize(1000, 700)
    photo_only(window)
    (pid,) = open_and_wait(qtbot, window, [photo])
    window.doc.set_current(pid)
    doc_photo = window.doc.photo(pid)
    torso = torso_points(pose_of("basketball1.png"))
    # Points on the man's shirt away from the skeleton drawn over it, and on the far wall.
    shirt = (torso[-1][0] + 4, torso[-1][1] + 10)
    wall = (300, 60)
    before_shirt, before_wall = canvas_pixel(window, *shirt), canvas_pixel(window, *wall)
    assert before_shirt.std() < 2  # a grey photo is shown grey

    with qtbot.waitSignal(window.scenes.ready, timeout=20000):
        window.scene_view.act_mask.setChecked(True)
    result = window.scenes.get(doc_photo)
    assert result is not None
    assert result.method == "blazepose"
    tinted = canvas_pixel(window, *shirt)
    assert tinted[0] - tinted[1] > 40, "the person is not tinted"  # pink: red over green
    assert np.abs(canvas_pixel(window, *wall) - before_wall).max() <= 2, "the background was tinted"
    assert "Person mask by BlazePose" in window.statusBar().currentMessage()

    window.scene_view.act_mask.setChecked(False)
    window.scene_view.act_scene.setChecked(True)  # cached: shown at once, no second computation
    empty = canvas_pixel(window, *shirt)
    assert np.abs(empty - before_shirt).max() > 30, "the man's dark shirt is still there"
    assert empty.std() < 2, "the empty scene of a grey photo has colour"
    assert np.abs(canvas_pixel(window, *wall) - before_wall).max() <= 2

    window.scene_view.act_scene.setChecked(False)
    assert np.abs(canvas_pixel(window, *shirt) - before_shirt).max() <= 2, "the photo did not come back"

    # Kept in memory per photo, for this very image: a photo loaded again is computed again.
    assert window.scenes.get(doc_photo) is result
    doc_photo.image = doc_photo.image.copy()
    assert window.scenes.get(doc_photo) is None


def test_photo_without_a_person_shows_itself_as_the_empty_scene(qtbot, make_window, tmp_path: Path) -> None:
    from PIL import Image

    from vunet_studio.imageio import load_image

    wall = np.ascontiguousarray(load_image(PHOTOS / "basketball1.png")[:, 200:360])
    path = tmp_path / "wall.png"
    Image.fromarray(wall).save(path)
    window = make_window(FakeEstimator(empty=True))
    photo_only(window)
    (pid,) = open_and_wait(qtbot, window, [path])
    window.doc.set_current(pid)
    before = grab_canvas(window)
    with qtbot.waitSignal(window.scenes.ready, timeout=20000):
        window.scene_view.act_scene.setChecked(True)
    window.scene_view.act_mask.setChecked(True)
    assert "No person found" in window.statusBar().currentMessage()
    after = grab_canvas(window)
    assert np.abs(after.astype(int) - before.astype(int)).max() <= 2, "a photo without a person changed"


def test_a_failing_mask_is_one_status_line_and_the_photo_stays(
    qtbot, make_window, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vunet_studio.gui import scene_worker

    def broken(*_args: object, **_kwargs: object) -> None:
        raise MemoryError("out of memory")

    monkeypatch.setattr(scene_worker, "segment_person", broken)
    photo = Path(shutil.copy(PHOTOS / "cameraman.png", tmp_path / "cameraman.png"))
    window = make_window(RealPose())
    photo_only(window)
    (pid,) = open_and_wait(qtbot, window, [photo])
    window.doc.set_current(pid)
    with qtbot.waitSignal(window.scenes.ready, timeout=20000):
        window.scene_view.act_scene.setChecked(True)
    message = window.statusBar().currentMessage()
    assert message == "The person's mask could not be made (out of memory): the empty scene is the photo"
