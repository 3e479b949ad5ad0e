"""The main view shows the user's own photo with the person re-posed in it, live while dragging."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from _photo_helpers import PHOTOS, pose_of
from gui_helpers import RealPose, canvas_pixel, drag, grab_canvas, open_and_wait, view_pos
from PIL import Image
from PySide6.QtCore import QPoint

from vunet_studio.framing import pose_box
from vunet_studio.skeleton import JOINT_INDEX

pytest.importorskip("mediapipe", reason="the empty scene needs the bundled segmentation (make setup)")


def _drag_joint(qtbot, window, joint: str, by: QPoint, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """The canvas before and after dragging `joint` by `by` (view pixels), once the render of
    the released pose is shown."""
    canvas = window.canvas
    before = grab_canvas(window)
    start = view_pos(canvas, JOINT_INDEX[joint])
    drag(canvas, start, start + by, steps=steps)
    qtbot.waitUntil(window.render_service.caught_up, timeout=5000)
    qtbot.wait(50)
    return before, grab_canvas(window)


def _open_basketball1(qtbot, make_window, tmp_path: Path):
    """The window with a copy of basketball1.png open and its composite shown."""
    photo = Path(shutil.copy(PHOTOS / "basketball1.png", tmp_path / "basketball1.png"))
    window = make_window(RealPose())
    window.resize(1000, 700)
    (pid,) = open_and_wait(qtbot, window, [photo])
    window.doc.set_current(pid)
    qtbot.waitUntil(window.canvas.composite_shown, timeout=20000)  # once the empty scene is made
    return window


def test_a_drag_re_poses_the_person_inside_their_photo(qtbot, make_window, tmp_path: Path) -> None:
    window = _open_basketball1(qtbot, make_window, tmp_path)
    canvas = window.canvas

    # Requests carry one box for the whole drag: the person is not rescaled or recropped.
    boxes: list[tuple[float, float, float]] = []
    submit = window.render_service.worker.submit
    window.render_service.worker.submit = lambda req: (boxes.append(req.composite and req.composite.base_box), submit(req))  # type: ignore[method-assign]
    before, after = _drag_joint(qtbot, window, "rwrist", QPoint(-40, -60), steps=12)
    assert len(boxes) >= 12
    assert len(set(boxes)) == 1
    assert boxes[0] == pose_box(pose_of("basketball1.png"))

    # Far from the person the pixels are the photo's own, and grey (the photo is grey).
    assert np.array_equal(canvas_pixel(window, 600, 40, after), canvas_pixel(window, 600, 40, before))
    corner = canvas_pixel(window, 620, 460, after)
    assert corner[0] == corner[1] == corner[2]
    # Where the wrist went, the re-posed person now is.
    wx, wy = window.doc.current.pose.xy[JOINT_INDEX["rwrist"]]
    assert np.abs(canvas_pixel(window, wx, wy, after) - canvas_pixel(window, wx, wy, before)).max() > 10

    # Exported, it is a grey file of the photo's size, as the photo was (not RGB).
    out = tmp_path / "reposed.png"
    with qtbot.waitSignal(window.files.exported, timeout=20000):
        assert window.files.export_render(out)
    with Image.open(out) as exported, Image.open(PHOTOS / "basketball1.png") as original:
        assert (exported.mode, exported.size) == ("L", original.size)

    # View ▸ off: the photo as it is.
    window.composite_view.act_show.setChecked(False)
    assert not canvas.composite_shown()


def test_the_joint_under_the_pointer_has_its_drag_made_ready_before_the_press(
    qtbot, make_window, tmp_path: Path
) -> None:
    from gui_helpers import send_mouse
    from PySide6.QtCore import QEvent, Qt

    window = _open_basketball1(qtbot, make_window, tmp_path)
    canvas = window.canvas
    qtbot.waitUntil(window.render_service.caught_up, timeout=5000)
    kept = window.composite_view.job_for(window.doc.current).kept
    assert kept is not None
    assert not kept._fills
    # The pointer comes onto the right wrist and rests there: no button is down.
    at = view_pos(canvas, JOINT_INDEX["rwrist"])
    none = Qt.MouseButton.NoButton
    send_mouse(canvas, QEvent.Type.MouseMove, at + QPoint(15, 0), none, none)
    send_mouse(canvas, QEvent.Type.MouseMove, at, none, none)
    # The render thread fills the chest under that arm (the costly once-per-drag step) now.
    qtbot.waitUntil(lambda: bool(kept._fills), timeout=5000)
    made = dict(kept._fills)
    before, after = _drag_joint(qtbot, window, "rwrist", QPoint(-40, -60), steps=12)
    assert kept._fills.keys() == made.keys()  # the drag found it made
    wx, wy = window.doc.current.pose.xy[JOINT_INDEX["rwrist"]]
    assert np.abs(canvas_pixel(window, wx, wy, after) - canvas_pixel(window, wx, wy, before)).max() > 10


class _ScaledPose:
    """The estimator stand-in for basketball1.png enlarged `k` times."""

    def __init__(self, k: int) -> None:
        self.k = k

    def estimate(self, image: np.ndarray) -> list:
        pose = pose_of("basketball1.png")
        return [pose.with_xy(pose.xy * self.k).with_image_size((image.shape[1], image.shape[0]))]


def test_the_live_composite_follows_the_zoom_of_a_big_photo(qtbot, make_window, tmp_path: Path) -> None:
    import cv2

    from vunet_studio.exports import write_image
    from vunet_studio.imageio import load_image

    big = tmp_path / "basketball1_big.png"
    write_image(big, cv2.resize(load_image(PHOTOS / "basketball1.png"), (1920, 1440)), compress_level=1)
    window = make_window(_ScaledPose(3))
    window.resize(1400, 900)
    (pid,) = open_and_wait(qtbot, window, [big])
    window.doc.set_current(pid)
    canvas = window.canvas
    qtbot.waitUntil(canvas.composite_shown, timeout=30000)
    photo = window.doc.current
    shown = canvas._composite_item
    # Fitted in the window the photo covers well under 1000 screen pixels: the composite is
    # made at about that, not at the photo's 1920 (the blend would cost 4x the pixels).
    fitted = shown.pixmap().width()
    assert 480 <= fitted < 1300
    assert fitted >= canvas.zoom() * canvas.devicePixelRatioF() * 1920 - 1
    assert shown.pixmap().width() * shown.scale() == pytest.approx(1920, rel=0.01)  # covers the photo

    # View ▸ Zoom in, six times (3.8x): the next frames come sharper, still over the whole photo.
    for _ in range(6):
        window.act_zoom_in.trigger()
    qtbot.waitUntil(lambda: shown.pixmap().width() > fitted, timeout=10000)
    assert shown.pixmap().width() * shown.scale() == pytest.approx(1920, rel=0.01)
    assert window.composite_view.display_side(photo) <= 1600


class _PortraitPose:
    """The estimator stand-in for astronaut.jpg: chest-up, no hips in the frame."""

    def estimate(self, image: np.ndarray) -> list:
        return [pose_of("astronaut.jpg")]


def test_a_portrait_is_re_posed_in_its_photo(qtbot, make_window, tmp_path: Path) -> None:
    photo = Path(shutil.copy(PHOTOS / "astronaut.jpg", tmp_path / "astronaut.jpg"))
    window = make_window(_PortraitPose())
    window.resize(1000, 700)
    messages: list[str] = []
    window.editor.message.connect(messages.append)
    (pid,) = open_and_wait(qtbot, window, [photo])
    window.doc.set_current(pid)
    assert not window.doc.current.pose.has_torso()  # the hips are below the frame
    canvas = window.canvas
    qtbot.waitUntil(canvas.composite_shown, timeout=20000)
    before, after = _drag_joint(qtbot, window, "relbow", QPoint(-30, -50), steps=8)
    assert not [m for m in messages if "shoulders" in m]
    wx, wy = window.doc.current.pose.xy[JOINT_INDEX["relbow"]]
    assert np.abs(canvas_pixel(window, wx, wy, after) - canvas_pixel(window, wx, wy, before)).max() > 10


def test_what_a_drag_left_in_place_stays_the_photos_own(qtbot, make_window, tmp_path: Path) -> None:
    from vunet_studio.workspace import AppearanceSpec

    window = _open_basketball1(qtbot, make_window, tmp_path)
    _, after = _drag_joint(qtbot, window, "rwrist", QPoint(-40, -60), steps=12)
    pose = window.doc.current.pose
    view = window.composite_view
    view.act_show.setChecked(False)
    plain = grab_canvas(window)  # the photo as it is
    view.act_show.setChecked(True)

    # The middle of the chest, between the skeleton's lines: the wrist's drag left it alone.
    chest = pose.xy[[JOINT_INDEX[j] for j in ("lhip", "rhip", "lshoulder", "rshoulder")]].mean(axis=0)

    def off_photo(shown: np.ndarray) -> int:
        return int(
            max(
                np.abs(canvas_pixel(window, chest[0] + dx, chest[1] + dy, shown) - canvas_pixel(window, chest[0] + dx, chest[1] + dy, plain)).max()
                for dx, dy in ((0, 0), (3, 3), (-3, 3))
            )
        )

    assert off_photo(after) <= 3  # the photo's own pixels, not the render's

    # View ▸ Keep off: the render of the whole person, also where nothing moved.
    view.act_keep.setChecked(False)
    qtbot.waitUntil(window.render_service.caught_up, timeout=5000)
    qtbot.wait(50)
    assert off_photo(grab_canvas(window)) > 10
    view.act_keep.setChecked(True)

    # Another look on this pose is the render's everywhere: nothing of this photo's person stays.
    photo_obj = window.doc.current
    assert view.keeps(photo_obj)
    photo_obj.appearance = AppearanceSpec(mode="sample", seed=3)
    assert not view.keeps(photo_obj)


class _PoseByPhoto:
    """The estimator stand-in for the test photos: each photo's person, told by its size."""

    def estimate(self, image: np.ndarray) -> list:
        from _photo_helpers import PEOPLE, photo

        return [pose_of(k) for k in PEOPLE if photo(k).shape[:2] == image.shape[:2]][:1]


