"""The VUNet on tiny widths: shapes, determinism, caching, folding, data-dependent init."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
from _training_helpers import tiny_model_config

from vunet_studio.model import VUNet, VUNetConfig
from vunet_studio.model.layers import WNConv2d, depth_to_space, space_to_depth

torch.set_num_threads(2)


def inputs(cfg: VUNetConfig, batch: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    parts = torch.rand(batch, cfg.appearance_channels, cfg.part_size, cfg.part_size, generator=g) * 2 - 1
    shape = torch.rand(batch, cfg.shape_channels, cfg.image_size, cfg.image_size, generator=g) * 2 - 1
    return parts, shape


@pytest.fixture(scope="module")
def model128() -> VUNet:
    torch.manual_seed(0)
    cfg = tiny_model_config(128)
    m = VUNet(cfg)
    m.data_dependent_init([inputs(cfg, 2, seed=1)])
    return m.eval()


def test_official_configs() -> None:
    c128, c256 = VUNetConfig.for_size(128), VUNetConfig.for_size(256)
    assert (c128.n_scales, c128.bottleneck_factor, c128.part_size) == (7, 1, 64)
    assert (c256.n_scales, c256.bottleneck_factor, c256.part_size) == (7, 2, 64)
    assert [c128.decoder_channels(s) for s in range(7)] == [32, 64, 128, 128, 128, 128, 128]
    assert c128.latent_shapes == ((128, 2, 2), (128, 4, 4))
    assert c256.latent_shapes == ((128, 4, 4), (128, 8, 8))
    assert c128.appearance_channels == 24


def test_config_roundtrip_and_frozen() -> None:
    cfg = tiny_model_config(256)
    assert VUNetConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.image_size = 64  # type: ignore[misc]
    with pytest.raises(ValueError, match="unknown VUNetConfig fields"):
        VUNetConfig.from_dict({**cfg.to_dict(), "bogus": 1})


@pytest.mark.parametrize("size", [128, 256])
def test_shapes_and_finite_kl(size: int) -> None:
    torch.manual_seed(0)
    cfg = tiny_model_config(size)
    model = VUNet(cfg).train()
    parts, shape = inputs(cfg)
    out = model(parts, shape)
    assert out.image.shape == (2, 3, size, size)
    assert out.kl.shape == (2,)
    assert torch.isfinite(out.kl).all()
    assert (out.kl >= 0).all()
    assert [tuple(m.shape[1:]) for m in out.posterior_means] == list(cfg.latent_shapes)
    assert [tuple(m.shape[1:]) for m in out.prior_means] == list(cfg.latent_shapes)
    out.image.mean().add(out.kl.mean()).backward()  # gradients reach every parameter
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    with torch.no_grad():
        assert model.sample(shape).shape == (2, 3, size, size)
        assert [tuple(z.shape[1:]) for z in model.sample_latents(shape)] == list(cfg.latent_shapes)


def test_kl_is_half_squared_mean_difference(model128: VUNet) -> None:
    parts, shape = inputs(model128.config)
    with torch.no_grad():
        out = model128(parts, shape)
    want = sum(
        0.5 * (q - p).pow(2).sum(dim=(1, 2, 3))
        for q, p in zip(out.posterior_means, out.prior_means, strict=True)
    )
    torch.testing.assert_close(out.kl, want)


def test_transfer_deterministic_and_cached_decode(model128: VUNet) -> None:
    parts, shape = inputs(model128.config)
    model128.train()  # inference methods must ignore dropout even in training mode
    try:
        with torch.no_grad():
            a = model128.transfer(parts, shape)
            b = model128.transfer(parts, shape)
            c = model128.decode(shape, model128.encode_appearance(parts))
    finally:
        model128.eval()
    assert torch.equal(a, b)
    assert torch.equal(a, c)


def test_sampling_uses_generator(model128: VUNet) -> None:
    _, shape = inputs(model128.config, batch=1)
    with torch.no_grad():
        a = model128.sample(shape, generator=torch.Generator().manual_seed(3))
        b = model128.sample(shape, generator=torch.Generator().manual_seed(3))
        c = model128.sample(shape, generator=torch.Generator().manual_seed(4))
        zs = model128.sample_latents(shape, generator=torch.Generator().manual_seed(3))
        d = model128.decode(shape, zs)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    torch.testing.assert_close(a, d)


def test_prior_is_autoregressive_and_teacher_forced(model128: VUNet) -> None:
    """Changing the posterior's last sub-pixel group must not change any prior group mean."""
    _parts, _shape = inputs(model128.config, batch=1)
    prior = model128.dec_down.priors[1]
    h = torch.randn(1, model128.config.decoder_channels(5), 4, 4)
    z = torch.randn(1, model128.config.latent_channels, 4, 4)
    z2 = z.clone()
    z2[:, :, 1::2, 1::2] += 1.0  # group 3 = sub-pixel (1, 1)
    with torch.no_grad():
        m1, _ = prior(h, z, dropout=False)
        m2, _ = prior(h, z2, dropout=False)
    torch.testing.assert_close(m1, m2)
    z3 = z.clone()
    z3[:, :, 0::2, 0::2] += 1.0  # group 0 feeds groups 1..3 but not itself
    with torch.no_grad():
        m3, _ = prior(h, z3, dropout=False)
    torch.testing.assert_close(m1[:, :, 0::2, 0::2], m3[:, :, 0::2, 0::2])
    assert not torch.allclose(m1[:, :, 1::2, 1::2], m3[:, :, 1::2, 1::2])


