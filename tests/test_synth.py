"""Synthetic people: determinism, re-posing pairs, joint placement, the vunet-synth layouts."""

from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.synth import Articulation, SynthPerson, render, sample, sample_pair
from training.synth.cli import main
from vunet_studio.framing import BOX_SCALE
from vunet_studio.pose import Pose
from vunet_studio.pose_io import read_poses
from vunet_studio.skeleton import JOINT_INDEX, JOINT_NAMES

TORSO = [JOINT_INDEX[n] for n in ("rshoulder", "lshoulder", "rhip", "lhip")]


def test_same_seed_same_sample_and_independent_of_call_order() -> None:
    a = sample(7)
    sample(3)  # another draw in between must not change seed 7
    b = sample(7)
    assert np.array_equal(a.image, b.image)
    assert a.pose == b.pose
    assert np.array_equal(a.mask, b.mask)
    assert a.person == b.person
    assert a.articulation == b.articulation


def test_different_seeds_differ() -> None:
    a, b = sample(1), sample(2)
    assert not np.array_equal(a.image, b.image)
    assert a.person != b.person


@pytest.mark.parametrize("size", [128, 256])
def test_sizes_and_types(size: int) -> None:
    s = sample(11, size)
    assert s.image.shape == (size, size, 3)
    assert s.image.dtype == np.uint8
    assert s.mask.shape == (size, size)
    assert s.mask.dtype == bool
    assert isinstance(s.pose, Pose)
    assert s.pose.image_size == (size, size)
    assert isinstance(s.person, SynthPerson)
    assert isinstance(s.articulation, Articulation)
    # A fashion-style crop: the person spans most of the frame height.
    rows = np.flatnonzero(s.mask.any(axis=1))
    assert rows[-1] - rows[0] > 0.5 * size


def test_pair_same_person_different_pose() -> None:
    a, b = sample_pair(5)
    assert a.person == b.person
    assert a.articulation != b.articulation
    assert not np.array_equal(a.image, b.image)
    assert sample(5).pose == a.pose  # the pair's first image is the seed's sample
    # The top's colour is the same in both images: compare the median over the chest.
    for s in (a, b):
        assert s.pose.has_torso()
    chest = []
    for s in (a, b):
        p = s.pose.xy
        c = (p[TORSO[0]] * 0.35 + p[TORSO[1]] * 0.35 + p[TORSO[2]] * 0.15 + p[TORSO[3]] * 0.15).astype(int)
        patch = s.image[c[1] - 2 : c[1] + 3, c[0] - 2 : c[0] + 3].reshape(-1, 3).astype(float)
        chest.append(patch.mean(axis=0))
    top = a.person.top.pattern
    if top.kind == "solid":
        assert np.abs(chest[0] - chest[1]).max() < 60


def test_render_is_the_low_level_call() -> None:
    s = sample(9)
    img, pose, mask = render(s.person, s.articulation, 128)
    assert np.array_equal(img, s.image)
    assert pose == s.pose
    assert np.array_equal(mask, s.mask)
    # Another pose of the same person only changes the pose.
    img2, pose2, _ = render(s.person, replace(s.articulation, r_arm=(2.5, 0.0, 0.2, 0.0)), 128)
    assert not np.array_equal(img2, img)
    assert np.linalg.norm(pose2.xy[JOINT_INDEX["rwrist"]] - pose.xy[JOINT_INDEX["rwrist"]]) > 10


def test_poses_have_torso_and_visibility() -> None:
    hidden = 0
    for seed in range(40):
        s = sample(seed)
        assert s.pose.has_torso()
        assert s.pose.visible[JOINT_INDEX["cneck"]]
        hidden += int((~s.pose.visible).sum())
    assert hidden > 0  # some joints (ears, far-side joints, out of frame) are hidden


def test_joints_lie_on_the_body() -> None:
    body = ("cneck", "rshoulder", "lshoulder", "rhip", "lhip", "relbow", "lelbow", "rknee", "lknee", "cnose")
    for seed in range(30):
        s = sample(seed)
        m = s.mask
        for name in body:
            j = JOINT_INDEX[name]
            if not s.pose.visible[j]:
                continue
            x, y = np.round(s.pose.xy[j]).astype(int)
            win = m[max(y - 2, 0) : y + 3, max(x - 2, 0) : x + 3]
            assert win.any(), f"seed {seed}: {name} at {(x, y)} is off the body"