def _edited_and_look(qtbot, make_window, tmp_path: Path, edited: str, look: str):
    """The window with copies of the test photos `edited` and `look` open, the first edited
    and its composite shown; and the look photo's id."""
    paths = [Path(shutil.copy(PHOTOS / n, tmp_path / n)) for n in (edited, look)]
    window = make_window(_PoseByPhoto())
    window.resize(1000, 700)
    first, second = open_and_wait(qtbot, window, paths)
    window.doc.set_current(first)
    qtbot.waitUntil(window.canvas.composite_shown, timeout=20000)
    return window, second


def _astronaut_and_grace(qtbot, make_window, tmp_path: Path):
    """The window with the astronaut edited and her composite shown; and Grace's photo id."""
    return _edited_and_look(qtbot, make_window, tmp_path, "astronaut.jpg", "grace_hopper.jpg")


def test_another_photos_look_brings_its_own_face(qtbot, make_window, tmp_path: Path) -> None:
    import cv2
    from PIL import Image

    from vunet_studio.segmentation import head_disc
    from vunet_studio.workspace import AppearanceSpec

    window, grace = _astronaut_and_grace(qtbot, make_window, tmp_path)
    view = window.composite_view
    window.editor.set_appearance(AppearanceSpec(mode="photo", source=grace), "Use Grace's look")
    photo = window.doc.current
    assert view.borrows_from(photo) is window.doc.photo(grace)
    # Grace's person mask is made in the background; then her head comes with her look.
    qtbot.waitUntil(
        lambda: (job := view.export_job(photo)) is not None and job.borrowed is not None, timeout=20000
    )
    (cx, cy), r = head_disc(photo.pose)
    x0, y0, x1, y1 = (round(v) for v in (cx - 0.6 * r, cy - 0.6 * r, cx + 0.6 * r, cy + 0.6 * r))

    def exported_face(name: str) -> np.ndarray:
        with qtbot.waitSignal(window.files.exported, timeout=20000):
            assert window.files.export_render(tmp_path / name)
        img = np.asarray(Image.open(tmp_path / name).convert("L"))
        return img[y0:y1, x0:x1]

    def sharpness(img: np.ndarray) -> float:
        return float(cv2.Laplacian(img.astype(np.float32), cv2.CV_32F).var())

    carried = exported_face("carried.png")
    view.act_borrow.setChecked(False)  # View ▸ Carry the look photo's head, off: the model's face
    rendered = exported_face("rendered.png")
    own = cv2.cvtColor(photo.image, cv2.COLOR_RGB2GRAY)[y0:y1, x0:x1]  # the astronaut's own face
    assert sharpness(carried) > 3 * sharpness(rendered)  # a face, not a blur
    assert np.abs(carried.astype(int) - own.astype(int)).mean() > 15  # and not the astronaut's


