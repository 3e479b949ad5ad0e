"""Pose files: round trips, other tools' conventions, and malformed files."""

import json
from pathlib import Path

import numpy as np
import pytest

from vunet_studio.pose import Pose
from vunet_studio.pose_io import PoseFileError, read_poses, write_coco, write_openpose, write_pose_file
from vunet_studio.skeleton import COCO17_NAMES, JOINT_INDEX


def person(width: int = 300, height: int = 400, shift: float = 0.0) -> Pose:
    p = Pose.template(width, height).translated(shift, 0)
    # COCO has no neck: make it the shoulder midpoint (as from_coco17 does) so files compare equal.
    return Pose.from_coco17(p.to_coco17(), image_size=p.image_size)


@pytest.mark.parametrize("writer", [write_openpose, write_coco, write_pose_file])
def test_round_trip_several_people(tmp_path: Path, writer) -> None:
    a, b = person(), person(shift=40.0).with_visible(JOINT_INDEX["lear"], False)
    path = tmp_path / "pose.json"
    writer(path, [a, b], (300, 400))
    got = read_poses(path)
    assert got == [a, b]
    assert got[0].image_size == (300, 400)


def test_own_format_keeps_hidden_joint_position(tmp_path: Path) -> None:
    p = person().with_visible(JOINT_INDEX["relbow"], False)
    write_pose_file(tmp_path / "p.json", [p])
    got = read_poses(tmp_path / "p.json")[0]
    np.testing.assert_allclose(got.xy[JOINT_INDEX["relbow"]], p.xy[JOINT_INDEX["relbow"]], atol=1e-3)
    assert not got.visible[JOINT_INDEX["relbow"]]


def test_openpose_file_from_another_tool_normalised_coordinates(tmp_path: Path) -> None:
    # A ControlNet-editor style file: 18 joints, normalised, with the canvas size.
    p = person(512, 512)
    kp = np.zeros((18, 3))
    kp[:, :2] = p.xy / 512
    kp[:, 2] = 1
    kp[JOINT_INDEX["rear"]] = 0
    doc = {"people": [{"pose_keypoints_2d": kp.ravel().tolist()}], "canvas_width": 512, "canvas_height": 512}
    (tmp_path / "cn.json").write_text(json.dumps(doc))
    got = read_poses(tmp_path / "cn.json")[0]
    np.testing.assert_allclose(got.xy[JOINT_INDEX["lwrist"]], p.xy[JOINT_INDEX["lwrist"]], atol=1e-3)
    assert not got.visible[JOINT_INDEX["rear"]]
    # Without the canvas size the caller's image size scales it; without either it is an error.
    del doc["canvas_width"], doc["canvas_height"]
    (tmp_path / "n.json").write_text(json.dumps(doc))
    assert read_poses(tmp_path / "n.json", image_size=(512, 512))[0] == got
    with pytest.raises(PoseFileError, match="normalised"):
        read_poses(tmp_path / "n.json")


def test_openpose_body25(tmp_path: Path) -> None:
    p = person()
    kp = np.zeros((25, 3))
    order = [0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]
    kp[order, :2] = p.xy
    kp[order, 2] = 0.9
    kp[8] = (150, 200, 0.9)  # mid-hip, not one of ours
    (tmp_path / "b25.json").write_text(json.dumps({"people": [{"pose_keypoints_2d": kp.ravel().tolist()}]}))
    assert read_poses(tmp_path / "b25.json")[0] == p


def test_coco_dialects(tmp_path: Path) -> None:
    p = person()
    kp = p.to_coco17()
    kp[COCO17_NAMES.index("left_ankle"), 2] = 1  # labelled but occluded: position known
    kp[COCO17_NAMES.index("right_ear")] = 0  # not labelled
    # A bare annotation list, and a single annotation, both read.
    (tmp_path / "list.json").write_text(json.dumps([{"keypoints": kp.ravel().tolist()}]))
    (tmp_path / "one.json").write_text(json.dumps({"keypoints": kp.ravel().tolist()}))
    for name in ("list.json", "one.json"):
        got = read_poses(tmp_path / name)[0]
        assert got.visible[JOINT_INDEX["lankle"]]
        assert not got.visible[JOINT_INDEX["rear"]]
        assert got.visible[JOINT_INDEX["cneck"]]


BAD_FILES = {
    "wrong_length": ({"people": [{"pose_keypoints_2d": [1.0] * 50}]}, "54"),
    "nan": ('{"people": [{"pose_keypoints_2d": [NaN' + ", 1" * 53 + "]}]}", "NaN"),
    "inf": ('{"people": [{"pose_keypoints_2d": [Infinity' + ", 1" * 53 + "]}]}", "infinite"),
    "strings": ({"people": [{"pose_keypoints_2d": ["a"] * 54}]}, "numbers"),
    "missing_key": ({"people": [{"face_keypoints_2d": []}]}, "pose_keypoints_2d"),
    "absurd": ({"people": [{"pose_keypoints_2d": [1e9, 1e9, 1] * 18}]}, "outside"),
    "not_pose": ({"hello": 1}, "not a pose file"),
    "coco_short": ({"annotations": [{"keypoints": [1, 2, 2] * 10}]}, "51"),
    "own_bad_visible": (
        {"format": "vunet-studio-pose", "version": 1, "joint_order": None, "people": []},
        "joint_order",
    ),
    "truncated": ('{"people": [{"pose_keypoints_2d": [1, 2', "JSON"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_malformed_files_raise_typed_error_naming_file(tmp_path: Path, case: str) -> None:
    content, fragment = BAD_FILES[case]
    path = tmp_path / f"{case}.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(PoseFileError) as info:
        read_poses(path)
    assert str(path) in str(info.value)
    assert fragment in str(info.value)


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(PoseFileError, match="not found"):
        read_poses(tmp_path / "nope.json")
    (tmp_path / "bin.json").write_bytes(b"\x89PNG\x00\xff\xfe")
    with pytest.raises(PoseFileError):
        read_poses(tmp_path / "bin.json")


def test_write_is_atomic_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "keep.json"
    write_openpose(path, [person()])
    before = path.read_text()
    # A hidden NaN is allowed in memory but never written as NaN.
    bad = person().with_visible(0, False).with_joint(0, np.nan, np.nan)
    write_openpose(path, [bad])
    assert "NaN" not in path.read_text()
    assert before != ""
    assert list(tmp_path.iterdir()) == [path]  # no temporary files left behind


def test_written_files_get_normal_permissions(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    write_openpose(path, [person()])
    assert path.stat().st_mode & 0o044  # readable by others, not the 0600 of a temp file
