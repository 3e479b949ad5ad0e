"""Warped parts (`VUNetConfig.warped_parts`): the appearance's part crops warped onto the target
pose as E_theta's extra input, in the data, the engine, vunet-eval and warm starts.

z is 2x2 and 4x4 at 128 px: a stripe cannot travel through it. These tests pin that the warp
puts a pattern where the target pose puts the part, and that every path feeds the same input.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _training_helpers import renders_before_and_after, tiny_config, tiny_model_config, warm_start_with

from training.config import ConfigError, TrainConfig
from training.data import SynthDataset
from vunet_studio.engine import AppearanceImage, RenderEngine
from vunet_studio.framing import pose_box, pose_in_box
from vunet_studio.model import VUNet, load_checkpoint, save_checkpoint
from vunet_studio.model_inputs import (
    appearance_input,
    shape_input,
    stickman_tensor,
    to_model_frame,
    warp_parts,
)
from vunet_studio.pose import Pose
from vunet_studio.skeleton import JOINT_INDEX

WARP = tiny_model_config(scene_context=True, modulation=True, warped_parts=True)


def _striped(shift: float = 0.0, period: int = 8) -> tuple[np.ndarray, Pose]:
    """A 128x128 photo of a person box with horizontal stripes (period px), and its pose."""
    img = np.full((128, 128, 3), (40, 160, 60), np.uint8)
    pose = Pose.template(128, 128, (34 + shift, 10, 60, 110))
    x0, y0, x1, y1 = (int(v) for v in pose.bbox())  # type: ignore[misc]
    rows = np.arange(128)
    stripes = np.where((rows // (period // 2)) % 2 == 0, 230, 20).astype(np.uint8)
    img[y0:y1, x0:x1] = stripes[y0:y1, None, None]
    return img, pose


def _torso_box(pose: Pose) -> tuple[int, int, int, int]:
    sh = pose.xy[[JOINT_INDEX["lshoulder"], JOINT_INDEX["rshoulder"]]]
    hip = pose.xy[[JOINT_INDEX["lhip"], JOINT_INDEX["rhip"]]]
    x0 = max(sh[:, 0].min(), hip[:, 0].min())
    x1 = min(sh[:, 0].max(), hip[:, 0].max())
    y0, y1 = sh[:, 1].max(), hip[:, 1].min()
    return int(x0) + 3, int(y0) + 3, int(x1) - 3, int(y1) - 3  # inside the torso, off its edges


def test_warp_carries_a_pattern_to_where_the_target_pose_puts_the_part() -> None:
    img, pose = _striped()
    parts = appearance_input(img, pose, WARP)
    target = pose.translated(25, 6)  # the person moved right and down
    w = warp_parts(parts, target, WARP)
    assert w.shape == (4, 128, 128)
    assert w.dtype == torch.float32
    x0, y0, x1, y1 = _torso_box(target)
    assert float(w[3, y0:y1, x0:x1].min()) > 0.99  # the torso is covered
    assert float(w[3, :, :5].max()) == 0.0
    assert float(w[:3, :, :5].abs().max()) == 0.0
    # The stripes sit where the moved torso is, 6 px lower than in the photo.
    profile = w[0, y0:y1, x0:x1].mean(dim=1).numpy()
    photo = img[y0 - 6 : y1 - 6, x0 - 25 : x1 - 25, 0].mean(axis=1) / 127.5 - 1.0
    assert np.corrcoef(profile, photo)[0, 1] > 0.9
    assert np.ptp(profile) > 1.0  # still stripes, not their mean colour


def test_warp_leaves_out_missing_parts_and_no_appearance() -> None:
    img, pose = _striped()
    parts = appearance_input(img, pose, WARP)
    assert float(warp_parts(None, pose, WARP).abs().max()) == 0.0
    # A part the target pose lacks (no right wrist) and a part missing from the photo (no left
    # elbow there) are not painted; the torso still is.
    target = pose.with_visible(JOINT_INDEX["rwrist"], False)
    no_arm = pose.with_visible(JOINT_INDEX["lelbow"], False)
    full = warp_parts(parts, pose, WARP)
    fewer = warp_parts(appearance_input(img, no_arm, WARP), target, WARP)
    assert float(fewer[3].sum()) < float(full[3].sum())
    x0, y0, x1, y1 = _torso_box(pose)
    assert torch.allclose(fewer[:, y0:y1, x0:x1], full[:, y0:y1, x0:x1], atol=1e-5)


def test_shape_input_is_the_stickman_then_the_warp() -> None:
    img, pose = _striped()
    parts = appearance_input(img, pose, WARP)
    x = shape_input(pose, parts, WARP)
    assert x.shape == (WARP.shape_channels, 128, 128) == (7, 128, 128)
    assert torch.equal(x[:3], stickman_tensor(pose, 128))
    assert torch.equal(x[3:], warp_parts(parts, pose, WARP))
    plain = tiny_model_config()
    assert torch.equal(shape_input(pose, parts, plain), stickman_tensor(pose, 128))


def test_data_items_carry_the_warp_and_drop_it_when_asked() -> None:
    data = SynthDataset(WARP, seed=5, pair_fraction=1.0)
    item = data[0]
    assert item["shape"].shape == (7, 128, 128)
    assert float(item["shape"][6].max()) == 1.0  # some part was painted
    dropped = SynthDataset(WARP, seed=5, pair_fraction=1.0, warp_dropout=1.0)[0]
    assert torch.equal(dropped["shape"][:3], item["shape"][:3])
    assert float(dropped["shape"][3:].abs().max()) == 0.0
    assert torch.equal(dropped["image"], item["image"])
    assert torch.equal(dropped["parts"], item["parts"])
    some = SynthDataset(WARP, seed=5, warp_dropout=0.25)
    share = np.mean([some.drops_warp(i) for i in range(400)])
    assert 0.15 < share < 0.35


def test_warp_dropout_is_validated() -> None:
    d = tiny_config().to_dict()
    d["data"]["warp_dropout"] = -0.1
    with pytest.raises(ConfigError, match="warp_dropout"):
        TrainConfig.from_dict(d).validate()
    d["data"].update(warp_dropout=0.1, kind="folder", path="x")
    with pytest.raises(ConfigError, match="synth"):
        TrainConfig.from_dict(d).validate()


def _warped_model(seed: int = 0) -> VUNet:
    torch.manual_seed(seed)
    net = VUNet(WARP)
    batches = []
    for shift in (0.0, 20.0):
        img, pose = _striped(shift)
        parts = appearance_input(img, pose, WARP)
        batches.append((parts[None], shape_input(pose, parts, WARP)[None]))
    net.data_dependent_init(batches)
    return net.eval()


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> RenderEngine:
    path = save_checkpoint(_warped_model(), tmp_path_factory.mktemp("warp") / "warp.safetensors")
    return RenderEngine(path, device="cpu", precision="fp32", warmup=True)


def test_engine_renders_match_the_model_with_the_warp(engine: RenderEngine) -> None:
    img, pose = _striped()
    src = AppearanceImage(img, pose)
    app = engine.encode(src)
    target = pose.translated(12, 0)
    out = engine.render(app, target).image.astype(np.int16)
    parts = engine.appearance_input(src)
    stick = shape_input(pose_in_box(target, pose_box(target), 128), parts, engine.config)[None]
    with torch.no_grad():
        ref = engine.model.transfer(parts[None], stick)
    ref_img = ((ref[0].clamp(-1, 1) + 1) * 127.5).round().permute(1, 2, 0).numpy().astype(np.int16)
    assert np.abs(out - ref_img).max() <= 1
    # The same latents without the warp give another render: the warp reaches the pixels.
    stick_bare = shape_input(pose_in_box(target, pose_box(target), 128), None, engine.config)[None]
    with torch.no_grad():
        bare = engine.model.transfer(parts[None], stick_bare)
    assert (bare - ref).abs().mean() > 1e-3


def test_engine_warps_mixed_parts_and_samples_without_a_warp(engine: RenderEngine) -> None:
    a, pa = _striped()
    b = np.full_like(a, 200)
    sa, sb = AppearanceImage(a, pa), AppearanceImage(b, pa)
    mixed = engine.encode([sb] + [sa] * 7)  # torso from the flat grey photo
    kept = mixed.latents.parts
    assert kept is not None
    assert torch.equal(kept[:3], engine.appearance_input(sb)[:3])
    assert torch.equal(kept[3:24], engine.appearance_input(sa)[3:24])
    assert engine.render(mixed, pa).image.shape == (128, 128, 3)
    prior = engine.sample_appearance(pa, seed=3)
    assert prior.latents.parts is None
    assert engine.render(prior, pa).image.shape == (128, 128, 3)


def test_eval_runs_a_warped_model(tmp_path: Path) -> None:
    from training.evaluate import main
    from training.synth.cli import write_pairs

    ckpt = save_checkpoint(_warped_model(), tmp_path / "w.safetensors")
    write_pairs(tmp_path / "pairs", 2, size=128, seed=0)
    out = tmp_path / "eval.json"
    args = ["--checkpoint", str(ckpt), "--pairs", str(tmp_path / "pairs"), "--json", str(out), "--no-progress"]
    assert main(args) == 0
    assert json.loads(out.read_text())["pairs"] == 2


@pytest.mark.slow
def test_warm_start_adds_the_warp_without_changing_renders(tmp_path: Path) -> None:
    old, t, data, _ = warm_start_with(tmp_path, warped_parts=True)
    assert data[0]["shape"].shape[0] == 7
    before, after = renders_before_and_after(old, t.model, data[0])
    assert torch.allclose(before, after, atol=1e-5)
    t.run()  # and it trains
    assert load_checkpoint(tmp_path / "b" / "model.safetensors")[1].config.warped_parts


def test_frames_agree_between_the_photo_and_the_model_frame() -> None:
    # A pose given in a photo's pixels (here 256 px) is warped once moved into the model's
    # S x S frame; the warp refuses it before, rather than convert it a second time.
    img, pose = _striped()
    big = np.repeat(np.repeat(img, 2, axis=0), 2, axis=1)
    big_pose = pose.scaled(2.0, 2.0)
    _frame, p = to_model_frame(big, big_pose, 128)
    parts = appearance_input(big, big_pose, WARP)
    with pytest.raises(ValueError, match="256x256 frame"):
        warp_parts(parts, big_pose, WARP)
    assert torch.allclose(warp_parts(parts, pose, WARP), warp_parts(parts, p, WARP), atol=1e-5)