def test_mixed_parts_bring_the_head_of_the_head_parts_photo(qtbot, make_window, tmp_path: Path) -> None:
    import cv2
    from PIL import Image

    from vunet_studio.segmentation import head_disc
    from vunet_studio.skeleton import NUM_PARTS, PART_INDEX
    from vunet_studio.workspace import AppearanceSpec

    window, grace = _astronaut_and_grace(qtbot, make_window, tmp_path)
    view = window.composite_view
    photo = window.doc.current
    (cx, cy), r = head_disc(photo.pose)
    x0, y0, x1, y1 = (round(v) for v in (cx - 0.6 * r, cy - 0.6 * r, cx + 0.6 * r, cy + 0.6 * r))
    own = cv2.cvtColor(photo.image, cv2.COLOR_RGB2GRAY)[y0:y1, x0:x1].astype(int)

    def exported_face(name: str) -> np.ndarray:
        with qtbot.waitSignal(window.files.exported, timeout=20000):
            assert window.files.export_render(tmp_path / name)
        return np.asarray(Image.open(tmp_path / name).convert("L"))[y0:y1, x0:x1].astype(int)

    def mix(head: int | None, rest: int | None, text: str) -> None:
        parts = tuple(head if k == PART_INDEX["head"] else rest for k in range(NUM_PARTS))
        window.editor.set_appearance(AppearanceSpec(mode="mix", parts=parts), text)
        qtbot.waitUntil(
            lambda: (job := view.export_job(photo)) is not None and job.borrowed is not None, timeout=20000
        )

    # Grace's clothes, the astronaut's own head: her own face stays, sharp.
    mix(None, grace, "Grace's clothes")
    assert view.borrows_from(photo) is photo
    assert np.abs(exported_face("own_head.png") - own).mean() < 12
    # Grace's head on the astronaut's clothes: Grace's face.
    mix(grace, None, "Grace's head")
    assert view.borrows_from(photo) is window.doc.photo(grace)
    assert np.abs(exported_face("graces_head.png") - own).mean() > 15


