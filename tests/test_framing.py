"""The box around a person: one framing for the app's engine, `render`, `vunet-prepare` and the fake engine."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

from training.prepare import crop_person
from vunet_studio import render_cli
from vunet_studio.engine import AppearanceImage, RenderEngine
from vunet_studio.framing import (
    BOX_SCALE,
    Box,
    FramingError,
    crop,
    paste,
    placement,
    pose_box,
    pose_in_box,
    snap,
)
from vunet_studio.model import VUNet, VUNetConfig
from vunet_studio.pose import Pose

CFG = VUNetConfig.for_size(128, base_channels=8, max_channels=16, latent_channels=8, prior_channels=32)


def _photo() -> tuple[np.ndarray, Pose]:
    """A photo, not square, with a person off-centre whose box leaves the photo at the top."""
    w, h = 240, 180
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return img, Pose.template(w, h, (30.0, 10.0, 80.0, 160.0))


def test_pose_box_is_the_joints_extent_grown_by_box_scale() -> None:
    _, pose = _photo()
    x0, y0, x1, y1 = pose.bbox()
    box = pose_box(pose)
    assert isinstance(box, Box)
    assert box.side == pytest.approx(BOX_SCALE * max(x1 - x0, y1 - y0))
    assert box.x0 + box.side / 2 == pytest.approx((x0 + x1) / 2)
    assert box.y0 + box.side / 2 == pytest.approx((y0 + y1) / 2)
    with pytest.raises(FramingError, match="no visible joints"):
        pose_box(Pose.empty())


def test_pose_in_box_maps_the_box_onto_the_square() -> None:
    _, pose = _photo()
    box = pose_box(pose)
    local = pose_in_box(pose, box, 128)
    assert local.image_size == (128, 128)
    assert np.allclose(local.xy, (pose.xy - [box.x0, box.y0]) * 128 / box.side, atol=1e-4)
    assert np.array_equal(local.visible, pose.visible)
    assert local.xy is not pose.xy


def test_crop_pads_outside_and_paste_roundtrip() -> None:
    img = np.zeros((50, 60, 3), np.uint8)
    img[:, :, 0] = np.arange(60, dtype=np.uint8)[None]
    square, cut = crop(img, (-10.0, -10.0, 40.0), 40)
    assert cut == (-10, -10, 40)
    assert square.shape == (40, 40, 3)
    assert (square[:, :10, 0] == 0).all()  # left of the photo: its first column repeated
    assert np.array_equal(square[10:, 10:, 0], img[:30, :30, 0])
    assert snap((2.7, -3.2, 10.4)) == (2.0, -4.0, 10.0)
    with pytest.raises(FramingError, match="outside"):
        crop(img, (100.0, 100.0, 10.0), 16)
    frame = np.zeros((50, 60, 3), np.uint8)
    out = paste(frame, np.full((16, 16, 3), 200, np.uint8), (50.0, 40.0, 16.0))
    assert out.shape == frame.shape
    assert (out[40:, 50:] == 200).all()
    assert (out[:40] == 0).all()
    assert placement((50.0, 40.0, 16.0), 60, 50) == (50, 40, 16, 50, 40, 60, 50)
    assert placement((100.0, 100.0, 16.0), 60, 50) is None


def test_app_render_prepare_and_fake_engine_frame_a_pose_with_the_same_box(fake_engine_class: type) -> None:
    img, pose = _photo()
    box = pose_box(pose)
    # The app's engine (the default box of a render, and the appearance's crop).
    torch.manual_seed(0)
    engine = RenderEngine(model=VUNet(CFG), device="cpu", precision="fp32", threads=1, warmup=False)
    app = engine.encode(AppearanceImage(img, pose))
    assert engine.render(app, pose).box == box
    # `vunet-studio render --composite`: the stable box starts from the appearance person's.
    args = argparse.Namespace(appearance="photo.png", no_keep=False, no_carry_limbs=False, no_borrow_head=True, no_borrow_body=True)
    _, base, _, _, _ = render_cli._composite_scene(args, img, pose, [pose], background=img)
    assert base == box
    # vunet-prepare: its crop is the box the engine cuts, its joints the pose in that box.
    square, joints = crop_person(img, pose, 128)
    expected, cut = crop(img, box, 128)
    assert np.array_equal(square, expected)
    inside = np.clip(pose_in_box(pose, cut, 128).xy / 128, 0, 1)
    assert np.allclose(joints[pose.visible], inside[pose.visible], atol=1e-5)
    # The fake engine the GUI tests and demos use.
    fake = fake_engine_class()
    assert fake.render(fake.encode(AppearanceImage(img, pose)), pose).box == box


def test_a_portraits_box_holds_its_inferred_hips() -> None:
    """Chest-up: the box reaches below the photo to the hips the model will draw, so the
    composite does not end in an edge across the person's chest."""
    from vunet_studio.pose import Pose
    from vunet_studio.skeleton import JOINT_INDEX

    below = [JOINT_INDEX[n] for n in ("rhip", "lhip", "rknee", "lknee", "rankle", "lankle")]
    portrait = Pose.template(300, 200).with_visible(below, False)
    x0, y0, side = pose_box(portrait)
    hips = portrait.with_inferred_hips().xy[[JOINT_INDEX["rhip"], JOINT_INDEX["lhip"]]]
    assert (hips[:, 1] < y0 + side).all()
    assert (hips[:, 0] > x0).all()
    assert (hips[:, 0] < x0 + side).all()
