"""Finding the person in the app: which estimator found the pose and how long it took (in a
status bar line that fits), several people shown faintly and picked by a click, kept in the
workspace and the pose export, the estimator chosen in Preferences, bad photos."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from gui_helpers import open_and_wait, person_photo
from PIL import Image
from PySide6.QtCore import QPointF, Qt

from vunet_studio.estimation import blazepose_backend
from vunet_studio.gui.settings import Preferences
from vunet_studio.pose import Pose
from vunet_studio.pose_io import read_poses
from vunet_studio.skeleton import JOINT_INDEX
from vunet_studio.workspace import load_workspace

PHOTOS = Path(__file__).parents[1] / "data" / "photos"
needs_mediapipe = pytest.mark.skipif(
    not blazepose_backend.is_installed(), reason="mediapipe is not installed"
)


class TwoPeople:
    """A person on the left (larger, first) and one on the right."""

    name = "Two-people test estimator"

    def estimate(self, image: np.ndarray) -> list[Pose]:
        h, w = image.shape[:2]
        return [
            Pose.template(w, h, (0.05 * w, 0.1 * h, 0.4 * w, 0.85 * h)),
            Pose.template(w, h, (0.6 * w, 0.2 * h, 0.3 * w, 0.6 * h)),
        ]


def _click_on(qtbot, window, pose: Pose, joint: str = "rhip") -> None:
    """Click between the joint and the neck: on a bone of that person."""
    xy = (pose.xy[JOINT_INDEX[joint]] + pose.xy[JOINT_INDEX["cneck"]]) / 2
    pos = window.canvas.mapFromScene(QPointF(float(xy[0]), float(xy[1])))
    qtbot.mouseClick(window.canvas.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def test_two_people_are_shown_and_a_click_makes_the_other_the_edited_one(
    qtbot, make_window, tmp_path: Path
) -> None:
    window = make_window(TwoPeople())
    (pid,) = open_and_wait(qtbot, window, [person_photo(tmp_path / "two.png", (400, 300))])
    window.doc.set_current(pid)
    photo = window.doc.photo(pid)
    left, right = TwoPeople().estimate(photo.image)
    assert len(photo.people) == 2
    assert photo.person == 0
    assert np.allclose(photo.pose.xy, left.xy)
    assert window.people.layer.others() == [1], "the other person is drawn faintly"
    assert "person 1 of 2" in window.pose_label.text()

    _click_on(qtbot, window, right)
    assert photo.person == 1
    assert np.allclose(photo.pose.xy, right.xy)
    assert np.allclose(photo.source_pose.xy, right.xy)
    assert window.people.layer.others() == [0], "now the first person is the faint one"
    assert "person 2 of 2" in window.pose_label.text()

    # Clicking the edited person's own bone edits it, it does not switch people.
    _click_on(qtbot, window, right, "lhip")
    assert photo.person == 1
    window.doc.undo.undo()
    assert photo.person == 0
    assert np.allclose(photo.pose.xy, left.xy)
    window.doc.undo.redo()
    assert photo.person == 1


def test_the_workspace_and_the_pose_export_keep_the_chosen_person(qtbot, make_window, tmp_path: Path) -> None:
    window = make_window(TwoPeople())
    (pid,) = open_and_wait(qtbot, window, [person_photo(tmp_path / "two.png", (400, 300))])
    window.doc.set_current(pid)
    photo = window.doc.photo(pid)
    window.people.choose(1)
    right = photo.people[1]
    assert window.files.export_pose(tmp_path / "pose.json")
    (exported,) = read_poses(tmp_path / "pose.json", photo.size)
    assert np.allclose(exported.xy[exported.visible], right.xy[exported.visible], atol=0.01)
    assert window.files.save_as(tmp_path / "work.vunet")
    assert load_workspace(tmp_path / "work.vunet").photos[0].person == 1

    again = make_window(TwoPeople())
    assert again.files.open_workspace(tmp_path / "work.vunet")
    reopened = again.doc.photos[0]
    assert reopened.person == 1
    assert np.allclose(reopened.pose.xy, right.xy)
    # The other people are found again in the background and shown faintly.
    qtbot.waitUntil(lambda: again.people.layer.others() == [0], timeout=5000)


@needs_mediapipe
def test_bundled_estimator_in_the_app_status_says_who_and_how_long(
    qtbot, make_window, tmp_path: Path
) -> None:
    window = make_window()
    prefs = Preferences(**{**window.prefs.__dict__, "estimator": "blazepose"})
    window.apply_preferences(prefs)
    assert Preferences.load().estimator == "blazepose"
    shown: list[str] = []
    window.statusBar().messageChanged.connect(shown.append)
    photo_path = tmp_path / "basketball1.png"
    shutil.copy(PHOTOS / "basketball1.png", photo_path)  # no pose file beside it
    (pid,) = open_and_wait(qtbot, window, [photo_path])
    window.doc.set_current(pid)
    photo = window.doc.photo(pid)
    assert photo.origin == "estimated"
    assert len(photo.people) == 2
    assert "Pose found by BlazePose (bundled) in" in photo.note
    assert window.pose_label.text().startswith("Pose: BlazePose (bundled), ")
    assert window.pose_label.text().split(", ")[1].split(" ms")[0].isdigit()
    message = next(m for m in shown if "Pose found by BlazePose" in m)
    bar = window.statusBar()
    assert not message.endswith("…"), "the message fits the status bar whole"
    assert bar.fontMetrics().horizontalAdvance(message) < bar.width() - window.pose_label.width()
    # The man holding the ball (left) is the one edited; the other is a click away.
    assert photo.pose.xy[JOINT_INDEX["cneck"], 0] < 200
    assert window.people.layer.others() == [1]


def test_a_message_too_long_for_the_status_bar_is_cut_at_a_word_and_kept_whole_in_the_tooltip(
    window,
) -> None:
    text = "Template pose used: " + " ".join(f"reason{k}" for k in range(200)) + "."
    window.show_message(text)
    bar = window.statusBar()
    shown = bar.currentMessage()
    assert (
        shown.endswith(" …")
    )
    assert (
        text.startswith(shown[:-2])
    )
    assert (
        shown[:-2].split(" ")[-1] in text.split(" ")
    )
    assert bar.toolTip() == text
    window.show_message("Saved work.vunet")
    assert bar.currentMessage() == "Saved work.vunet"
    assert bar.toolTip() == ""


def test_a_message_ending_in_a_long_path_keeps_the_file_name(window) -> None:
    path = "/home/someone/" + "/".join(f"folder{k}" for k in range(40)) + "/render.png"
    window.show_message(f"Render exported to {path}")
    shown = window.statusBar().currentMessage()
    assert shown.startswith("Render exported to /home/")
    assert shown.endswith("/render.png")
    assert "…" in shown
    assert window.statusBar().toolTip() == f"Render exported to {path}"


def test_preferences_dialog_offers_the_estimator_and_an_openpifpaf_checkpoint(qtbot, tmp_path: Path) -> None:
    from vunet_studio.gui.preferences import PreferencesDialog

    dialog = PreferencesDialog(Preferences(), tmp_path / "default.safetensors")
    qtbot.addWidget(dialog)
    assert [dialog.estimator.itemData(i) for i in range(dialog.estimator.count())] == [
        "auto",
        "openpifpaf",
        "blazepose",
    ]
    dialog.estimator.setCurrentIndex(dialog.estimator.findData("openpifpaf"))
    dialog.pose_checkpoint.setText(str(tmp_path / "mine.pkl"))
    prefs = dialog.preferences()
    assert prefs.estimator == "openpifpaf"
    assert prefs.pose_checkpoint == str(tmp_path / "mine.pkl")
    prefs.save()
    assert Preferences.load().pose_checkpoint == str(tmp_path / "mine.pkl")


@needs_mediapipe
def test_bad_photos_get_the_template_and_a_clear_reason(qtbot, make_window, tmp_path: Path, messages) -> None:
    from vunet_studio.gui.pose_finder import default_estimator_factory

    window = make_window()
    window.finder.set_factory(default_estimator_factory("auto", "blazepose", ""))
    grey = cv2.cvtColor(
        np.asarray(Image.open(PHOTOS / "grace_hopper.jpg").convert("RGB")), cv2.COLOR_RGB2GRAY
    )
    files = {
        "gradient.png": np.tile(np.linspace(0, 255, 320, dtype=np.uint8), (240, 1)),
        "tiny.png": np.full((8, 8, 3), 90, np.uint8),
        "rgba.png": np.dstack([np.full((200, 160, 3), 200, np.uint8), np.full((200, 160), 128, np.uint8)]),
        "grey16.png": grey.astype(np.uint16) * 257,
    }
    for name, pixels in files.items():
        Image.fromarray(pixels).save(tmp_path / name)
    ids = open_and_wait(qtbot, window, [tmp_path / n for n in files])
    by_name = {window.doc.photo(i).name: window.doc.photo(i) for i in ids}
    for name in ("gradient.png", "tiny.png", "rgba.png"):
        photo = by_name[name]
        assert photo.origin == "template", name
        assert photo.pose.visible.all(), name
        assert "no person found by BlazePose (bundled)" in photo.note, name
    assert "only 8 x 8 pixels" in by_name["tiny.png"].note
    assert by_name["grey16.png"].origin == "estimated", "a 16-bit grey photo is not shown white"
    assert "Traceback" not in messages.texts()
