"""The scene input of F_phi (`VUNetConfig.scene_context`): inputs, mixing, engine, warm start.

Part crops hold almost none of the background, so a model that should keep the photo's scene
needs the whole frame too; these tests pin where that frame comes from in every path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from _training_helpers import renders_before_and_after, tiny_config, tiny_model_config, warm_start_with

from training.config import ConfigError, TrainConfig
from training.data import SynthDataset
from training.trainer import Trainer
from vunet_studio.engine import AppearanceImage, RenderEngine
from vunet_studio.model import VUNet, save_checkpoint
from vunet_studio.model_inputs import (
    appearance_input,
    appearance_input_mixed,
    mix_appearance,
    stickman_tensor,
    to_model_frame,
)
from vunet_studio.pose import Pose
from vunet_studio.skeleton import NUM_PARTS

CFG = tiny_model_config(scene_context=True)


def _photo(colour: tuple[int, int, int], body: tuple[int, int, int] = (200, 40, 40)) -> tuple[np.ndarray, Pose]:
    """A 160x120 photo: a flat background and a flat-coloured person box."""
    img = np.empty((160, 120, 3), np.uint8)
    img[:] = colour
    pose = Pose.template(120, 160, (30, 15, 60, 130))
    x0, y0, x1, y1 = (int(v) for v in pose.bbox())  # type: ignore[misc]
    img[y0:y1, x0:x1] = body
    return img, pose


def test_scene_channels_are_the_downsampled_frame() -> None:
    assert CFG.appearance_channels == 3 * NUM_PARTS + 3
    img, pose = _photo((10, 200, 90))
    x = appearance_input(img, pose, CFG)
    assert x.shape == (27, CFG.part_size, CFG.part_size)
    frame, _ = to_model_frame(img, pose, CFG.image_size)
    corner = (frame[0, 0].astype(np.float32) / 127.5 - 1.0).tolist()
    assert x[24:, 0, 0].tolist() == pytest.approx(corner, abs=1e-5)  # the background, top left
    # The part channels are exactly the reference's 24: the scene only adds channels.
    plain = appearance_input(img, pose, tiny_model_config())
    assert torch.equal(x[:24], plain)


def test_mixed_appearance_takes_the_scene_from_the_torso_source() -> None:
    a, pa = _photo((10, 200, 90))
    b, pb = _photo((250, 250, 250), body=(20, 20, 200))
    ia, ib = appearance_input(a, pa, CFG), appearance_input(b, pb, CFG)
    mixed = appearance_input_mixed([(b, pb)] + [(a, pa)] * 7, CFG)
    assert torch.equal(mixed[24:], ib[24:])
    assert torch.equal(mixed[3:24], ia[3:24])
    pre = mix_appearance([ia, ib], [1, 0, 0, 0, 0, 0, 0, 0])
    assert torch.equal(pre, mixed)
    assert torch.equal(mix_appearance([ia, ib], [None, 1, 1, 1, 1, 1, 1, 1])[24:], ib[24:])


def test_engine_renders_a_scene_model_and_mixes_its_scene(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = VUNet(CFG)
    a, pa = _photo((10, 200, 90))
    b, pb = _photo((250, 240, 230), body=(20, 20, 200))
    net.data_dependent_init([(appearance_input(x, px, CFG)[None], stickman_tensor(to_model_frame(x, px, 128)[1], 128)[None]) for x, px in ((a, pa), (b, pb))])
    engine = RenderEngine(save_checkpoint(net.eval(), tmp_path / "scene.safetensors"), device="cpu", warmup=False)
    b, pb = _photo((250, 250, 250), body=(20, 20, 200))
    sa, sb = AppearanceImage(a, pa), AppearanceImage(b, pb)
    img = engine.render(engine.encode(sa), pa).image
    assert img.shape[2] == 3
    assert img.dtype == np.uint8
    calls: list[torch.Tensor] = []
    real = engine.net.encode
    engine.net.encode = lambda parts: calls.append(parts) or real(parts)  # type: ignore[method-assign]
    try:
        engine.encode([sb] + [sa] * 7)
    finally:
        del engine.net.encode
    ia, ib = engine.appearance_input(sa), engine.appearance_input(sb)
    assert calls[0].shape[1] == 27
    assert torch.equal(calls[0][0, 24:], ib[24:])
    assert torch.equal(calls[0][0, 3:24], ia[3:24])


@pytest.mark.slow
def test_warm_start_adds_the_scene_without_changing_renders(tmp_path: Path) -> None:
    old, t, data, d = warm_start_with(tmp_path, scene_context=True)
    before, after = renders_before_and_after(old, t.model, data[0])
    assert torch.allclose(before, after, atol=1e-5)
    # Any other architecture change is still refused.
    d["model"]["overrides"]["latent_channels"] = 16
    with pytest.raises(Exception, match="differs"):
        Trainer(TrainConfig.from_dict(d), tmp_path / "c", dataset=data, tensorboard=False)


def test_pair_items_show_the_person_in_another_pose() -> None:
    cfg = tiny_config().model.build()
    pairs = SynthDataset(cfg, seed=11, pair_fraction=1.0)
    own = SynthDataset(cfg, seed=11)
    p, o = pairs[0], own[0]
    assert not torch.equal(p["shape"], o["shape"]) or not torch.equal(p["image"], o["image"])
    # F_phi sees the same person as the plain item (the pair's first pose is the sample's pose).
    assert torch.equal(p["parts"], o["parts"])
    assert torch.equal(pairs[0]["image"], p["image"])  # deterministic
    half = SynthDataset(cfg, seed=11, pair_fraction=0.5)
    share = np.mean([half.is_pair(i) for i in range(400)])
    assert 0.4 < share < 0.6


def test_pair_fraction_is_validated() -> None:
    d = tiny_config().to_dict()
    d["data"]["pair_fraction"] = 1.5
    with pytest.raises(ConfigError, match="pair_fraction"):
        TrainConfig.from_dict(d).validate()
    d["data"].update(pair_fraction=0.5, kind="folder", path="x")
    with pytest.raises(ConfigError, match="synth"):
        TrainConfig.from_dict(d).validate()


# --- appearance modulation ---------------------------------------------------------------
MOD = tiny_model_config(scene_context=True, modulation=True)


def _modulated_model(seed: int = 0) -> VUNet:
    torch.manual_seed(seed)
    net = VUNet(MOD)
    photos = [_photo((10, 200, 90)), _photo((250, 240, 230), body=(20, 20, 200))]
    # Two samples: the data-dependent init needs a variance even at the 1x1 prior groups.
    net.data_dependent_init([(appearance_input(a, pa, MOD)[None], stickman_tensor(to_model_frame(a, pa, 128)[1], 128)[None]) for a, pa in photos])
    with torch.no_grad():  # trained-like: modulation on (it starts at zero)
        for p in list(net.enc_down.summary.parameters()) + list(net.dec_down.films.parameters()):
            p.normal_(0, 0.05)
    return net.eval()


def test_modulation_carries_the_mean_colours_into_the_render() -> None:
    net = _modulated_model()
    a, pa = _photo((10, 200, 90))
    b, pb = _photo((10, 200, 90), body=(20, 20, 200))  # same scene and pose, other clothes
    stick = stickman_tensor(to_model_frame(a, pa, 128)[1], 128)[None]
    with torch.no_grad():
        ra = net.transfer(appearance_input(a, pa, MOD)[None], stick)
        rb = net.transfer(appearance_input(b, pb, MOD)[None], stick)
        # Sampling from the prior runs the modulation off the sampled z_0 (an untrained
        # prior's samples are huge: only the shape is meaningful here).
        s = net.sample(stick, generator=torch.Generator().manual_seed(1))
    assert (ra - rb).abs().mean() > 1e-3
    assert s.shape == ra.shape


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_fast_path_matches_the_model_with_modulation(precision: str) -> None:
    from vunet_studio.fastpath import PRECISION_TOLERANCE, FastVUNet, psnr

    net = _modulated_model()
    fast = FastVUNet(net, precision=precision)
    a, pa = _photo((10, 200, 90))
    parts = appearance_input(a, pa, MOD)[None]
    stick = stickman_tensor(to_model_frame(a, pa, 128)[1], 128)[None]
    with torch.no_grad():
        ref = net.transfer(parts, stick)
    out = fast.decode(stick, fast.prepare(fast.encode(parts)))
    assert psnr(out, ref) >= PRECISION_TOLERANCE[precision]


@pytest.mark.slow
def test_warm_start_adds_modulation_without_changing_renders(tmp_path: Path) -> None:
    old, t, data, _ = warm_start_with(tmp_path, modulation=True)
    before, after = renders_before_and_after(old, t.model, data[0])
    assert torch.allclose(before, after, atol=1e-5)
