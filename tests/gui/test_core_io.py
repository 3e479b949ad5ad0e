"""The Qt-free parts the app owns: photo loading and the workspace document."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vunet_studio.imageio import ImageLoadError, load_image
from vunet_studio.pose import Pose
from vunet_studio.workspace import (
    AppearanceSpec,
    Photo,
    Workspace,
    WorkspaceError,
    fit_pose_to_box,
    interpolate_poses,
    load_workspace,
    save_workspace,
)


def test_exif_orientation_is_honoured(tmp_path) -> None:
    img = np.zeros((20, 40, 3), np.uint8)  # landscape as stored
    img[:8, :16] = 255  # a white block in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    Image.fromarray(img).save(tmp_path / "r.jpg", exif=exif, quality=95)
    out = load_image(tmp_path / "r.jpg")
    assert out.shape == (40, 20, 3)  # shown upright: portrait
    # Clockwise takes the top-left corner to the top right; the other turn (bottom left) or a
    # mirror (top left) would show the photo the wrong way round.
    corners = {
        "top left": out[:16, :8], "top right": out[:16, -8:],
        "bottom left": out[-16:, :8], "bottom right": out[-16:, -8:],
    }  # fmt: skip
    assert {name for name, c in corners.items() if c.mean() > 200} == {"top right"}
    assert all(c.mean() < 30 for name, c in corners.items() if name != "top right")


def test_alpha_and_grey_images_become_rgb(tmp_path) -> None:
    Image.new("LA", (8, 6), (100, 0)).save(tmp_path / "a.png")
    Image.new("L", (8, 6), 50).save(tmp_path / "g.bmp")
    assert load_image(tmp_path / "a.png").shape == (6, 8, 3)
    assert load_image(tmp_path / "a.png")[0, 0].tolist() == [255, 255, 255]
    assert load_image(tmp_path / "g.bmp")[0, 0].tolist() == [50, 50, 50]


@pytest.mark.parametrize("data", [b"", b"garbage", b"\x89PNG\r\n\x1a\n\x00\x00broken"])
def test_corrupt_images_raise_a_clear_error(tmp_path, data) -> None:
    p = tmp_path / "bad.png"
    p.write_bytes(data)
    with pytest.raises(ImageLoadError, match=r"bad.png"):
        load_image(p)
    with pytest.raises(ImageLoadError, match="not found"):
        load_image(tmp_path / "missing.png")


def test_truncated_jpeg_raises(tmp_path) -> None:
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(tmp_path / "t.jpg")
    data = (tmp_path / "t.jpg").read_bytes()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError):
        load_image(tmp_path / "t.jpg")


def test_workspace_roundtrip_relative_paths(tmp_path) -> None:
    (tmp_path / "a").mkdir()
    photo_path = tmp_path / "a" / "p.png"
    Image.new("RGB", (10, 10)).save(photo_path)
    ws = Workspace()
    pose = Pose.template(100, 200).with_visible(3, False)
    ws.photos.append(
        Photo(ws.new_id(), photo_path, pose=pose, source_pose=Pose.template(100, 200), origin="file")
    )
    ws.photos.append(Photo(ws.new_id(), photo_path, pose=None, source_pose=None))
    ws.current = ws.photos[1].id
    ws.appearance = AppearanceSpec("mix", ws.photos[1].id, (ws.photos[0].id,) + (None,) * 7, 42)
    ws.keyframes = [pose, pose.mirrored()]
    save_workspace(tmp_path / "a" / "w.vunet", ws)
    # Move the folder: the relative path still finds the photo.
    (tmp_path / "a").rename(tmp_path / "b")
    back = load_workspace(tmp_path / "b" / "w.vunet")
    assert back.photos[0].path == tmp_path / "b" / "p.png"
    assert back.photos[0].pose == pose
    assert not back.photos[0].pose.visible[3]
    assert back.photos[1].pose is None
    assert back.current == back.photos[1].id
    assert back.appearance.mode == "mix"
    assert back.appearance.seed == 42
    assert back.appearance.parts[0] == back.photos[0].id
    assert back.appearance.source == back.photos[1].id
    assert len(back.keyframes) == 2


def test_malformed_workspace_is_a_workspace_error(tmp_path) -> None:
    (tmp_path / "w.vunet").write_text("{not json")
    with pytest.raises(WorkspaceError, match="not valid JSON"):
        load_workspace(tmp_path / "w.vunet")
    (tmp_path / "w.vunet").write_text('{"format": "something else"}')
    with pytest.raises(WorkspaceError, match="not a VUNet Studio workspace"):
        load_workspace(tmp_path / "w.vunet")


def test_fit_pose_to_box_and_interpolate() -> None:
    a = Pose.template(100, 100)
    fitted = fit_pose_to_box(a, (200, 300, 260, 500))
    x0, y0, x1, y1 = fitted.bbox()
    assert np.isclose(y0, 300)
    assert np.isclose(y1, 500)
    assert np.isclose((x0 + x1) / 2, 230)
    b = a.translated(10, 0).with_visible(5, False)
    frames = interpolate_poses([a, b], 3)
    assert len(frames) == 5
    assert np.isclose(frames[2].xy[0, 0], a.xy[0, 0] + 5)
    assert not frames[1].visible[5]
    assert frames[0].visible[5]


def test_hidden_joints_are_placed_near_the_person() -> None:
    from vunet_studio.workspace import place_hidden_joints

    pose = Pose.template(200, 400, (50, 100, 100, 200)).with_visible([14, 15, 16, 17], False)
    xy = pose.xy.copy()
    xy[[14, 15, 16, 17]] = 0.0  # as pose files store missing joints
    pose = pose.with_xy(xy)
    placed = place_hidden_joints(pose)
    assert np.array_equal(placed.visible, pose.visible)
    x0, y0, _x1, y1 = pose.bbox()
    assert np.all(placed.xy[14:, 1] > y0 - 0.2 * (y1 - y0))
    assert np.all(placed.xy[14:, 0] > x0 - 10)
    assert np.allclose(placed.xy[:14], pose.xy[:14])
