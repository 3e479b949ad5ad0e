"""Compositing the re-posed person into the photo (`vunet_studio.composite`): what a user sees
is their photo with the person in the new pose, not a square with an invented background."""

from __future__ import annotations

import itertools

import numpy as np

from vunet_studio.composite import (
    ALPHA_MODEL,
    ALPHA_STICKMAN,
    composite,
    render_alpha,
    stable_box,
)
from vunet_studio.engine import Render
from vunet_studio.framing import pose_box, pose_in_box
from vunet_studio.imageio import is_grey
from vunet_studio.pose import Pose
from vunet_studio.segmentation import head_disc, stickman_mask
from vunet_studio.skeleton import JOINT_INDEX


def _scene(w: int = 640, h: int = 480) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx % 256, yy % 256, (xx + yy) % 256], -1).astype(np.uint8)


def _render(value: tuple[int, int, int] = (250, 10, 10), s: int = 128) -> tuple[np.ndarray, np.ndarray]:
    img = np.full((s, s, 3), value, np.uint8)
    alpha = np.zeros((s, s), np.float32)
    alpha[32:96, 48:80] = 1.0  # the person: a block in the middle of the square
    return img, alpha


def test_the_person_lands_in_their_box_and_the_rest_is_the_photo() -> None:
    scene = _scene()
    img, alpha = _render()
    box = (200.0, 100.0, 256.0)  # 2x the render
    out = composite(scene, img, alpha, box)
    assert out.shape == scene.shape
    assert out.dtype == np.uint8
    # The middle of the person (render px 64, 64 -> photo 200 + 128, 100 + 128) is the render's.
    assert np.abs(out[228, 328].astype(int) - (250, 10, 10)).max() <= 3
    # Inside the box but off the person: the scene, not the render's background.
    assert np.array_equal(out[110, 210], scene[110, 210])
    # Far from the person: untouched.
    far = np.ones(scene.shape[:2], bool)
    far[90:370, 190:470] = False
    assert np.array_equal(out[far], scene[far])


def test_a_box_cut_by_the_frame_edge_and_a_small_display() -> None:
    scene = _scene()
    img, alpha = _render()
    out = composite(scene, img, alpha, (-100.0, 300.0, 256.0))  # left and bottom cut off
    assert out.shape == scene.shape
    assert np.abs(out[428, 28].astype(int) - (250, 10, 10)).max() <= 3
    # At a quarter scale (a display of the photo): the same place, a quarter as far.
    small = composite(scene[::4, ::4], img, alpha, (200.0, 100.0, 256.0), scale=0.25)
    assert small.shape == (120, 160, 3)
    assert np.abs(small[57, 82].astype(int) - (250, 10, 10)).max() <= 20
    # Entirely outside: the scene, unchanged.
    assert np.array_equal(composite(scene, img, alpha, (2000.0, 0.0, 50.0)), scene)


def test_the_person_lands_where_the_exact_box_says_to_a_tenth_of_a_pixel() -> None:
    """A box off the pixel grid (as a pose's joints put it) is not rounded: the render was
    drawn in that box, so a line in it lands where the box maps it (it was up to half a
    pixel off, a visible blur and shift on a small photo)."""
    s = 128
    img = np.zeros((s, s, 3), np.uint8)
    img[:, 100] = 255  # a one-pixel vertical line in the render
    alpha = np.ones((s, s), np.float32)
    scene = np.zeros((150, 200, 3), np.uint8)
    for x0, side in ((10.4, 128.0), (20.7, 133.3), (5.2, 96.6)):
        out = composite(scene, img, alpha, (x0, 0.0, side)).astype(np.float64)
        column = out[60, :, 0]
        found = (column * np.arange(column.size)).sum() / column.sum()  # the line's centre
        expected = x0 + (100 + 0.5) * side / s - 0.5  # its pixel centre through the box
        assert abs(found - expected) < 0.1, (x0, side, found, expected)


