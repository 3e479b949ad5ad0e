"""`vunet-studio render` end to end on real files, and every kind of bad input -> one clear line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from _training_helpers import tiny_model_config
from PIL import Image

from vunet_studio.model import VUNet, save_checkpoint
from vunet_studio.pose import Pose
from vunet_studio.pose_io import write_openpose
from vunet_studio.render_cli import main
from vunet_studio.skeleton import JOINT_INDEX

torch.set_num_threads(2)

CFG = tiny_model_config()
W, H = 240, 180


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli")
    torch.manual_seed(0)
    ckpt = save_checkpoint(VUNet(CFG).eval(), d / "tiny.safetensors")
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    Image.fromarray(photo).save(d / "person.png")
    pose = Pose.template(W, H, (60, 20, 100, 150))
    write_openpose(d / "person.json", [pose], (W, H))
    walk = d / "walk"
    walk.mkdir()
    for i in range(3):
        p = pose.translated(5 * i, 0)
        p = p.with_joint(JOINT_INDEX["rwrist"], *(p.xy[JOINT_INDEX["rwrist"]] + (10 * i, -10 * i)))
        write_openpose(walk / f"f{i}.json", [p], (W, H))
    # What a write killed midway leaves: our dot-named temporary, cut short. Not a pose file.
    (walk / ".f3.abcd1234.tmp.json").write_text('{"people": [')
    return {"dir": d, "ckpt": ckpt, "photo": d / "person.png", "pose": d / "person.json", "walk": walk}


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


def _base(f: dict[str, Path]) -> list[str]:
    return [
        "--appearance",
        str(f["photo"]),
        "--appearance-pose",
        str(f["pose"]),
        "--checkpoint",
        str(f["ckpt"]),
    ]


def test_single_render(files: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    code, err = _run([*_base(files), "--pose", str(files["walk"] / "f1.json"), "-o", str(out)], capsys)
    assert code == 0, err
    img = np.asarray(Image.open(out))
    assert img.shape == (128, 128, 3)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write left no temp file
    # Deterministic: the same command gives the same file.
    out2 = tmp_path / "out2.png"
    assert main([*_base(files), "--pose", str(files["walk"] / "f1.json"), "-o", str(out2)]) == 0
    assert np.array_equal(np.asarray(Image.open(out2)), img)


def test_composite_has_the_frame_size(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "comp.png"
    argv = [
        *_base(files),
        "--pose",
        str(files["pose"]),
        "-o",
        str(out),
        "--composite",
        "--background",
        str(files["photo"]),
    ]
    code, err = _run(argv, capsys)
    assert code == 0, err
    assert np.asarray(Image.open(out)).shape == (H, W, 3)


def test_composite_defaults_to_the_photos_own_empty_scene(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # A grey photo with a person-like block: re-posed within its own photo, the output is that
    # photo at full size, grey, the pixels far from the person its own.
    yy, xx = np.mgrid[0:H, 0:W]
    grey = ((xx * 3 + yy * 5) % 200 + 30).astype(np.uint8)
    grey[20:160, 70:170] = 60  # the "person"
    photo = tmp_path / "grey.png"
    Image.fromarray(np.stack([grey] * 3, -1)).save(photo)
    target = tmp_path / "raised.json"
    pose = Pose.template(W, H, (60, 20, 100, 150))
    p = pose.with_joint(JOINT_INDEX["rwrist"], *(pose.xy[JOINT_INDEX["rwrist"]] + (0, -40)))
    write_openpose(target, [p], (W, H))
    out = tmp_path / "comp.png"
    argv = ["--appearance", str(photo), "--appearance-pose", str(files["pose"]), "--checkpoint", str(files["ckpt"])]
    code, err = _run([*argv, "--pose", str(target), "-o", str(out), "--composite"], capsys)
    assert code == 0, err
    assert Image.open(out).mode == "L"  # a grey file, as the photo was
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape == (H, W, 3)
    assert np.array_equal(img[:, :12, 0], grey[:, :12])  # far from the person: the photo's own
    assert not np.array_equal(img[..., 0], grey)  # and the person was re-rendered


def test_within_its_photo_what_did_not_move_stays_the_photos_own(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    photo = np.asarray(Image.open(files["photo"]).convert("RGB"))
    pose = Pose.template(W, H, (60, 20, 100, 150))
    target = tmp_path / "raised.json"
    write_openpose(target, [pose.with_joint(JOINT_INDEX["rwrist"], *(pose.xy[JOINT_INDEX["rwrist"]] + (0, -40)))], (W, H))
    kept, whole = tmp_path / "kept.png", tmp_path / "whole.png"
    base = [*_base(files), "--pose", str(target), "--composite"]
    assert _run([*base, "-o", str(kept)], capsys)[0] == 0
    assert _run([*base, "-o", str(whole), "--no-keep"], capsys)[0] == 0
    x, y = (round(float(v)) for v in pose.xy[JOINT_INDEX["lknee"]])  # the left leg did not move
    near = (slice(y - 1, y + 2), slice(x - 1, x + 2))
    assert np.abs(np.asarray(Image.open(kept))[near].astype(int) - photo[near]).max() <= 2
    assert np.abs(np.asarray(Image.open(whole))[near].astype(int) - photo[near]).max() > 10


def test_a_portraits_chest_stays_its_own_when_an_elbow_is_raised(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The astronaut is chest-up (no hips in the frame); raising her right elbow out to the
    # side must leave the mission patch on her chest the photo's own, not a blurred render.
    from _photo_helpers import PHOTOS, photo, pose_of

    found = pose_of("astronaut.jpg")
    assert not found.visible[JOINT_INDEX["rhip"]]
    size = found.image_size
    write_openpose(tmp_path / "found.json", [found], size)
    write_openpose(tmp_path / "raised.json", [found.with_joint(JOINT_INDEX["relbow"], 20.0, 200.0)], size)
    out = tmp_path / "raised.png"
    argv = ["--appearance", str(PHOTOS / "astronaut.jpg"), "--appearance-pose", str(tmp_path / "found.json")]
    argv += ["--checkpoint", str(files["ckpt"]), "--pose", str(tmp_path / "raised.json"), "-o", str(out), "--composite"]
    code, err = _run(argv, capsys)
    assert code == 0, err
    patch = (slice(350, 410), slice(140, 200))
    diff = np.abs(np.asarray(Image.open(out).convert("RGB"))[patch].astype(int) - photo("astronaut.jpg")[patch])
    assert diff.mean() <= 1.0, diff.mean()  # the patch itself (its edge may meet the feather)


def test_within_its_photo_a_moved_leg_is_the_photos_own_leg(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    photo = np.asarray(Image.open(files["photo"]).convert("RGB"))  # noise: every pixel its own
    pose = Pose.template(W, H, (60, 20, 100, 150))
    xy = pose.xy.copy()
    xy[[JOINT_INDEX["rknee"], JOINT_INDEX["rankle"]], 0] -= 12  # the shin stepped out, not turned
    target = tmp_path / "step.json"
    write_openpose(target, [pose.with_xy(xy)], (W, H))
    carried, rendered = tmp_path / "carried.png", tmp_path / "rendered.png"
    base = [*_base(files), "--pose", str(target), "--composite"]
    assert _run([*base, "-o", str(carried)], capsys)[0] == 0
    assert _run([*base, "-o", str(rendered), "--no-carry-limbs"], capsys)[0] == 0
    x, y = (round(float(v)) for v in 0.5 * (pose.xy[JOINT_INDEX["rknee"]] + pose.xy[JOINT_INDEX["rankle"]]))
    old = (slice(y - 1, y + 2), slice(x - 1, x + 2))
    new = (slice(y - 1, y + 2), slice(x - 13, x - 10))
    assert np.abs(np.asarray(Image.open(carried))[new].astype(int) - photo[old]).max() <= 2
    assert np.abs(np.asarray(Image.open(rendered))[new].astype(int) - photo[old]).max() > 10


def test_into_another_picture_the_appearance_photos_head_and_body_come_along(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The person of files["photo"] (noise: every pixel its own) put into a plain picture twice
    # the size, standing elsewhere at twice their size: around the nose and along the shins
    # are the photo's own pixels, enlarged, not the (tiny, untrained) model's render.
    import cv2

    photo = np.asarray(Image.open(files["photo"]).convert("RGB"))
    background = tmp_path / "room.png"
    Image.fromarray(np.full((2 * H, 2 * W, 3), (150, 110, 90), np.uint8)).save(background)
    here = Pose.template(W, H, (60, 20, 100, 150))
    there = Pose.template(2 * W, 2 * H, (200, 60, 280, 320))
    target = tmp_path / "there.json"
    write_openpose(target, [there], (2 * W, 2 * H))
    outs = {k: tmp_path / f"{k}.png" for k in ("both", "head", "none")}
    base = [*_base(files), "--pose", str(target), "--composite", "--background", str(background)]
    assert _run([*base, "-o", str(outs["both"])], capsys)[0] == 0
    assert _run([*base, "-o", str(outs["head"]), "--no-borrow-body"], capsys)[0] == 0
    assert _run([*base, "-o", str(outs["none"]), "--no-borrow-head", "--no-borrow-body"], capsys)[0] == 0
    shown = {k: np.asarray(Image.open(p)).astype(np.float64) for k, p in outs.items()}

    def likeness(image: np.ndarray, a: str, b: str | None = None) -> float:
        """How much the shown place of joint a (or the middle of bone a-b) looks like the photo's own."""
        def at(pose: Pose) -> tuple[int, int]:
            xy = pose.xy[JOINT_INDEX[a]] if b is None else 0.5 * (pose.xy[JOINT_INDEX[a]] + pose.xy[JOINT_INDEX[b]])
            return round(float(xy[0])), round(float(xy[1]))

        (sx, sy), (tx, ty) = at(here), at(there)
        own = cv2.resize(photo[sy - 3 : sy + 3, sx - 3 : sx + 3], (12, 12), interpolation=cv2.INTER_LINEAR)
        return float(np.corrcoef(image[ty - 6 : ty + 6, tx - 6 : tx + 6].ravel(), own.astype(np.float64).ravel())[0, 1])

    assert likeness(shown["both"], "cnose") > 0.6
    assert likeness(shown["head"], "cnose") > 0.6
    assert likeness(shown["none"], "cnose") < 0.3
    # The shins: the photo's own with the body carried, else the render's.
    assert likeness(shown["both"], "lknee", "lankle") > 0.6
    assert likeness(shown["head"], "lknee", "lankle") < 0.3
    kx, ky = (round(float(v)) for v in there.xy[JOINT_INDEX["lknee"]])
    assert np.array_equal(shown["head"][ky - 2 : ky + 3, kx - 2 : kx + 3], shown["none"][ky - 2 : ky + 3, kx - 2 : kx + 3])


