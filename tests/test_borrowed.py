"""With another photo's look, that photo's own head is carried onto the pose
(`vunet_studio.borrowed`): the face is the look's, sharp, where the pose's head is."""

from __future__ import annotations

import numpy as np

from vunet_studio.borrowed import LookSource, head_fit
from vunet_studio.composite import with_borrowed
from vunet_studio.pose import Pose
from vunet_studio.segmentation import head_disc, stickman_mask
from vunet_studio.skeleton import FLIP_INDEX, JOINT_INDEX

FACE_RGB = (250, 40, 40)
BODY_RGB = (40, 40, 250)


def _look(body: bool = False) -> LookSource:
    """A 200 x 300 look photo: a red head on a blue body, on green."""
    w, h = 200, 300
    pose = Pose.template(w, h, (40.0, 20.0, 120.0, 260.0))
    photo = np.zeros((h, w, 3), np.uint8)
    photo[:] = (40, 200, 40)
    mask = stickman_mask(pose, w, h)
    photo[mask > 0.5] = BODY_RGB
    (cx, cy), r = head_disc(pose)
    yy, xx = np.mgrid[0:h, 0:w]
    photo[(np.hypot(xx - cx, yy - cy) < 0.8 * r) & (mask > 0.5)] = FACE_RGB
    source = LookSource.of(photo, mask, pose, body=body)
    assert source is not None
    return source


def _target(scale: float = 1.5) -> Pose:
    """The pose of a person 1.5x the look's size, elsewhere, in a 480 x 640 photo."""
    return Pose.template(480, 640, (150.0, 80.0, 150.0 + 120.0 * scale, 80.0 + 260.0 * scale))


def _carried(pose: Pose, grey: bool = False, body: bool = False) -> np.ndarray:
    scene = np.zeros((640, 480, 3), np.uint8)
    tile = (np.zeros((600, 400, 3), np.uint8), 40, 20)  # the blended render, here all black
    out = with_borrowed(tile, scene, _look(body), pose, scale=1.0, grey=grey)
    assert out is not None
    frame = scene.copy()
    t, x, y = out
    frame[y : y + t.shape[0], x : x + t.shape[1]] = t
    return frame


def _at(frame: np.ndarray, pose: Pose, joint: str, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    x, y = pose.xy[JOINT_INDEX[joint]]
    return frame[round(float(y) + dy), round(float(x) + dx)].astype(int)


def test_the_looks_face_lands_on_the_poses_head_at_its_size() -> None:
    pose = _target(1.5)
    frame = _carried(pose)
    assert (np.abs(_at(frame, pose, "cnose") - FACE_RGB) <= 12).all()  # the look's face, here
    (_, _), r = head_disc(pose)
    assert (np.abs(_at(frame, pose, "cnose", dx=0.6 * r) - FACE_RGB) <= 12).all()  # enlarged with the head
    # The rest of the person stays the render's: the chest and the knees.
    assert (_at(frame, pose, "rknee") == 0).all()
    chest = pose.xy[[JOINT_INDEX[j] for j in ("lhip", "rhip", "lshoulder", "rshoulder")]].mean(axis=0)
    assert (frame[round(float(chest[1])), round(float(chest[0]))] == 0).all()


def test_a_grey_photo_gets_a_grey_head() -> None:
    pose = _target()
    face = _at(_carried(pose, grey=True), pose, "cnose")
    assert face[0] == face[1] == face[2] > 40


def test_a_hidden_or_upside_down_head_is_left_to_the_render() -> None:
    pose = _target()
    hidden = pose
    for name in ("cnose", "reye", "leye", "rear", "lear"):
        hidden = hidden.with_visible(JOINT_INDEX[name], False)
    assert head_fit(_look().pose, hidden) is None
    assert (_at(_carried(hidden), pose, "cnose") == 0).all()
    # Rotated half a turn about the neck: a face upside down is the render's.
    neck = pose.xy[JOINT_INDEX["cneck"]].astype(np.float64)
    flipped = pose.with_xy((2 * neck - pose.xy.astype(np.float64)).astype(np.float32))
    assert head_fit(_look().pose, flipped) is None
    # Seen from behind (a pose copied from a photo of someone's back): no face on the back of the head.
    swap = list(FLIP_INDEX)
    behind = Pose(pose.xy[swap], pose.visible[swap], pose.image_size)
    assert head_fit(_look().pose, pose) is not None
    assert head_fit(_look().pose, behind) is None
    assert (_at(_carried(behind), behind, "cnose") == 0).all()


def test_a_head_tilted_in_the_pose_is_carried_tilted() -> None:
    pose = _target()
    neck = pose.xy[JOINT_INDEX["cneck"]].astype(np.float64)
    a = np.deg2rad(25.0)
    turn = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    xy = pose.xy.astype(np.float64)
    for name in ("cnose", "reye", "leye", "rear", "lear"):
        j = JOINT_INDEX[name]
        xy[j] = neck + turn @ (xy[j] - neck)
    tilted = pose.with_xy(xy.astype(np.float32))
    m = head_fit(_look().pose, tilted)
    assert m is not None
    assert abs(np.degrees(np.arctan2(m[1, 0], m[0, 0])) - 25.0) < 3.0
    assert (np.abs(_at(_carried(tilted), tilted, "cnose") - FACE_RGB) <= 12).all()


def test_the_looks_body_lands_on_the_poses_torso_and_limbs_at_their_size() -> None:
    # Another photo's clothes: the look's own blue body on the pose, 1.5x the size, elsewhere.
    pose = _target(1.5)
    head_only, with_body = _carried(pose), _carried(pose, body=True)
    torso = [JOINT_INDEX[j] for j in ("lhip", "rhip", "lshoulder", "rshoulder")]
    cx, cy = (round(float(v)) for v in pose.xy[torso].mean(axis=0))
    points = [(cx, cy)]
    for a, b in (("rknee", "rankle"), ("lhip", "lknee"), ("relbow", "rwrist")):
        x, y = 0.5 * (pose.xy[JOINT_INDEX[a]] + pose.xy[JOINT_INDEX[b]])
        points.append((round(float(x)), round(float(y))))
    for x, y in points:
        assert (np.abs(with_body[y, x].astype(int) - BODY_RGB) <= 12).all()  # the look's own pixels
        assert (head_only[y, x] == 0).all()  # without it: the render (here black)
    assert (np.abs(_at(with_body, pose, "cnose") - FACE_RGB) <= 12).all()  # the head over it
    # Enlarged with the person: a shin's width is 1.5x the look's, so its side is blue too.
    x, y = points[1]
    assert (np.abs(with_body[y, x + 3].astype(int) - BODY_RGB) <= 12).all()
