"""vunet-eval on tiny pairs: JSON with the transfer and both baselines; clean failures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _training_helpers import tiny_model_config

from training.evaluate import main
from training.metrics import l1, psnr, ssim
from vunet_studio.model import VUNet, save_checkpoint

CFG = tiny_model_config()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_checkpoint(VUNet(CFG), path, step=7, extra={"loss": "pixel+gradient"})
    return path


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from training.synth.cli import write_pairs

    root = tmp_path_factory.mktemp("pairs")
    write_pairs(root, 3, size=128, seed=0)
    return root


def test_eval_writes_json_with_both_baselines(checkpoint: Path, pairs: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "eval.json"
    assert (
        main(["--checkpoint", str(checkpoint), "--pairs", str(pairs), "--json", str(out), "--no-progress"])
        == 0
    )
    report = json.loads(out.read_text())
    assert report["pairs"] == 3
    assert report["step"] == 7
    assert set(report["methods"]) == {
        "transfer", "appearance_copy", "prior_mean", "parts_warp", "composite", "shown", "empty_scene"
    }  # fmt: skip
    for m in report["methods"].values():
        assert {"ssim", "psnr", "l1", "ssim_mask", "psnr_mask", "l1_mask", "detail_corr_mask", "detail_ratio_mask"} <= set(m)
        assert -1.0 <= m["ssim"] <= 1.0
    assert "appearance_copy" in capsys.readouterr().out
    assert (
        main(["--checkpoint", str(checkpoint), "--pairs", str(pairs), "--limit", "1", "--no-progress"]) == 0
    )


def test_eval_bad_inputs_fail_cleanly(checkpoint: Path, pairs: Path, tmp_path: Path) -> None:
    assert main(["--checkpoint", str(checkpoint), "--pairs", str(tmp_path / "missing")]) == 2
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"this is not a checkpoint")
    assert main(["--checkpoint", str(bad), "--pairs", str(pairs)]) == 2


def test_prior_mean_latents_are_the_autoregressive_means() -> None:
    torch.manual_seed(1)
    model = VUNet(CFG).eval()
    stick = torch.rand(2, 3, 128, 128) * 2 - 1
    with torch.no_grad():
        z = model.prior_mean_latents(stick)
    assert [tuple(t.shape[1:]) for t in z] == list(CFG.latent_shapes)
    # A fixed point: teacher-forcing the prior on its own means gives the same means back.
    with torch.no_grad():
        _, means, _ = model.dec_down(
            model.dec_up(stick, False), z, with_prior=True, dropout=False, stop_after_latents=True
        )
    for a, b in zip(z, means, strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_metrics_identity_and_known_values() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert ssim(a, a) == pytest.approx(1.0)
    assert psnr(a, a) == float("inf")
    assert l1(a, a) == 0.0
    b = np.clip(a.astype(int) + 10, 0, 255).astype(np.uint8)
    mask = np.zeros((32, 32), bool)
    mask[8:24, 8:24] = True
    assert l1(a, b, mask) <= 10.0
    assert ssim(a, b, mask) < 1.0


def test_ssim_is_wang_et_al_s_with_the_11_pixel_gaussian_window() -> None:
    """The reported SSIMs stay comparable with earlier reports and the papers': each pixel of
    the map is the textbook formula over the 11 x 11 window (sigma 1.5) around it, per channel."""
    from training.metrics import ssim_map

    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-60, 60, a.shape), 0, 255).astype(np.uint8)
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    got = ssim_map(a, b)
    assert got.shape == (14, 10)
    for y, x in [(0, 0), (7, 3), (13, 9)]:
        per_channel = []
        for c in range(3):
            pa = a[y : y + 11, x : x + 11, c].astype(float)
            pb = b[y : y + 11, x : x + 11, c].astype(float)
            ma, mb = (w * pa).sum(), (w * pb).sum()
            va, vb = (w * pa * pa).sum() - ma**2, (w * pb * pb).sum() - mb**2
            cov = (w * pa * pb).sum() - ma * mb
            c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
            per_channel.append(((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
        assert got[y, x] == pytest.approx(np.mean(per_channel), abs=1e-9)


def test_detail_measures_tell_stripes_from_their_mean_colour() -> None:
    from training.metrics import detail

    rows = np.arange(64)
    stripes = np.where((rows // 4) % 2 == 0, 220, 40).astype(np.uint8)
    target = np.repeat(np.repeat(stripes[:, None, None], 64, axis=1), 3, axis=2)  # (64, 64, 3)
    mask = np.zeros((64, 64), bool)
    mask[10:54, 10:54] = True
    corr, ratio = detail(target, target, mask)
    assert corr == pytest.approx(1.0)
    assert ratio == pytest.approx(1.0)
    flat = np.full_like(target, 130)
    corr, ratio = detail(flat, target, mask)
    assert ratio == pytest.approx(0.0, abs=1e-6)
    assert corr == 0.0
    shifted = np.roll(target, 4, axis=0)  # stripes out of phase: detail, in the wrong places
    corr, ratio = detail(shifted, target, mask)
    assert corr < -0.9
    assert ratio == pytest.approx(1.0, abs=0.05)
    assert np.isnan(detail(target, target, np.zeros((64, 64), bool))[0])


def test_the_composite_puts_the_person_back_into_the_scene(tmp_path: Path) -> None:
    """The composite row scores the render inside the person's scene, as the app shows it; an
    alpha model reports how well its alpha matches the true mask. Pairs without a scene.png
    (written before there was one) are scored without it."""
    from training.evaluate import evaluate
    from training.synth.cli import write_pairs

    write_pairs(tmp_path / "pairs", 2, size=128, seed=1)
    torch.manual_seed(0)
    alpha_cfg = tiny_model_config(alpha=True)
    alpha = save_checkpoint(VUNet(alpha_cfg), tmp_path / "a.safetensors")
    report = evaluate(alpha, tmp_path / "pairs")
    comp, scene = report["methods"]["composite"], report["methods"]["empty_scene"]
    assert 0.0 <= comp["alpha_iou"] <= 1.0
    # The scene is exact outside the person: the composite is far closer to the target than
    # the untrained model's square render is.
    assert comp["ssim"] > report["methods"]["transfer"]["ssim"]
    assert scene["ssim"] > 0.5
    for d in (tmp_path / "pairs").iterdir():
        (d / "scene.png").unlink()
    assert "composite" not in evaluate(alpha, tmp_path / "pairs")["methods"]


def test_the_truth_is_cut_from_the_renders_box() -> None:
    """The target and its mask are judged in the render's own square: on whole pixels that is
    exactly the engine's crop (border repeated outside the photo)."""
    from training.evaluate import in_box
    from vunet_studio.framing import crop

    img = np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    box = (-6.0, 10.0, 64.0)
    assert np.array_equal(in_box(img, box, 64), crop(img, box, 64)[0])