def test_batch_folder_and_pattern(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, err = _run([*_base(files), "--pose", str(files["walk"]), "-o", str(tmp_path / "frames")], capsys)
    assert code == 0, err
    # Three frames: the cut temporary beside the poses is skipped, not an error.
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["f0.png", "f1.png", "f2.png"]
    files_ = [str(files["walk"] / f"f{i}.json") for i in (2, 0)]
    code, err = _run(
        [*_base(files), "--pose", *files_, "-o", str(tmp_path / "n" / "img_%03d.png"), "-q"], capsys
    )
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "n").iterdir()) == ["img_000.png", "img_001.png"]
    # Numbered in the order given: img_000 is f2's pose.
    a = np.asarray(Image.open(tmp_path / "n" / "img_000.png"))
    assert np.array_equal(a, np.asarray(Image.open(tmp_path / "frames" / "f2.png")))


def _bad_cases(f: dict[str, Path], d: Path) -> dict[str, tuple[list[str], str]]:
    corrupt_img = d / "corrupt.png"
    corrupt_img.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    corrupt_ckpt = d / "corrupt.safetensors"
    corrupt_ckpt.write_bytes(b"garbage" * 10)
    malformed = d / "malformed.json"
    malformed.write_text('{"people": [{"pose_keypoints_2d": [1, 2, 3]}]}')
    not_json = d / "notjson.json"
    not_json.write_text("{oops")
    no_torso = d / "no_torso.json"
    p = Pose.template(W, H).with_visible(JOINT_INDEX["rshoulder"], False)
    write_openpose(no_torso, [p], (W, H))
    pose = str(f["pose"])
    out = str(d / "o.png")
    return {
        "missing image": (["--appearance", str(d / "nope.png"), "--appearance-pose", pose, "--pose", pose, "-o", out], "nope.png"),
        "corrupt image": (["--appearance", str(corrupt_img), "--appearance-pose", pose, "--pose", pose, "-o", out], "corrupt.png"),
        "missing pose": ([*_base(f), "--pose", str(d / "nope.json"), "-o", out], "nope.json"),
        "malformed pose": ([*_base(f), "--pose", str(malformed), "-o", out], "malformed.json"),
        "not json": ([*_base(f), "--pose", str(not_json), "-o", out], "notjson.json"),
        "no torso": ([*_base(f), "--pose", str(no_torso), "-o", out], "torso"),
        "corrupt checkpoint": (
            ["--appearance", str(f["photo"]), "--appearance-pose", pose, "--pose", pose, "-o", out, "--checkpoint", str(corrupt_ckpt)],
            "corrupt.safetensors",
        ),
        "missing checkpoint": (
            ["--appearance", str(f["photo"]), "--appearance-pose", pose, "--pose", pose, "-o", out, "--checkpoint", str(d / "no.safetensors")],
            "no.safetensors",
        ),
        "bad output type": ([*_base(f), "--pose", pose, "-o", str(d / "o.xyz")], "o.xyz"),
    }  # fmt: skip


