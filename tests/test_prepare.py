"""vunet-prepare: photos + poses -> index.p dataset; counts, EXIF, resume, bad arguments."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from training import prepare as prep
from vunet_studio.framing import BOX_SCALE
from vunet_studio.pose import Pose
from vunet_studio.pose_io import write_coco, write_openpose
from vunet_studio.skeleton import JOINT_INDEX, JOINT_NAMES


def _photo(w: int, h: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), rng.integers(60, 200, 3), np.uint8)
    return cv2.GaussianBlur(img + rng.integers(0, 20, img.shape, dtype=np.uint8), (5, 5), 0)


def _person(x0: float, y0: float, height: float, size: tuple[int, int]) -> Pose:
    return Pose.template(*size, box=(x0, y0, height * 0.45, height))


def _save(path: Path, img: np.ndarray, exif_orientation: int | None = None) -> None:
    im = Image.fromarray(img)
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        im.save(path, exif=exif, quality=95)
    else:
        im.save(path, quality=95)


@pytest.fixture
def folder(tmp_path: Path) -> tuple[Path, Path]:
    """photos/ and poses/: 2 usable photos (3 people), one corrupt, one lacking a hip, one
    without a pose file."""
    photos, poses = tmp_path / "photos", tmp_path / "poses"
    photos.mkdir()
    poses.mkdir()
    size = (240, 200)
    _save(photos / "a.jpg", _photo(*size, 1))
    write_openpose(poses / "a_keypoints.json", [_person(60, 10, 180, size)], size)
    (photos / "sub").mkdir()
    (poses / "sub").mkdir()
    _save(photos / "sub" / "b.png", _photo(*size, 2))
    # A small person first in the file: the dataset lists the larger one first.
    write_coco(poses / "sub" / "b.json", [_person(150, 100, 90, size), _person(10, 20, 170, size)], size)
    (photos / "c.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    write_openpose(poses / "c.json", [_person(60, 10, 180, size)], size)
    no_hip = _person(60, 10, 180, size).with_visible(JOINT_INDEX["lhip"], False)
    _save(photos / "d.png", _photo(*size, 4))
    write_openpose(poses / "d.json", [no_hip], size)
    _save(photos / "e.png", _photo(*size, 5))
    return photos, poses


def _index(out: Path) -> dict:
    with open(out / "index.p", "rb") as f:
        return pickle.load(f)


def _logged(caplog: pytest.LogCaptureFixture) -> str:
    """What the last run logged (then forgotten, so the next check sees only its own run)."""
    text = caplog.text
    caplog.clear()
    return text


def test_prepare_from_pose_files(folder, tmp_path, capsys):
    photos, poses = folder
    out = tmp_path / "out"
    rc = prep.main([str(photos), str(out), "--poses-from", str(poses), "--size", "128", "--quiet"])
    assert rc == 0
    report = capsys.readouterr().out
    assert "2 used" in report
    assert "1 with no usable person" in report
    assert "1 unreadable" in report
    assert "1 without a pose file" in report
    assert "3 people" in report

    index = _index(out)
    assert index["joint_order"] == list(JOINT_NAMES)
    assert len(index["imgs"]) == len(index["train"]) == 3
    joints = index["joints"]
    assert joints.shape == (3, 18, 2)
    assert joints.dtype == np.float32
    assert np.all((joints == -1) | ((joints >= 0) & (joints <= 1)))
    for rel in index["imgs"]:
        img = cv2.imread(str(out / rel))
        assert img.shape == (128, 128, 3)
    assert index["imgs"][1:] == ["images/sub/b_png_0.png", "images/sub/b_png_1.png"]

    # The crop is the app's box around the joints: the person is centred and fills
    # 1 / BOX_SCALE of the crop along the longer side.
    first = joints[0]
    extent = first.max(axis=0) - first.min(axis=0)
    assert extent.max() == pytest.approx(1 / BOX_SCALE, abs=0.01)
    np.testing.assert_allclose((first.max(axis=0) + first.min(axis=0)) / 2, 0.5, atol=0.01)
    # Joint positions follow the pixels: crop_person agrees with the written sample.
    pose = _person(60, 10, 180, (240, 200))
    expected = prep.crop_person(np.zeros((200, 240, 3), np.uint8), pose, 128)[1]
    np.testing.assert_allclose(first, expected, atol=1e-5)


def test_exif_orientation_is_honoured(tmp_path):
    # Upright: red top half (head), blue bottom half (feet); stored rotated, EXIF says turn it.
    upright = np.zeros((240, 160, 3), np.uint8)
    upright[:120] = (220, 30, 30)
    upright[120:] = (30, 30, 220)
    photos, poses, out = tmp_path / "photos", tmp_path / "poses", tmp_path / "out"
    photos.mkdir()
    poses.mkdir()
    _save(photos / "r.jpg", np.ascontiguousarray(np.rot90(upright, k=1)), exif_orientation=6)
    loaded = prep.load_photo(photos / "r.jpg")
    assert loaded.shape == upright.shape
    write_openpose(poses / "r.json", [_person(30, 20, 200, (160, 240))], (160, 240))

    assert prep.main([str(photos), str(out), "--poses-from", str(poses), "--size", "128", "--quiet"]) == 0
    index = _index(out)
    crop = cv2.cvtColor(cv2.imread(str(out / index["imgs"][0])), cv2.COLOR_BGR2RGB)
    for joint, colour in (("cnose", 0), ("rankle", 2)):  # nose on red, ankle on blue
        x, y = (index["joints"][0][JOINT_INDEX[joint]] * 128).astype(int)
        assert crop[y, x].argmax() == colour


def test_people_at_the_border_are_padded(tmp_path):
    img = _photo(100, 100, 0)
    pose = _person(-20, 30, 120, (100, 100))  # runs off the left and bottom edges
    crop, joints = prep.crop_person(img, pose, 128, 0.15)
    assert crop.shape == (128, 128, 3)
    assert np.all(joints[pose.visible] >= 0)
    assert np.all(joints[pose.visible] <= 1)
    far_away = _person(1000, 1000, 50, (100, 100))
    assert prep.crop_person(img, far_away, 128, 0.15) is None


def test_resume_after_interrupt_skips_done_photos(tmp_path, monkeypatch):
    photos, poses = tmp_path / "photos", tmp_path / "poses"
    photos.mkdir()
    poses.mkdir()
    size = (120, 160)
    for i in range(6):
        _save(photos / f"p{i}.png", _photo(*size, i))
        write_openpose(poses / f"p{i}.json", [_person(20, 10, 140, size)], size)
    args = ["--poses-from", str(poses), "--size", "128", "--quiet", "--val-fraction", "0.5"]
    monkeypatch.setattr(prep, "SAVE_EVERY_PHOTOS", 2)

    real = prep.process_photo
    calls: list[str] = []

    def interrupted_at_four(photo, *a, **k):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(photo.name)
        return real(photo, *a, **k)

    monkeypatch.setattr(prep, "process_photo", interrupted_at_four)
    out = tmp_path / "out"
    assert prep.main([str(photos), str(out), *args]) == 130
    state = json.loads((out / prep.STATE_NAME).read_text())
    assert sorted(state["photos"]) == ["p0.png", "p1.png", "p2.png"]
    assert len(_index(out)["imgs"]) == 3  # the index matches what is done so far

    def counting(photo, *a, **k):
        calls.append(photo.name)
        return real(photo, *a, **k)

    calls.clear()
    monkeypatch.setattr(prep, "process_photo", counting)
    assert prep.main([str(photos), str(out), *args]) == 0
    assert calls == ["p3.png", "p4.png", "p5.png"]

    # The resumed dataset equals one made in a single run.
    fresh = tmp_path / "fresh"
    assert prep.main([str(photos), str(fresh), *args]) == 0
    a, b = _index(out), _index(fresh)
    assert a["imgs"] == b["imgs"]
    assert a["train"] == b["train"]
    np.testing.assert_array_equal(a["joints"], b["joints"])
    assert 0 < sum(a["train"]) < 6

    # A rerun with nothing new does nothing; with other settings it is refused.
    calls.clear()
    assert prep.main([str(photos), str(out), *args]) == 0
    assert calls == []
    assert prep.main([str(photos), str(out), *args[:-2], "--val-fraction", "0.2"]) == 2


def test_changed_settings_need_restart(folder, tmp_path, caplog):
    photos, poses = folder
    out = tmp_path / "out"
    base = [str(photos), str(out), "--poses-from", str(poses), "--quiet"]
    assert prep.main([*base, "--size", "128"]) == 0
    assert prep.main([*base, "--size", "256"]) == 2
    assert "other settings" in _logged(caplog)
    assert prep.main([*base, "--size", "256", "--restart"]) == 0
    index = _index(out)
    assert cv2.imread(str(out / index["imgs"][0])).shape == (256, 256, 3)
    assert len(list((out / "images").rglob("*.png"))) == 3  # the 128 crops were replaced


class FakeEstimator:
    def __init__(self) -> None:
        self.calls = 0

    def estimate(self, image_rgb_uint8: np.ndarray) -> list[Pose]:
        self.calls += 1
        h, w = image_rgb_uint8.shape[:2]
        return [_person(10, 10, h - 20, (w, h))]


def test_estimator_is_used_and_created_only_when_needed(folder, tmp_path):
    photos, _ = folder
    out = tmp_path / "out"
    est = FakeEstimator()
    made: list[int] = []

    def make():
        made.append(1)
        return est

    report = prep.prepare(photos, out, prep.Settings(size=128), make_estimator=make, show_progress=False)
    assert made == [1]
    assert est.calls == 4
    assert report.counts[prep.USED] == 4
    assert report.counts[prep.UNREADABLE] == 1
    assert report.samples == 4
    prep.prepare(photos, out, prep.Settings(size=128), make_estimator=make, show_progress=False)
    assert made == [1], "nothing left to do: the estimator is not loaded again"


def test_bad_arguments_give_a_message_not_a_traceback(folder, tmp_path, caplog, monkeypatch):
    photos, poses = folder
    assert prep.main([str(tmp_path / "nope"), str(tmp_path / "o1")]) == 2
    assert "does not exist" in _logged(caplog)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert prep.main([str(empty), str(tmp_path / "o2")]) == 2
    assert "No photos" in _logged(caplog)
    assert prep.main([str(photos), str(tmp_path / "o3"), "--poses-from", str(tmp_path / "nope")]) == 2
    assert "--poses-from" in _logged(caplog)

    # The estimator cannot load: the message says why and suggests --poses-from.
    rc = prep.main(
        [str(photos), str(tmp_path / "o4"), "--checkpoint", str(tmp_path / "missing.pkl"), "--quiet"]
    )
    err = _logged(caplog)
    assert rc == 2
    assert "--poses-from" in err
    assert "Traceback" not in err
    assert "missing.pkl" in err or "not installed" in err  # the latter where openpifpaf is absent
    assert not (tmp_path / "o4" / "index.p").exists()

    foreign = tmp_path / "o5"
    foreign.mkdir()
    (foreign / "index.p").write_bytes(b"someone else's")
    assert prep.main([str(photos), str(foreign), "--poses-from", str(poses)]) == 2
    assert "did not make" in _logged(caplog)
