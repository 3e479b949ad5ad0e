"""The stickman ŷ: the pose drawn as the 3-channel image the model is conditioned on.

Drawn exactly as the VUNet code's `make_joint_img` does, so a model trained on the
official data and one trained here see the same input:
  channel 0: right-side limbs and nose-right eye at 255,
  channel 1: left-side limbs and nose-left eye at 255,
  channel 2: the filled torso quadrilateral (lhip, lshoulder, rshoulder, rhip) at 255,
  neck (shoulder midpoint) - nose at 127 in channels 0 and 1,
line thickness int(3 * W / 128); coordinates truncated to int as the reference does; a
segment with a missing end is skipped, the torso only when all four corners exist.
"""

from __future__ import annotations

import cv2
import numpy as np

from vunet_studio.pose import Pose
from vunet_studio.skeleton import JOINT_INDEX

_RIGHT_LINES = (
    ("rankle", "rknee"),
    ("rknee", "rhip"),
    ("rhip", "rshoulder"),
    ("rshoulder", "relbow"),
    ("relbow", "rwrist"),
)
_LEFT_LINES = (
    ("lankle", "lknee"),
    ("lknee", "lhip"),
    ("lhip", "lshoulder"),
    ("lshoulder", "lelbow"),
    ("lelbow", "lwrist"),
)
_TORSO = ("lhip", "lshoulder", "rshoulder", "rhip")


def thickness_for(width: int) -> int:
    return max(1, int(3 * width / 128))


def draw_stickman(pose: Pose, width: int, height: int) -> np.ndarray:
    """(height, width, 3) uint8 stickman of `pose` (pixel coordinates in that frame)."""
    channels = [np.zeros((height, width), np.uint8) for _ in range(3)]
    thickness = thickness_for(width)
    xy, vis = pose.xy, pose.visible

    def pt(name: str) -> tuple[int, int]:
        # np.int_ truncation towards zero, as in the reference.
        x, y = xy[JOINT_INDEX[name]]
        return int(x), int(y)

    def ok(*names: str) -> bool:
        return all(vis[JOINT_INDEX[n]] for n in names)

    if ok(*_TORSO):
        cv2.fillPoly(channels[2], [np.array([pt(n) for n in _TORSO], np.int32)], 255)
    for lines, ch in ((_RIGHT_LINES, 0), (_LEFT_LINES, 1)):
        for a, b in lines:
            if ok(a, b):
                cv2.line(channels[ch], pt(a), pt(b), 255, thickness)
    if ok("rshoulder", "lshoulder", "cnose"):
        neck = 0.5 * (xy[JOINT_INDEX["rshoulder"]] + xy[JOINT_INDEX["lshoulder"]])
        neck_pt = (int(neck[0]), int(neck[1]))
        for ch in (0, 1):
            cv2.line(channels[ch], neck_pt, pt("cnose"), 127, thickness)
    if ok("cnose", "reye", "leye"):
        cv2.line(channels[0], pt("cnose"), pt("reye"), 255, thickness)
        cv2.line(channels[1], pt("cnose"), pt("leye"), 255, thickness)
    return np.stack(channels, axis=-1)
