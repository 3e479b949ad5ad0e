"""vunet-eval --photos on real test photos with a tiny random model: the report a user reads."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from _training_helpers import tiny_model_config

from tests._photo_helpers import PHOTOS, pose_of
from training.evaluate import main
from training.photo_eval import PARTS, bone_colours, colour_distance
from vunet_studio.model import VUNet, save_checkpoint
from vunet_studio.pose import Pose
from vunet_studio.skeleton import JOINT_INDEX
from vunet_studio.workspace import pose_into_frame

CFG = tiny_model_config()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict]:  # type: ignore[type-arg]
    """One run on two full-body photos, a portrait (hips below the frame), a broken file and a
    photo of nobody."""
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("photo_eval")
    ckpt = root / "tiny.safetensors"
    save_checkpoint(VUNet(CFG), ckpt, step=3)
    photos = root / "photos"
    photos.mkdir()
    for name in ("basketball1.png", "cameraman.png", "astronaut.jpg"):
        shutil.copy(PHOTOS / name, photos / name)
    (photos / "broken.png").write_bytes(b"not a png at all")
    cv2.imwrite(str(photos / "nobody.png"), np.full((200, 240, 3), 128, np.uint8))
    (photos / "README.md").write_text("not a photo: ignored")
    out = root / "report.json"
    code = main(["--photos", str(photos), "--checkpoint", str(ckpt), "--json", str(out), "--no-progress"])
    return code, json.loads(out.read_text()) if out.exists() else {}


def test_report_has_the_measures_per_photo_and_pair(report) -> None:  # type: ignore[no-untyped-def]
    code, r = report
    assert code == 0
    names = ["astronaut.jpg", "basketball1.png", "cameraman.png"]  # the portrait is re-posed too
    assert [p["photo"] for p in r["per_photo"]] == names
    assert {(q["appearance"], q["pose"]) for q in r["pairs"]} == {(a, b) for a in names for b in names if a != b}
    for q in r["pairs"]:
        for key in ("pck", "pck_full", "pck_shown"):  # pck_shown: on what the app shows
            assert 0.0 <= q[key] <= 1.0
        assert q["joints"] > 0
        # The others are every photo with a person found, portraits too (for the parts they show).
        assert set(q["d_each"]) == {"basketball1.png", "cameraman.png", "astronaut.jpg"}
        assert q["d_each"][q["appearance"]] == q["d_own"]
        assert (
            q["d_own"] >= 0
        )
        assert (
            q["d_others"] >= 0
        )
        assert (
            q["ratio"] == pytest.approx(q["d_own"] / q["d_others"])
        )
    for p in r["per_photo"]:
        assert -1.0 <= p["recon_ssim_mask"] <= 1.0
        assert 0.0 <= p["recon_pck"] <= 1.0
        assert p["grey"] is (p["photo"] != "astronaut.jpg")  # the full-body test photos are grey
        if p["grey"]:
            assert p["grey_kept"] is True  # the app composites a grey photo in grey
            assert p["model_grey"] in (True, False)
    s = r["summary"]
    assert s["pairs"] == 6
    assert s["grey_photos"] == 2
    assert {"pck", "pck_full", "pck_shown", "ratio_shown", "d_own", "d_others", "ratio", "recon_ssim_mask", "recon_ssim"} <= set(s)
    assert r["step"] == 3
    assert r["judge"]


def test_unusable_photos_are_listed_with_why(report) -> None:  # type: ignore[no-untyped-def]
    _, r = report
    why = {s["photo"]: s["reason"] for s in r["skipped"]}
    assert set(why) == {"broken.png", "nobody.png"}
    assert why["broken.png"].startswith("unreadable")
    assert why["nobody.png"].startswith("no person")


def test_table_printed_and_bad_folder_fails_cleanly(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from training.photo_eval import format_photo_table

    fake = {
        "per_photo": [
            {
                "photo": "a.png", "grey": True, "grey_kept": True, "model_grey": False, "pairs": 1,
                "pck": 0.5, "pck_full": float("nan"), "d_own": 1.0, "d_others": 4.0, "ratio": 0.25,
                "recon_ssim_mask": 0.6, "recon_ssim": 0.9, "recon_pck": 1.0,
            }
        ],
        "summary": {
            "pairs": 1, "pck": 0.5, "pck_full": float("nan"), "d_own": 1.0, "d_others": 4.0, "ratio": 0.25,
            "recon_ssim_mask": 0.6, "recon_ssim": 0.9, "recon_pck": 1.0, "grey_photos": 1, "grey_kept": 1,
            "model_grey": 0,
        },
        "skipped": [{"photo": "b.png", "reason": "unreadable: corrupt"}],
        "checkpoint": "m.safetensors", "step": 1, "alpha": "x", "pose_estimator": "e", "judge": "j",
    }  # fmt: skip
    table = format_photo_table(fake)
    assert "a.png" in table
    assert "mean" in table
    assert "skipped b.png: unreadable: corrupt" in table
    assert "kept yes, model NO" in table
    assert main(["--photos", str(tmp_path / "missing"), "--no-progress"]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["--photos", str(tmp_path / "empty"), "--no-progress"]) == 2


def test_pose_into_frame_puts_torso_on_torso() -> None:
    a, b = pose_of("basketball1.png"), pose_of("cameraman.png")
    moved = pose_into_frame(b, a)
    j = JOINT_INDEX

    def torso(p: Pose) -> tuple[np.ndarray, float]:
        neck = (p.xy[j["rshoulder"]] + p.xy[j["lshoulder"]]) / 2
        hip = (p.xy[j["rhip"]] + p.xy[j["lhip"]]) / 2
        return hip, float(np.linalg.norm(neck - hip))

    (hip_a, len_a), (hip_m, len_m), (_, len_b) = torso(a), torso(moved), torso(b)
    assert np.allclose(hip_m, hip_a, atol=1e-3)
    assert len_m == pytest.approx(len_a, rel=1e-4)
    assert moved.image_size == a.image_size
    assert np.array_equal(moved.visible, b.visible)
    # Only scaled and moved: B's shape (its limbs' proportions) is kept.
    k = j["lankle"] if b.visible[j["lankle"]] else j["lknee"]
    d_b = np.linalg.norm(b.xy[k] - b.xy[j["lhip"]]) / len_b
    d_m = np.linalg.norm(moved.xy[k] - moved.xy[j["lhip"]]) / len_m
    assert d_m == pytest.approx(d_b, rel=1e-4)
    with pytest.raises(ValueError, match="torso"):
        pose_into_frame(b.with_visible(j["lshoulder"], False), a)
    # A portrait's torso is the one the app infers below the frame.
    portrait = pose_of("astronaut.jpg")
    assert not portrait.has_torso()
    assert pose_into_frame(portrait, a).image_size == a.image_size


def _lab(rgb: tuple[int, int, int]) -> np.ndarray:
    return cv2.cvtColor(np.float32([[rgb]]) / 255.0, cv2.COLOR_RGB2Lab)[0, 0]


def test_bone_colours_read_each_part_along_its_bones() -> None:
    pose = Pose.template(200, 300)
    j = JOINT_INDEX
    img = np.full((300, 200, 3), 255, np.uint8)
    paint = {"arms": (200, 30, 30), "thighs": (30, 160, 30), "shins": (30, 30, 200)}
    bones = {"arms": ("shoulder", "elbow", "wrist"), "thighs": ("hip", "knee"), "shins": ("knee", "ankle")}
    quad = np.int32([pose.xy[j[n]] for n in ("rshoulder", "lshoulder", "lhip", "rhip")])
    cv2.fillPoly(img, [quad], (120, 120, 40))
    for part, chain in bones.items():
        for side in "rl":
            for a, b in itertools.pairwise(chain):
                p, q = (tuple(int(v) for v in pose.xy[j[side + n]]) for n in (a, b))
                cv2.line(img, p, q, paint[part], 9)
    got = bone_colours(img, pose)
    assert set(got) == set(PARTS)
    assert np.allclose(got["torso"], _lab((120, 120, 40)), atol=1.0)
    for part, rgb in paint.items():
        assert np.allclose(got[part], _lab(rgb), atol=1.0), part
    assert colour_distance(got, got) == 0.0
    other = bone_colours(np.full_like(img, 255), pose)
    assert colour_distance(got, other) > 20
    # Outside the person's mask nothing is sampled; a part without bones is absent.
    assert all(v is None for v in bone_colours(img, pose, np.zeros((300, 200), bool)).values())
    legless = pose.with_visible([j["rknee"], j["lknee"]], False)
    assert bone_colours(img, legless)["thighs"] is None
    assert bone_colours(img, legless)["shins"] is None