def test_at_one_to_one_the_persons_edge_is_the_models_own() -> None:
    """The alpha is feathered only where the render is enlarged: at 1:1 a blur would let the
    scene into the person's edge (0.009 of SSIM inside the mask on the held-out pairs)."""
    scene = _scene()
    img, alpha = _render()
    out = composite(scene, img, alpha, (200.0, 100.0, 128.0))  # 1:1, on the pixel grid
    inside, outside = out[100 + 32 : 100 + 96, 200 + 48 : 200 + 80], out[100 + 32 : 100 + 96, 200 + 47]
    assert np.array_equal(inside, np.broadcast_to(img[0, 0], inside.shape))
    assert np.array_equal(outside, scene[100 + 32 : 100 + 96, 200 + 47])
    # Enlarged 4x, the edge is feathered: a ramp, not a step from one pixel to the next.
    big = composite(scene, img, alpha, (100.0, 0.0, 512.0)).astype(int)
    edge = big[256, 100 + 4 * 48 - 6 : 100 + 4 * 48 + 6, 0]
    assert np.abs(np.diff(edge)).max() < 0.5 * abs(int(img[0, 0, 0]) - int(scene[256, 100 + 4 * 48 - 6, 0]))


def test_a_grey_photo_composites_grey() -> None:
    grey = np.repeat(_scene()[..., :1], 3, axis=2)
    assert is_grey(grey)
    assert not is_grey(_scene())
    img, alpha = _render()
    out = composite(grey, img, alpha, (200.0, 100.0, 256.0), grey=True)
    assert is_grey(out)
    assert not np.array_equal(out, grey)  # the person is there, in grey


def test_a_big_photo_gets_the_render_upsampled_smoothly() -> None:
    scene = np.zeros((3000, 4000, 3), np.uint8)
    img = np.zeros((128, 128, 3), np.uint8)
    img[:, :, 0] = np.linspace(0, 255, 128).astype(np.uint8)[None, :]  # a horizontal ramp
    alpha = np.ones((128, 128), np.float32)
    out = composite(scene, img, alpha, (1000.0, 500.0, 2048.0), feather=0)
    row = out[1500, 1100:2900, 0].astype(int)
    assert np.all(np.diff(row) >= -1)  # monotone: no blocks, no ringing to speak of
    assert np.abs(np.diff(row)).max() <= 2  # and no steps of a 16x nearest-neighbour upscale


def test_the_box_holds_still_while_a_joint_moves_inside_it_and_grows_smoothly_outside() -> None:
    pose = Pose.template(640, 480, (250, 60, 140, 360))
    base = pose_box(pose)
    wrist = JOINT_INDEX["rwrist"]
    raised = pose.with_joint(wrist, *(pose.xy[wrist] + (0, -40)))  # an arm raised a little: inside the box
    assert stable_box(base, raised) == base
    hidden = pose.with_visible(JOINT_INDEX["rknee"], False)  # hiding a knee: no recrop
    assert stable_box(base, hidden) == base
    sides = []
    for dy in range(0, 200, 10):  # the wrist dragged up past the top edge
        p = pose.with_joint(wrist, pose.xy[wrist][0], base[1] + 30 - dy)
        sides.append(stable_box(base, p)[2])
    assert sides[0] == base[2]
    assert all(b >= a for a, b in itertools.pairwise(sides))
    assert max(np.diff(sides)) <= 10 * 1.2  # grows by about as much as the joint moved


def test_render_alpha_uses_the_models_channel_or_a_silhouette_of_the_pose() -> None:
    pose = Pose.template(128, 128)
    box = pose_box(pose)
    img = np.zeros((128, 128, 3), np.uint8)
    own = np.full((128, 128), 0.25, np.float32)
    local = pose_in_box(pose, box, 128)
    a = render_alpha(Render(img, box, local, 1.0, own))
    assert a.source == ALPHA_MODEL
    face = np.zeros((128, 128), bool)  # the middle of the face is the person, whatever the model says
    (cx, cy), radius = head_disc(local)
    face[round(cy) - 2 : round(cy) + 3, round(cx) - 2 : round(cx) + 3] = True
    assert (a.mask[face] > 0.95).all()
    body = stickman_mask(local, 128, 128) > 0  # elsewhere the model's own alpha
    body[round(cy - 1.2 * radius) : round(cy + 1.2 * radius)] = False
    assert np.array_equal(a.mask[body], own[body])
    assert np.array_equal(a.mask[2:8, 2:8], own[2:8, 2:8])
    b = render_alpha(Render(img, box, local, 1.0))
    assert b.source == ALPHA_STICKMAN
    assert b.mask.shape == (128, 128)
    # The silhouette covers the torso and not the corners.
    assert b.mask[64, 64] > 0.5
    assert b.mask[2, 2] == 0.0
