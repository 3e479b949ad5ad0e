"""The stickman ŷ, drawn as the VUNet reference code draws it."""

from pathlib import Path

import cv2
import numpy as np

from vunet_studio.pose import Pose
from vunet_studio.skeleton import JOINT_INDEX
from vunet_studio.stickman import draw_stickman, thickness_for

GOLDEN = Path(__file__).parent / "data" / "stickman_golden_128.png"


def golden_pose() -> Pose:
    p = Pose.template(128, 128)
    p = p.with_joint(JOINT_INDEX["lwrist"], 110.7, 20.2)  # an arm raised, fractional coordinates truncate
    return p.with_visible(JOINT_INDEX["rankle"], False)


def test_matches_golden_image() -> None:
    img = draw_stickman(golden_pose(), 128, 128)
    golden = cv2.imread(str(GOLDEN), cv2.IMREAD_UNCHANGED)[:, :, ::-1]  # stored BGR
    np.testing.assert_array_equal(img, golden)


def test_channels_and_values() -> None:
    p = golden_pose()
    img = draw_stickman(p, 128, 128)
    assert img.shape == (128, 128, 3)
    assert img.dtype == np.uint8
    assert set(np.unique(img)) <= {0, 127, 255}
    # The torso fills channel 2 at its centre; the left forearm is in channel 1 only.
    cx, cy = ((p.xy[JOINT_INDEX["lhip"]] + p.xy[JOINT_INDEX["rshoulder"]]) / 2).astype(int)
    assert img[cy, cx, 2] == 255
    ex, ey = ((p.xy[JOINT_INDEX["lelbow"]] + p.xy[JOINT_INDEX["lwrist"]]) / 2).astype(int)
    assert img[ey, ex, 1] == 255
    assert img[ey, ex, 0] == 0
    # Neck to nose at 127 in channels 0 and 1.
    nx, ny = ((p.xy[JOINT_INDEX["cnose"]] + p.xy[JOINT_INDEX["cneck"]] + (0, 2)) / 2).astype(int)
    assert img[ny, nx, 0] == 127
    assert img[ny, nx, 1] == 127


def test_missing_joints_skip_segments_and_torso() -> None:
    p = golden_pose()
    full = draw_stickman(p, 128, 128)
    p = p.with_visible(JOINT_INDEX["lhip"], False)
    img = draw_stickman(p, 128, 128)
    assert img[:, :, 2].max() == 0  # no torso without all four corners
    assert img[:, :, 1].sum() < full[:, :, 1].sum()  # lhip's limbs are gone


def test_thickness_scales_with_width() -> None:
    assert thickness_for(128) == 3
    assert thickness_for(256) == 6
    assert thickness_for(64) == 1

    def shin_width(size: int) -> int:
        p = Pose.template(size, size)
        y = int(p.xy[JOINT_INDEX["lknee"], 1] + size * 0.05)
        return int((draw_stickman(p, size, size)[y, :, 1] == 255).sum())

    assert shin_width(64) < shin_width(128) < shin_width(256)
