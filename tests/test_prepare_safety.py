"""vunet-prepare never loses what a user made: another photo folder on a finished dataset is
refused, a crafted record cannot reach outside the output folder, long legal names work,
bad numbers and a code-running checkpoint get one clear line."""

from __future__ import annotations

import json
import logging
import os
import pickle
from pathlib import Path

import pytest
from PIL import Image

from training import prepare as prep
from vunet_studio.pose import Pose
from vunet_studio.pose_io import write_openpose

SIZE = (160, 200)


def _photo_with_pose(photos: Path, poses: Path, stem: str, seed: int = 0) -> None:
    img = Image.new("RGB", SIZE, (80 + seed * 20, 120, 160))
    img.save(photos / f"{stem}.png")
    write_openpose(poses / f"{stem}.json", [Pose.template(*SIZE, box=(40, 10, 70, 170))], SIZE)


def _folders(tmp_path: Path, name: str, stems: list[str]) -> tuple[Path, Path]:
    photos, poses = tmp_path / f"{name}_photos", tmp_path / f"{name}_poses"
    photos.mkdir()
    poses.mkdir()
    for i, stem in enumerate(stems):
        _photo_with_pose(photos, poses, stem, i)
    return photos, poses


def _run(photos: Path, out: Path, poses: Path, *extra: str) -> int:
    return prep.main([str(photos), str(out), "--poses-from", str(poses), "--size", "128", "--quiet", *extra])


def _index(out: Path) -> dict:
    with open(out / "index.p", "rb") as f:
        return pickle.load(f)


def _one_line_error(caplog: pytest.LogCaptureFixture) -> str:
    """The run's one error: a single line without a traceback."""
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, caplog.text
    line = errors[0].getMessage()
    assert errors[0].exc_info is None, caplog.text
    assert "\n" not in line, caplog.text
    assert "Traceback" not in caplog.text, caplog.text
    return line


def test_another_photo_folder_on_a_finished_dataset_is_refused(tmp_path: Path, caplog) -> None:
    photos_a, poses_a = _folders(tmp_path, "a", ["p0", "p1", "p2"])
    photos_b, poses_b = _folders(tmp_path, "b", ["q0"])
    out = tmp_path / "dataset"
    assert _run(photos_a, out, poses_a) == 0
    crops = sorted((out / "images").rglob("*.png"))
    index_before = (out / "index.p").read_bytes()
    assert len(crops) == 3
    caplog.clear()

    assert _run(photos_b, out, poses_b) == 2
    line = _one_line_error(caplog)
    assert str(photos_a.resolve()) in line
    assert str(photos_b.resolve()) in line
    assert sorted((out / "images").rglob("*.png")) == crops  # not one crop deleted
    assert (out / "index.p").read_bytes() == index_before

    # Asked for explicitly, the dataset is replaced.
    assert _run(photos_b, out, poses_b, "--restart") == 0
    assert len(_index(out)["imgs"]) == 1


def test_a_crafted_record_never_deletes_outside_the_output_folder(tmp_path: Path, caplog) -> None:
    photos, poses = _folders(tmp_path, "a", ["p0"])
    out = tmp_path / "dataset"
    assert _run(photos, out, poses) == 0
    victims = [tmp_path / "victim.png", tmp_path / "dataset" / "index-backup.png"]
    for v in victims:
        v.write_bytes(b"the user's file")
    state_path = out / prep.STATE_NAME
    state = json.loads(state_path.read_text())
    # A photo "gone" since the last run: its samples would be deleted.
    state["photos"]["ghost.png"] = {
        "status": "used",
        "stamp": [0, 0],
        "samples": [
            {"img": "images/../../victim.png", "train": True, "joints": []},
            {"img": str(victims[0]), "train": True, "joints": []},
            {"img": "index-backup.png", "train": True, "joints": []},
        ],
    }
    state_path.write_text(json.dumps(state))
    caplog.clear()
    assert _run(photos, out, poses) == 2
    assert "outside" in _one_line_error(caplog)
    assert all(v.read_bytes() == b"the user's file" for v in victims)
    # Even --restart (which deletes the dataset's crops) leaves them alone.
    assert _run(photos, out, poses, "--restart") == 0
    assert all(v.read_bytes() == b"the user's file" for v in victims)
    assert len(_index(out)["imgs"]) == 1


def test_a_photo_with_a_long_legal_name_is_prepared(tmp_path: Path) -> None:
    long_stem = "x" * 236  # + ".png" = 240 bytes: legal; "_png_0.png" and a temp name are not
    photos, poses = _folders(tmp_path, "a", [long_stem, "short"])
    out = tmp_path / "dataset"
    assert _run(photos, out, poses) == 0
    imgs = _index(out)["imgs"]
    assert len(imgs) == 2
    assert all((out / name).is_file() for name in imgs)
    assert all(len(Path(name).name.encode()) <= 255 for name in imgs)
    # A rerun finds the long photo done (same name) instead of failing at it again.
    assert _run(photos, out, poses) == 0
    assert _index(out)["imgs"] == imgs


@pytest.mark.parametrize("option", [("--box-scale", "nan"), ("--box-scale", "inf"), ("--threshold", "nan")])
def test_nan_and_inf_options_get_one_clear_line(tmp_path: Path, caplog, option: tuple[str, str]) -> None:
    photos, poses = _folders(tmp_path, "a", ["p0"])
    out = tmp_path / "dataset"
    assert _run(photos, out, poses, *option) == 2
    assert option[0] in _one_line_error(caplog)
    assert not out.exists()


def test_a_checkpoint_that_would_run_code_is_refused_without_running_it(tmp_path: Path, caplog) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("openpifpaf")
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "EVIL.pkl"
    torch.save({"model": Evil(), "epoch": 0}, evil)
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", SIZE).save(photos / "p.png")
    rc = prep.main([str(photos), str(tmp_path / "out"), "--checkpoint", str(evil), "--quiet"])
    err = caplog.text
    assert rc == 2
    assert "Traceback" not in err
    assert not marker.exists()  # the pickle's code never ran
    assert "EVIL.pkl was not loaded" in err
    assert "system" in err
    assert not (tmp_path / "out" / "index.p").exists()