@pytest.mark.parametrize(
    "case",
    [
        "missing image",
        "corrupt image",
        "missing pose",
        "malformed pose",
        "not json",
        "no torso",
        "corrupt checkpoint",
        "missing checkpoint",
        "bad output type",
    ],
)
def test_bad_input_one_clear_line(
    case: str, files: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv, needle = _bad_cases(files, tmp_path)[case]
    code, err = _run(argv, capsys)
    assert code == 1
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("vunet-studio render: error:")
    assert needle in lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "o.png").exists()


def test_without_appearance_pose_says_how(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    import vunet_studio.estimation as est

    def unavailable(*a: object, **k: object) -> object:
        raise est.EstimatorUnavailable("openpifpaf is not installed.")

    def chain(*a: object, **k: object) -> est.EstimatorChain:
        return est.EstimatorChain(openpifpaf_factory=unavailable, bundled_factory=unavailable)

    monkeypatch.setattr(est, "create_chain", chain)
    alone = files["dir"] / "alone"  # no pose file beside it, so the estimator is asked
    alone.mkdir(exist_ok=True)
    shutil.copy(files["photo"], alone / "person.png")
    argv = [
        "--appearance",
        str(alone / "person.png"),
        "--pose",
        str(files["pose"]),
        "-o",
        str(files["dir"] / "x.png"),
    ]
    code, err = _run([*argv, "--checkpoint", str(files["ckpt"])], capsys)
    assert code == 1
    assert "Traceback" not in err
    assert "openpifpaf is not installed" in err
    assert "--appearance-pose" in err


def test_estimated_appearance_pose_is_used(
    files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    import vunet_studio.estimation as est

    class Fake:
        def estimate(self, image: np.ndarray) -> list[Pose]:
            assert image.shape == (H, W, 3)
            return [Pose.template(W, H, (60, 20, 100, 150))]

    monkeypatch.setattr(est, "create_chain", lambda *a, **k: est.EstimatorChain(bundled_factory=Fake))
    out = tmp_path / "est.png"
    argv = ["--appearance", str(files["photo"]), "--pose", str(files["pose"]), "-o", str(out)]
    code, err = _run([*argv, "--checkpoint", str(files["ckpt"])], capsys)
    assert code == 0, err
    ref = tmp_path / "ref.png"
    assert main([*_base(files), "--pose", str(files["pose"]), "-o", str(ref)]) == 0
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(ref)))


def test_subprocess_bad_checkpoint(files: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(json.dumps({"x": 1}).encode())
    argv = [
        sys.executable, "-m", "vunet_studio", "render", "--appearance", str(files["photo"]),
        "--appearance-pose", str(files["pose"]), "--pose", str(files["pose"]), "-o", str(tmp_path / "o.png"),
        "--checkpoint", str(bad),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0
    assert "broken.safetensors" in proc.stderr
