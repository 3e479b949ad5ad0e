"""Part crops (in-plane normalisation) and the input conversion built on them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _training_helpers import tiny_model_config

from vunet_studio.model_inputs import (
    appearance_input,
    appearance_input_mixed,
    image_to_tensor,
    mix_appearance,
    pose_in_frame,
    stickman_tensor,
    tensor_to_image,
)
from vunet_studio.parts import (
    mixed_part_crops,
    part_crops,
    part_crops_with_mask,
    part_quad,
)
from vunet_studio.pose import Pose
from vunet_studio.skeleton import JOINT_INDEX, PART_INDEX, PART_NAMES

CFG = tiny_model_config()


def pose_with(**joints: tuple[float, float]) -> Pose:
    p = Pose.empty((128, 128))
    for name, xy in joints.items():
        p = p.with_joint(JOINT_INDEX[name], *xy).with_visible(JOINT_INDEX[name], True)
    return p


def full_pose() -> Pose:
    return Pose.template(128, 128)


def test_part_order_is_the_reference_order() -> None:
    # Checkpoints depend on it: the reference's `bparts`, the channel order F_phi was trained on.
    assert " ".join(PART_NAMES) == "torso head lupperarm lforearm rupperarm rforearm lthigh rthigh"


def test_torso_crop_lands_where_expected() -> None:
    # A colour-coded image: the torso rectangle is red, everything else blue, with a green
    # marker square near the lshoulder corner (which maps to the crop's top-left).
    img = np.zeros((128, 128, 3), np.uint8)
    img[:] = (0, 0, 255)
    img[40:100, 30:90] = (255, 0, 0)
    img[40:50, 30:40] = (0, 255, 0)
    p = pose_with(lshoulder=(30, 40), lhip=(30, 100), rhip=(90, 100), rshoulder=(90, 40))
    crops = part_crops(img, p, 64)
    assert crops.shape == (8, 64, 64, 3)
    torso = crops[PART_INDEX["torso"]]
    # lshoulder -> (0, 0), lhip -> (0, 64): the quad fills the crop, so it is all red but the marker.
    assert (torso[30:60, 30:60] == (255, 0, 0)).all()
    assert (torso[1:9, 1:9] == (0, 255, 0)).all()  # 10 px of 60 -> ~10.7 px of 64
    assert (torso[14:, 14:] != (0, 255, 0)).any(axis=-1).all()


def test_limb_crop_runs_along_the_segment() -> None:
    # Upper arm from (20, 20) to (20, 84): the crop's x axis runs along it (reference layout),
    # width 0.5 x 64 = 32 px, so image columns 4..36 span the crop's rows.
    img = np.zeros((128, 128, 3), np.uint8)
    img[:, :, 0] = np.arange(128, dtype=np.uint8)[:, None]  # red = row (y)
    img[:, :, 1] = np.arange(128, dtype=np.uint8)[None, :]  # green = column (x)
    p = pose_with(lshoulder=(20, 20), lelbow=(20, 84))
    crop = part_crops(img, p, 64)[PART_INDEX["lupperarm"]].astype(int)
    # Along the crop's x: image y goes 20 -> 84 (1 px per crop px).
    assert abs(crop[32, 0, 0] - 20) <= 1
    assert abs(crop[32, 63, 0] - 83) <= 1
    # Across the crop's y: image x spans 20 ± 16 (p0 + normal, normal = (-dy, dx) / 4, at the top).
    assert abs(crop[0, 32, 1] - 4) <= 1
    assert abs(crop[63, 32, 1] - 36) <= 1
    quad = part_quad(p, "lupperarm", 128)
    assert quad is not None
    np.testing.assert_allclose(np.linalg.norm(quad[0] - quad[1]), 0.5 * 64, rtol=1e-5)


def test_missing_joint_gives_zero_part() -> None:
    img = np.full((128, 128, 3), 200, np.uint8)
    p = full_pose().with_visible(JOINT_INDEX["lwrist"], False)
    crops, present = part_crops_with_mask(img, p, 64)
    k = PART_INDEX["lforearm"]
    assert not present[k]
    assert (crops[k] == 0).all()
    assert present[[i for i in range(8) if i != k]].all()
    # In the model's input a missing part is 0.0 in [-1, 1] (mid grey), as in the reference.
    t = appearance_input(img, p, CFG)
    assert t.shape == (24, 64, 64)
    assert (t[3 * k : 3 * k + 3] == 0).all()
    assert torch.allclose(t[:3], torch.full_like(t[:3], 200 / 127.5 - 1))


def test_reference_fallbacks() -> None:
    p = full_pose().with_visible([JOINT_INDEX["lknee"], JOINT_INDEX["cnose"]], False)
    quad = part_quad(p, "lthigh", 128)
    assert quad is not None  # hip straight down to the last row
    assert np.isclose(quad[2:, 1], 127).all()
    assert part_quad(p, "head", 128) is not None  # square above the shoulders
    assert part_quad(p, "lthigh", 128, fallbacks=False) is None
    assert part_quad(p, "head", 128, fallbacks=False) is None


def test_mixing_parts_from_two_sources() -> None:
    a = np.full((128, 128, 3), 50, np.uint8)
    b = np.full((160, 80, 3), 220, np.uint8)  # another size: appearance input resizes it
    pa = full_pose()
    pb = Pose.template(80, 160)
    top = ("torso", "head", "lupperarm", "lforearm", "rupperarm", "rforearm")
    sources = {**{n: (a, pa) for n in top}, "lthigh": (b, pb), "rthigh": (b, pb)}
    crops, present = mixed_part_crops(sources, 64)
    assert present.all()
    assert (crops[:6] == 50).all()
    assert (crops[6:] == 220).all()
    t = appearance_input_mixed(sources, CFG)
    ta, tb = appearance_input(a, pa, CFG), appearance_input(b, pb, CFG)
    torch.testing.assert_close(t[:18], ta[:18])
    torch.testing.assert_close(t[18:], tb[18:])
    torch.testing.assert_close(mix_appearance([ta, tb], [0] * 6 + [1, 1]), t)
    # Sequence form, with a part left out.
    seq = [(a, pa)] * 6 + [(b, pb), None]
    t2 = appearance_input_mixed(seq, CFG)
    torch.testing.assert_close(t2[:21], t[:21])
    assert (t2[21:] == 0).all()
    with pytest.raises(ValueError, match="unknown part names"):
        appearance_input_mixed({"shin": (a, pa)}, CFG)


def test_image_tensor_roundtrip_and_stickman() -> None:
    img = (np.arange(128 * 128 * 3) % 256).astype(np.uint8).reshape(128, 128, 3)
    t = image_to_tensor(img)
    assert t.shape == (3, 128, 128)
    assert t.min() >= -1
    assert t.max() <= 1
    assert np.array_equal(tensor_to_image(t), img)
    assert tensor_to_image(torch.full((2, 3, 4, 4), 5.0)).shape == (2, 4, 4, 3)
    assert (tensor_to_image(torch.full((3, 4, 4), 5.0)) == 255).all()  # clipped
    with pytest.raises(ValueError, match="256x256 frame"):  # the caller moves it to the model's frame
        stickman_tensor(Pose.template(256, 256), 128)
    s = stickman_tensor(pose_in_frame(Pose.template(256, 256), 128, 128), 128)  # rescaled from 256
    s2 = stickman_tensor(Pose.template(128, 128), 128)
    assert s.shape == (3, 128, 128)
    assert s.min() == -1
    assert s.max() == 1
    assert (s != s2).float().mean() < 0.02