def test_the_render_is_framed_as_the_app_frames_a_re_pose_in_the_same_photo(
    pairs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app re-poses a person inside their photo in the stable box (the person's own box,
    grown where joints leave it); vunet-eval scores that render, not one framed its own way."""
    from training.evaluate import evaluate_pair
    from training.pairs import find_pairs, load_pair
    from vunet_studio.composite import stable_box
    from vunet_studio.engine import RenderEngine
    from vunet_studio.framing import pose_box

    engine = RenderEngine(model=VUNet(CFG), device="cpu", precision="fp32", threads=1, warmup=False)
    boxes: list[object] = []
    real = engine.render
    monkeypatch.setattr(engine, "render", lambda app, pose, box=None: boxes.append(box) or real(app, pose, box))
    pair = load_pair(find_pairs(pairs)[0])
    assert pair is not None
    evaluate_pair(engine, pair)
    # One render, in that box: the `shown` row composites the same one as the app would.
    assert boxes == [stable_box(pose_box(pair.appearance_pose), pair.target_pose)]
    assert boxes[0] != pose_box(pair.target_pose)  # the target's own box would frame it otherwise


def test_the_shown_row_is_what_the_app_shows_an_unchanged_pose_is_the_photo(pairs: Path) -> None:
    """`shown` scores the app's output for a re-pose within one photo: what did not move is the
    photo's own, so a target in the appearance's own pose is the appearance image itself,
    whatever the model renders (here an untrained one)."""
    from dataclasses import replace

    from training.evaluate import evaluate_pair
    from training.pairs import find_pairs, load_pair
    from vunet_studio.engine import RenderEngine

    engine = RenderEngine(model=VUNet(CFG), device="cpu", precision="fp32", threads=1, warmup=False)
    pair = load_pair(find_pairs(pairs)[0])
    assert pair is not None
    same = replace(pair, target=pair.appearance.copy(), target_pose=pair.appearance_pose)
    scores = evaluate_pair(engine, same)
    assert scores["shown"]["ssim"] > 0.99
    assert scores["composite"]["ssim"] < 0.95  # the untrained model's render, composited
    # A real edit: the shown row is scored, and is not the unchanged photo.
    assert evaluate_pair(engine, pair)["shown"]["ssim"] < 0.99
