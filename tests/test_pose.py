"""The pose type: COCO-17 -> 18 conversion, mirroring, normalised coordinates, immutability."""

import dataclasses

import numpy as np
import pytest

from vunet_studio.pose import Pose
from vunet_studio.skeleton import COCO17_NAMES, FLIP_INDEX, JOINT_INDEX, JOINT_NAMES, NUM_JOINTS


def coco_keypoints(pose: Pose, drop: tuple[str, ...] = ()) -> np.ndarray:
    kp = pose.to_coco17()
    for name in drop:
        kp[COCO17_NAMES.index(name)] = 0
    return kp


def test_skeleton_constants_consistent() -> None:
    assert NUM_JOINTS == 18
    assert JOINT_NAMES[1] == "cneck"
    # Flipping twice is the identity; the centre joints map to themselves.
    assert all(FLIP_INDEX[FLIP_INDEX[i]] == i for i in range(NUM_JOINTS))
    assert FLIP_INDEX[JOINT_INDEX["cnose"]] == JOINT_INDEX["cnose"]
    assert FLIP_INDEX[JOINT_INDEX["rwrist"]] == JOINT_INDEX["lwrist"]


def test_coco17_to_18_derives_neck_from_shoulders() -> None:
    t = Pose.template(200, 400)
    p = Pose.from_coco17(coco_keypoints(t))
    rs, ls, neck = (JOINT_INDEX[n] for n in ("rshoulder", "lshoulder", "cneck"))
    assert p.visible.all()
    np.testing.assert_allclose(p.xy[neck], (t.xy[rs] + t.xy[ls]) / 2, atol=1e-4)
    np.testing.assert_allclose(p.xy[JOINT_INDEX["lwrist"]], t.xy[JOINT_INDEX["lwrist"]], atol=1e-4)


def test_coco17_neck_missing_without_both_shoulders_and_threshold() -> None:
    t = Pose.template(200, 400)
    kp = coco_keypoints(t, drop=("left_shoulder",))
    kp[COCO17_NAMES.index("nose"), 2] = 0.2  # low confidence
    p = Pose.from_coco17(kp, threshold=0.3)
    assert not p.visible[JOINT_INDEX["cneck"]]
    assert not p.visible[JOINT_INDEX["lshoulder"]]
    assert not p.visible[JOINT_INDEX["cnose"]]
    assert p.visible[JOINT_INDEX["rshoulder"]]


def test_mirror_swaps_sides_and_is_an_involution() -> None:
    t = Pose.template(100, 100).with_joint(JOINT_INDEX["rwrist"], 10, 60)
    m = t.mirrored(width=100)
    np.testing.assert_allclose(m.xy[JOINT_INDEX["lwrist"]], (90, 60))
    assert m.mirrored(width=100) == t
    # Mirroring in place keeps the figure where it is.
    inplace = t.mirrored()
    np.testing.assert_allclose(inplace.center(), t.center(), atol=1e-4)
    assert inplace.mirrored() == t


def test_normalised_round_trip_marks_missing_negative() -> None:
    t = Pose.template(64, 128).with_visible(JOINT_INDEX["lear"], False)
    n = t.to_normalized(64, 128)
    assert n[JOINT_INDEX["lear"]].tolist() == [-1.0, -1.0]
    assert (n[t.visible] >= 0).all()
    assert (n[t.visible] <= 1).all()
    assert Pose.from_normalized(n, 64, 128) == t


def test_pose_rejects_non_finite_visible_joint() -> None:
    xy = np.zeros((18, 2))
    xy[3] = np.nan
    with pytest.raises(ValueError, match="finite coordinates"):
        Pose(xy, np.ones(18, bool))
    Pose(xy, np.arange(18) != 3)  # hidden joints may hold anything


def test_pose_is_immutable_and_edits_make_new_poses() -> None:
    t = Pose.template(100, 200)
    with pytest.raises(ValueError, match="read-only"):
        t.xy[0] = (1, 2)  # read-only arrays
    with pytest.raises(ValueError, match="read-only"):
        t.visible[0] = False
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.image_size = (1, 1)  # type: ignore[misc]
    before = t.xy.copy()
    moved = t.with_joint(JOINT_INDEX["rwrist"], 5.0, 6.0)
    hidden = t.with_visible(JOINT_INDEX["lear"], False)
    resized = t.with_image_size((50, 100))
    np.testing.assert_array_equal(t.xy, before)  # the original is untouched
    assert t.visible.all()
    assert t.image_size == (100, 200)
    assert tuple(moved.xy[JOINT_INDEX["rwrist"]]) == (5.0, 6.0)
    assert not hidden.visible[JOINT_INDEX["lear"]]
    assert hidden.visible.sum() == 17
    assert resized.image_size == (50, 100)
    assert resized == t
    xy = np.zeros((18, 2), np.float32)
    p = Pose(xy, np.ones(18, bool))
    xy[0] = 9.0  # the caller's array is copied, not shared
    assert p.xy[0, 0] == 0.0


