"""The real test photos (tests/data/photos) and the person's pose in each (tests/data/photo_poses.json)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np

from vunet_studio.imageio import load_image
from vunet_studio.pose import Pose
from vunet_studio.skeleton import JOINT_INDEX, NUM_JOINTS

DATA = Path(__file__).parent / "data"
PHOTOS = DATA / "photos"
#: Photo name -> its person; "basketball1.png#right" is the man cut by that photo's right edge.
PEOPLE = ("astronaut.jpg", "basketball1.png", "basketball2.png", "cameraman.png", "grace_hopper.jpg")
TORSO = ("cneck", "rshoulder", "lshoulder", "rhip", "lhip")


@cache
def photo(name: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB, as the app loads it (grey photos have equal channels)."""
    return load_image(PHOTOS / name.split("#")[0])


def pose_of(key: str) -> Pose:
    doc = json.loads((DATA / "photo_poses.json").read_text())["poses"][key]
    xy = np.zeros((NUM_JOINTS, 2), np.float32)
    visible = np.zeros(NUM_JOINTS, bool)
    for name, (x, y) in doc.items():
        xy[JOINT_INDEX[name]] = (x, y)
        visible[JOINT_INDEX[name]] = True
    h, w = photo(key).shape[:2]
    return Pose(xy, visible, (w, h))


def torso_points(pose: Pose) -> list[tuple[int, int]]:
    """(x, y) of the visible torso joints and of the shoulder-to-hip midpoints."""
    pts = [pose.xy[JOINT_INDEX[n]] for n in TORSO if pose.visible[JOINT_INDEX[n]]]
    for a, b in (("rshoulder", "rhip"), ("lshoulder", "lhip")):
        if pose.visible[JOINT_INDEX[a]] and pose.visible[JOINT_INDEX[b]]:
            pts.append((pose.xy[JOINT_INDEX[a]] + pose.xy[JOINT_INDEX[b]]) / 2)
    return [(int(x), int(y)) for x, y in pts]
