"""The dataset files' owners: index.p (`training.index_file`) and the re-posing pair folders
(`training.pairs`) read back what they write; `exports.write_image` writes every image type."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from training.index_file import IndexFileError, UnsafePickleError, read_index, write_index
from training.pairs import (
    PAIR_FILES,
    SCENE_FILE,
    TARGET_POSE,
    Pair,
    PairsError,
    find_pairs,
    load_pair,
    pair_folder,
    write_pair,
)
from vunet_studio.exports import IMAGE_FORMATS, ExportError, write_image
from vunet_studio.imageio import load_image
from vunet_studio.pose import Pose
from vunet_studio.pose_io import write_openpose
from vunet_studio.skeleton import JOINT_NAMES


def test_an_index_reads_back_as_written_and_in_our_joint_order(tmp_path: Path) -> None:
    joints = np.random.default_rng(0).random((3, len(JOINT_NAMES), 2)).astype(np.float32)
    path = write_index(
        tmp_path / "index.p", ["images/a.png", "images/b.png", "images/c.png"], [True, False, True], joints
    )
    index = read_index(path)
    assert index.imgs == ["images/a.png", "images/b.png", "images/c.png"]
    assert index.train.tolist() == [True, False, True]
    assert np.array_equal(index.joints, joints)
    # A file in another joint order (as the official ones may be) is reordered to ours.
    order = list(reversed(JOINT_NAMES))
    raw = {"joint_order": order, "imgs": ["x.png"], "joints": joints[:1, ::-1]}
    (tmp_path / "other.p").write_bytes(pickle.dumps(raw, protocol=2))
    assert np.array_equal(read_index(tmp_path / "other.p").joints, joints[:1])


def test_a_bad_index_says_why(tmp_path: Path) -> None:
    (tmp_path / "cut.p").write_bytes(b"\x80\x04garbage")
    with pytest.raises(IndexFileError, match="not a readable index"):
        read_index(tmp_path / "cut.p")
    (tmp_path / "evil.p").write_bytes(pickle.dumps({"imgs": [], "joints": eval}))
    with pytest.raises(UnsafePickleError, match="could run code"):
        read_index(tmp_path / "evil.p")


def test_a_pair_reads_back_as_written(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (64, 64, 3), np.uint8)
    mask = np.zeros((64, 64), bool)
    mask[10:50, 20:40] = True
    pose = Pose.template(64, 64)
    written = Pair("000000", image, pose, image[::-1].copy(), pose.translated(3, 0), mask, image // 2)
    write_pair(pair_folder(tmp_path, 0), written)
    assert sorted(p.name for p in (tmp_path / "000000").iterdir()) == sorted([*PAIR_FILES, SCENE_FILE])
    (d,) = find_pairs(tmp_path)
    pair = load_pair(d)
    assert pair is not None
    assert pair.name == "000000"
    for a, b in ((pair.appearance, written.appearance), (pair.target, written.target), (pair.mask, mask)):
        assert np.array_equal(a, b)
    assert pair.scene is not None
    assert np.array_equal(pair.scene, written.scene)
    assert np.allclose(pair.target_pose.xy, written.target_pose.xy, atol=1e-3)
    assert pair.target_pose.image_size == (64, 64)
    with pytest.raises(PairsError, match="no pair folders"):
        find_pairs(tmp_path / "000000")


def test_a_pair_whose_pose_file_holds_nobody_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    image = np.random.default_rng(3).integers(0, 255, (64, 64, 3), np.uint8)
    pose = Pose.template(64, 64)
    d = pair_folder(tmp_path, 0)
    write_pair(d, Pair("000000", image, pose, image, pose, np.ones((64, 64), bool)))
    write_openpose(d / TARGET_POSE, [], (64, 64))
    assert load_pair(d) is None
    assert f"{d / TARGET_POSE}: no pose" in caplog.text


@pytest.mark.parametrize("suffix", sorted(IMAGE_FORMATS))
def test_write_image_writes_every_type_it_names(tmp_path: Path, suffix: str) -> None:
    rgb = np.random.default_rng(2).integers(0, 255, (16, 24, 3), np.uint8)
    write_image(tmp_path / f"x{suffix}", rgb)
    back = load_image(tmp_path / f"x{suffix}")
    assert back.shape == rgb.shape
    if IMAGE_FORMATS[suffix] in ("PNG", "BMP", "TIFF"):  # lossless (JPEG and WEBP are not)
        assert np.array_equal(back, rgb)
    assert [p.name for p in tmp_path.iterdir()] == [f"x{suffix}"]  # no temporary file left


def test_write_image_refuses_an_unknown_type_before_writing(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"x\.xyz: choose a \.png or \.jpg"):
        write_image(tmp_path / "x.xyz", np.zeros((4, 4, 3), np.uint8))
    assert not list(tmp_path.iterdir())