def _portrait(shoulders: tuple[tuple[float, float], tuple[float, float]], nose: tuple[float, float]) -> Pose:
    """A chest-up person: shoulders and nose visible, nothing below."""
    xy = np.zeros((NUM_JOINTS, 2), np.float32)
    visible = np.zeros(NUM_JOINTS, bool)
    for name, p in (("rshoulder", shoulders[0]), ("lshoulder", shoulders[1]), ("cnose", nose)):
        xy[JOINT_INDEX[name]] = p
        visible[JOINT_INDEX[name]] = True
    return Pose(xy, visible, (400, 300))


def test_a_portrait_gets_hips_below_its_shoulders_away_from_the_face() -> None:
    from vunet_studio.pose import HIPS_PER_SHOULDERS, TORSO_PER_SHOULDERS

    upright = _portrait(((150, 250), (250, 250)), (200, 150))
    done = upright.with_inferred_hips()
    assert not upright.has_torso()
    assert upright.renderable()
    assert done.has_torso()
    rh, lh = done.xy[JOINT_INDEX["rhip"]], done.xy[JOINT_INDEX["lhip"]]
    assert (rh + lh) / 2 == pytest.approx((200, 250 + TORSO_PER_SHOULDERS * 100), abs=1e-3)  # below the frame
    assert lh[0] - rh[0] == pytest.approx(HIPS_PER_SHOULDERS * 100, abs=1e-3)  # right hip on the right side
    # Lying with the head at the bottom: the torso goes up, away from the face.
    head_down = _portrait(((250, 150), (150, 150)), (200, 250)).with_inferred_hips()
    assert head_down.xy[JOINT_INDEX["rhip"]][1] < 150
    # Only the other joints' visibility and places are as found.
    keep = [i for i in range(NUM_JOINTS) if i not in (JOINT_INDEX["rhip"], JOINT_INDEX["lhip"])]
    assert np.array_equal(done.visible[keep], upright.visible[keep])


def test_one_found_hip_is_kept_and_mirrored() -> None:
    pose = _portrait(((150, 250), (250, 250)), (200, 150))
    one = pose.with_visible(JOINT_INDEX["lhip"], True).with_joint(JOINT_INDEX["lhip"], 235, 390)
    done = one.with_inferred_hips()
    assert tuple(done.xy[JOINT_INDEX["lhip"]]) == (235, 390)
    assert tuple(done.xy[JOINT_INDEX["rhip"]]) == pytest.approx((165, 390), abs=1e-3)


def test_hips_are_not_invented_without_both_shoulders_or_over_found_ones() -> None:
    pose = _portrait(((150, 250), (250, 250)), (200, 150))
    no_shoulder = pose.with_visible(JOINT_INDEX["lshoulder"], False)
    assert no_shoulder.with_inferred_hips() is no_shoulder
    assert not no_shoulder.renderable()
    whole = Pose.template(400, 300)
    assert whole.with_inferred_hips() is whole


def test_facing_tells_a_front_from_a_back_and_not_a_side() -> None:
    front = Pose.template(320, 400, (60.0, 40.0, 200.0, 340.0))
    assert front.facing() == 1
    swap = list(FLIP_INDEX)  # the same points, right and left named the other way: seen from behind
    assert Pose(front.xy[swap], front.visible[swap], front.image_size).facing() == -1
    # The editor's mirror raises the other arm; the person still faces the camera.
    assert front.mirrored().facing() == 1
    # Side on: shoulders and hips one behind the other. A few pixels either way say nothing.
    xy = front.xy.copy()
    for right, left in (("rshoulder", "lshoulder"), ("rhip", "lhip")):
        mid = 0.5 * (xy[JOINT_INDEX[right], 0] + xy[JOINT_INDEX[left], 0])
        xy[JOINT_INDEX[right], 0], xy[JOINT_INDEX[left], 0] = mid + 3.0, mid - 3.0
    assert front.with_xy(xy).facing() == 0
    assert Pose(np.zeros((NUM_JOINTS, 2), np.float32), np.zeros(NUM_JOINTS, bool)).facing() == 0