def test_sides_follow_the_skeleton() -> None:
    # Facing the camera, the person's right side is on the image's left.
    s = sample(0)
    front = replace(s.articulation, yaw=0.0, roll=0.0)
    _, pose, _ = render(s.person, front, 128)
    xy = pose.xy
    for right, left in (("rshoulder", "lshoulder"), ("rhip", "lhip"), ("reye", "leye")):
        assert xy[JOINT_INDEX[right], 0] < xy[JOINT_INDEX[left], 0]
    # From behind, the sides swap in the image and the face is hidden.
    _, back, _ = render(s.person, replace(front, yaw=np.pi, head_yaw=0.0), 128)
    assert back.xy[JOINT_INDEX["rshoulder"], 0] > back.xy[JOINT_INDEX["lshoulder"], 0]
    assert not back.visible[JOINT_INDEX["cnose"]]
    assert not back.visible[JOINT_INDEX["reye"]]
    # In profile, the far shoulder is hidden behind the torso and the far ear behind the head.
    _, prof, _ = render(s.person, replace(front, yaw=np.pi / 2, head_yaw=0.0, head_roll=0.0), 128)
    assert prof.visible[JOINT_INDEX["lshoulder"]] != prof.visible[JOINT_INDEX["rshoulder"]]
    assert not prof.visible[JOINT_INDEX["lear"]] or not prof.visible[JOINT_INDEX["rear"]]


def test_cli_dataset(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    assert main(["--out", str(out), "--count", "12", "--size", "64", "--seed", "3"]) == 0
    with open(out / "index.p", "rb") as f:
        index = pickle.load(f)
    assert set(index) >= {"joint_order", "imgs", "train", "joints"}
    assert list(index["joint_order"]) == list(JOINT_NAMES)
    assert len(index["imgs"]) == len(index["train"]) == 12
    joints = np.asarray(index["joints"])
    assert joints.shape == (12, 18, 2)
    assert joints.dtype == np.float32
    present = joints >= 0
    assert np.all(joints[present] <= 1.0)
    assert np.all(present.all(axis=2) == present.any(axis=2))  # a missing joint is missing in x and y
    assert 0 < sum(index["train"]) < 12
    img = Image.open(out / index["imgs"][0])
    assert img.size == (64, 64)
    assert img.mode == "RGB"
    assert not list(out.glob(".*tmp*"))  # the atomic write left no temporary behind


def test_cli_pairs(tmp_path: Path) -> None:
    out = tmp_path / "pairs"
    assert main(["--out", str(out), "--pairs", "2", "--size", "64"]) == 0
    folders = sorted(p for p in out.iterdir() if p.is_dir())
    assert len(folders) == 2
    for d in folders:
        for name in ("appearance.png", "target.png", "mask.png", "appearance_pose.json", "target_pose.json"):
            assert (d / name).is_file()
        (pose,) = read_poses(d / "target_pose.json")
        assert pose.has_torso()
        mask = np.asarray(Image.open(d / "mask.png"))
        assert set(np.unique(mask)) <= {0, 255}
        assert mask.shape == (64, 64)


def test_cli_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    assert main(["--out", str(afile), "--count", "2"]) != 0
    assert main(["--out", str(tmp_path / "x"), "--count", "-1"]) != 0
    assert main(["--out", str(tmp_path / "x")]) != 0  # neither --count nor --pairs
    assert "Traceback" not in capsys.readouterr().err


def test_people_are_framed_as_the_app_frames_them() -> None:
    """The joints of the synthetic training people span about 1 / BOX_SCALE of the frame, so
    the app's box around a photo's person (`framing.pose_box`) is the frame training showed."""
    extents = []
    for seed in range(60):
        s = sample(seed, 128)
        x0, y0, x1, y1 = s.pose.bbox()
        extents.append(max(x1 - x0, y1 - y0) / 128)
    assert np.median(extents) == pytest.approx(1 / BOX_SCALE, abs=0.05)