def test_a_dragged_leg_is_the_photos_own_leg(qtbot, make_window, tmp_path: Path) -> None:
    from PIL import Image

    window = _open_basketball1(qtbot, make_window, tmp_path)
    photo = window.doc.current
    found = photo.source_pose
    _drag_joint(qtbot, window, "rknee", QPoint(-25, 0), steps=12)  # a step out
    pose = photo.pose
    (moved,) = np.nonzero(np.abs(pose.xy - found.xy).sum(axis=1) > 0.5)[0]
    assert moved == JOINT_INDEX["rknee"]

    def along(p, a: str, b: str, img: np.ndarray) -> np.ndarray:
        """The pixels along p's bone a-b, from a quarter to three quarters of the way."""
        e, w = p.xy[JOINT_INDEX[a]], p.xy[JOINT_INDEX[b]]
        pts = [e + t * (w - e) for t in np.linspace(0.25, 0.75, 15)]
        return np.array([img[round(float(y)), round(float(x))] for x, y in pts], np.int32)

    def exported(name: str) -> np.ndarray:
        with qtbot.waitSignal(window.files.exported, timeout=20000):
            assert window.files.export_render(tmp_path / name)
        return np.asarray(Image.open(tmp_path / name).convert("RGB"))

    def off_own(img: np.ndarray) -> float:
        """How far the thigh and shin, where they now are, are from the photo's own."""
        return float(
            np.mean(
                [
                    np.abs(along(pose, a, b, img) - along(found, a, b, photo.image)).mean()
                    for a, b in (("rhip", "rknee"), ("rknee", "rankle"))
                ]
            )
        )

    carried = off_own(exported("carried.png"))
    window.composite_view.act_limbs.setChecked(False)  # View ▸ Carry moved limbs: the model's leg
    rendered = off_own(exported("rendered.png"))
    assert carried < 0.5 * rendered


def test_another_photos_look_brings_its_own_clothes(qtbot, make_window, tmp_path: Path) -> None:
    import cv2
    from PIL import Image

    from vunet_studio.skeleton import JOINT_INDEX
    from vunet_studio.workspace import AppearanceSpec

    window, grace = _edited_and_look(qtbot, make_window, tmp_path, "basketball1.png", "grace_hopper.jpg")
    view = window.composite_view
    window.editor.set_appearance(AppearanceSpec(mode="photo", source=grace), "Use Grace's look")
    photo = window.doc.current
    qtbot.waitUntil(
        lambda: (job := view.export_job(photo)) is not None and job.borrowed is not None, timeout=20000
    )
    assert view.export_job(photo).borrowed.body  # View ▸ Carry the look photo's body: on by default
    torso = photo.pose.xy[[JOINT_INDEX[j] for j in ("rshoulder", "lshoulder", "rhip", "lhip")]]
    x0, y0 = (round(float(v)) for v in torso.min(axis=0) + 0.25 * (torso.max(axis=0) - torso.min(axis=0)))
    x1, y1 = (round(float(v)) for v in torso.max(axis=0) - 0.25 * (torso.max(axis=0) - torso.min(axis=0)))

    def exported_chest(name: str) -> np.ndarray:
        with qtbot.waitSignal(window.files.exported, timeout=20000):
            assert window.files.export_render(tmp_path / name)
        return np.asarray(Image.open(tmp_path / name).convert("L"))[y0:y1, x0:x1].astype(np.float32)

    carried = exported_chest("carried.png")
    view.act_body.setChecked(False)  # off: the model's render of her clothes
    rendered = exported_chest("rendered.png")
    own = cv2.cvtColor(photo.image, cv2.COLOR_RGB2GRAY)[y0:y1, x0:x1].astype(np.float32)  # the player's shirt

    def sharpness(img: np.ndarray) -> float:
        return float(cv2.Laplacian(img, cv2.CV_32F).var())

    assert sharpness(carried) > 3 * sharpness(rendered)  # cloth, not a blur
    assert np.abs(carried - own).mean() > 10  # and not the player's own shirt
