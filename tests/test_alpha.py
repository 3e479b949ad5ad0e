"""The alpha channel (`VUNetConfig.alpha`): the model says where the person is in its render.

The app composites the re-posed person onto the photo's empty scene; these tests pin that the
channel is carried by every path (training forward, decode, fast path, engine, warm start)
and that training on synthetic masks teaches it something.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from _training_helpers import renders_before_and_after, tiny_model_config, warm_start_with

from training.config import LossSection
from training.losses import ReconstructionLoss
from vunet_studio.engine import AppearanceImage, RenderEngine
from vunet_studio.fastpath import FastVUNet
from vunet_studio.model import VUNet, VUNetConfig, load_checkpoint
from vunet_studio.model_inputs import appearance_input, shape_input, tensor_to_alpha, tensor_to_image
from vunet_studio.pose import Pose

ALPHA = tiny_model_config(alpha=True)


def _inputs(cfg: VUNetConfig) -> tuple[torch.Tensor, torch.Tensor, Pose]:
    img = np.full((128, 128, 3), 90, np.uint8)
    pose = Pose.template(128, 128)
    parts = appearance_input(img, pose, cfg)[None]  # (1, 24, 64, 64)
    return parts, shape_input(pose, parts[0], cfg)[None], pose


def test_an_alpha_model_outputs_rgb_and_a_coverage_in_every_path() -> None:
    torch.manual_seed(0)
    model = VUNet(ALPHA).eval()
    parts, stick, _ = _inputs(ALPHA)
    out = model(parts, stick)
    assert out.image.shape == (1, 3, 128, 128)
    assert out.alpha is not None
    assert out.alpha.shape == (1, 1, 128, 128)
    with torch.no_grad():
        ref = model.transfer(parts, stick)  # (1, 4, S, S)
    assert ref.shape == (1, 4, 128, 128)
    assert tensor_to_image(ref).shape == (1, 128, 128, 3)
    a = tensor_to_alpha(ref[0])
    assert a is not None
    assert a.shape == (128, 128)
    assert 0.0 <= a.min() <= a.max() <= 1.0
    fast = FastVUNet(model.folded_copy(), precision="fp32")
    got = fast.decode(stick, fast.prepare(fast.encode(parts)))
    assert got.shape == (1, 4, 128, 128)
    assert torch.allclose(got, ref, atol=1e-3)


def test_a_model_without_alpha_has_none() -> None:
    cfg = tiny_model_config()
    model = VUNet(cfg).eval()
    parts, stick, _ = _inputs(cfg)
    assert model(parts, stick).alpha is None
    with torch.no_grad():
        assert tensor_to_alpha(model.transfer(parts, stick)[0]) is None


def test_the_engine_returns_the_renders_alpha() -> None:
    torch.manual_seed(0)
    engine = RenderEngine(model=VUNet(ALPHA), device="cpu", precision="fp32", warmup=False)
    _, _, pose = _inputs(ALPHA)
    app = engine.encode(AppearanceImage(np.full((128, 128, 3), 90, np.uint8), pose))
    r = engine.render(app, pose)
    assert r.image.shape == (128, 128, 3)
    assert r.alpha is not None
    assert r.alpha.shape == (128, 128)
    assert r.alpha.dtype == np.float32


def test_the_engine_keeps_a_box_it_is_given() -> None:
    engine = RenderEngine(model=VUNet(ALPHA), device="cpu", precision="fp32", warmup=False)
    _, _, pose = _inputs(ALPHA)
    app = engine.encode(AppearanceImage(np.full((128, 128, 3), 90, np.uint8), pose))
    box = (-10.0, -10.0, 150.0)
    raised = pose.translated(0, -20)  # another pose, same box: no reframing
    assert engine.render(app, raised, box=box).box == box
    assert engine.render(app, raised).box != box


def test_the_alpha_loss_falls_when_the_logit_matches_the_mask() -> None:
    loss = ReconstructionLoss(LossSection(kind="pixel"))
    x = torch.zeros(1, 3, 8, 8)
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 2:6, 2:6] = 1
    _, wrong = loss(x, x, mask, alpha=-(mask * 2 - 1) * 5)
    _, right = loss(x, x, mask, alpha=(mask * 2 - 1) * 5)
    assert right["alpha"] < 0.01 < 1.0 < wrong["alpha"]
    _, none = loss(x, x, mask)
    assert "alpha" not in none


@pytest.mark.slow
def test_warm_start_grows_the_alpha_channel_without_changing_renders(tmp_path: Path) -> None:
    old, t, data, _ = warm_start_with(tmp_path, alpha=True)
    before, after = renders_before_and_after(old, t.model, data[0])
    assert after.shape[1] == 4
    assert torch.allclose(before, after[:, :3], atol=1e-5)
    a = tensor_to_alpha(after[0])
    assert a is not None
    t.run()  # and it trains, the alpha head at its own learning rate
    assert [g["lr_scale"] for g in t.optimizer.param_groups] == [1.0, 10.0]
    assert load_checkpoint(tmp_path / "b" / "model.safetensors")[1].config.alpha