def test_space_to_depth_is_tf_order() -> None:
    x = torch.arange(2 * 4 * 4, dtype=torch.float32).reshape(1, 2, 4, 4)
    y = space_to_depth(x)
    # Group k (channels k*C .. k*C + C-1) is the sub-pixel position (k // 2, k % 2).
    torch.testing.assert_close(y[:, 0:2], x[:, :, 0::2, 0::2])
    torch.testing.assert_close(y[:, 2:4], x[:, :, 0::2, 1::2])
    torch.testing.assert_close(y[:, 4:6], x[:, :, 1::2, 0::2])
    torch.testing.assert_close(depth_to_space(y), x)


def test_stride2_pads_bottom_right_like_tf() -> None:
    conv = WNConv2d(1, 1, 3, stride=2)
    with torch.no_grad():
        conv.v.zero_()
        conv.v[0, 0, 0, 0] = 1.0  # picks the top-left tap
    x = torch.arange(16, dtype=torch.float32).reshape(1, 1, 4, 4) + 1
    y = conv(x)
    # TF SAME on an even size pads bottom/right only, so output (0, 0)'s top-left tap is x[0, 0].
    assert y.shape == (1, 1, 2, 2)
    torch.testing.assert_close(y[0, 0], x[0, 0, 0::2, 0::2])


def test_fold_weight_norm_same_output(model128: VUNet) -> None:
    parts, shape = inputs(model128.config)
    folded = model128.folded_copy()
    assert folded.is_folded
    assert not model128.is_folded
    assert not any(isinstance(m, WNConv2d) for m in folded.modules())
    with torch.no_grad():
        torch.testing.assert_close(
            folded.transfer(parts, shape), model128.transfer(parts, shape), atol=1e-4, rtol=0
        )
        g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
        torch.testing.assert_close(
            folded.sample(shape, g1), model128.sample(shape, g2), atol=1e-4, rtol=0
        )
    assert copy.deepcopy(model128).fold_weight_norm().is_folded  # in place, returns self


def test_channels_last(model128: VUNet) -> None:
    parts, shape = inputs(model128.config)
    cl = copy.deepcopy(model128).to(memory_format=torch.channels_last)
    with torch.no_grad():
        want = model128.transfer(parts, shape)
        got = cl.transfer(
            parts.to(memory_format=torch.channels_last), shape.to(memory_format=torch.channels_last)
        )
        folded = cl.folded_copy()
        got_f = folded.transfer(
            parts.to(memory_format=torch.channels_last), shape.to(memory_format=torch.channels_last)
        )
    torch.testing.assert_close(got, want, atol=1e-4, rtol=0)
    torch.testing.assert_close(got_f, want, atol=1e-4, rtol=0)


def test_data_dependent_init_unit_variance() -> None:
    torch.manual_seed(0)
    cfg = tiny_model_config(128)
    model = VUNet(cfg)
    batch = inputs(cfg, batch=4, seed=5)
    torch.manual_seed(123)
    model.data_dependent_init([batch])
    # Replaying the init pass (same dropout masks and eps) through the ordinary forward shows
    # what the init set up: every conv's output has zero mean and unit variance per channel.
    stats: dict[str, torch.Tensor] = {}

    def hook(name: str):
        def fn(mod: torch.nn.Module, inp: tuple, out: torch.Tensor) -> None:
            stats[name] = torch.stack([out.mean(dim=(0, 2, 3)), out.var(dim=(0, 2, 3), unbiased=False)])

        return fn

    hooks = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if isinstance(m, WNConv2d)]
    torch.manual_seed(123)
    model.train()
    with torch.no_grad():
        model(*batch)
    for h in hooks:
        h.remove()
    assert len(stats) == len(model.weight_norm_convs())
    for name, (mean, var) in stats.items():
        torch.testing.assert_close(mean, torch.zeros_like(mean), atol=1e-3, rtol=0, msg=name)
        torch.testing.assert_close(var, torch.ones_like(var), atol=1e-2, rtol=0, msg=name)
    # Without dropout the output image still has about unit scale (nothing blew up or died).
    model.eval()
    with torch.no_grad():
        img = model.transfer(*batch)
    assert 0.2 < img.std().item() < 5.0


def test_inputs_are_checked(model128: VUNet) -> None:
    parts, shape = inputs(model128.config)
    with pytest.raises(ValueError, match="parts"):
        model128.encode_appearance(parts[:, :3])
    with pytest.raises(ValueError, match="shape input"):
        model128.decode(shape[:, :, :64, :64], model128.encode_appearance(parts))


def test_official_parameter_counts_match_reference() -> None:
    """vunet.md: ≈12.6 M parameters to re-pose, ≈47 M in all, ≈34 M of them in the prior (±10%)."""
    with torch.device("meta"):  # no memory, no init cost
        groups = {
            k: sum(p.numel() for p in v)
            for k, v in VUNet(VUNetConfig.for_size(128)).parameter_groups().items()
        }
    assert abs((groups["F_phi"] + groups["E_theta+D_theta"]) / 12.6e6 - 1) < 0.1
    assert abs(sum(groups.values()) / 47e6 - 1) < 0.1
    assert abs(groups["prior"] / 34e6 - 1) < 0.1
