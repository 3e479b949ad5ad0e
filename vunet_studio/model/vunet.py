"""The Variational U-Net (Esser, Sutter & Ommer, CVPR 2018): F_phi, E_theta, D_theta and the prior.

Structure and names follow the official code (CompVis/vunet `models.py`):
  enc_up   (`EncUp`)   F_phi's down path on the part crops,
  enc_down (`EncDown`) F_phi's up path over the 2 lowest scales: posterior means q(z | x, ŷ),
  dec_up   (`DecUp`)   E_theta, the shape encoder on the stickman ŷ,
  dec_down (`DecDown`) D_theta, the decoder with the autoregressive prior p(z | ŷ) inside,
  dec_params (`head`)  a 3x3 conv to RGB, no activation.
Every path keeps its skips as a list pushed on the way down and popped on the way up.
Posterior and prior are unit-variance Gaussians: only means are predicted, z = mean + eps.
Losses and the optimiser live in `training/`, not here.
"""

from __future__ import annotations

import copy
import itertools
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

import torch
from torch import Tensor, nn

from vunet_studio.model.config import VUNetConfig
from vunet_studio.model.layers import (
    Downsample,
    ResidualBlock,
    Upsample,
    WNConv2d,
    depth_to_space,
    nin,
    space_to_depth,
)

logger = logging.getLogger(__name__)


@dataclass
class VUNetOutput:
    """What the training forward returns."""

    image: Tensor  # (B, 3, H, W) in [-1, 1] (unclipped)
    kl: Tensor  # (B,) ½‖mu_q - mu_p‖² summed over both latent scales
    posterior_means: list[Tensor]  # per latent scale, lowest resolution first: (B, L, h, w)
    prior_means: list[Tensor]  # same shapes, teacher-forced on the posterior samples
    posterior_samples: list[Tensor]  # the z actually fed to D_theta: mean + eps
    alpha: Tensor | None = None  # (B, 1, H, W) the person's coverage as a logit, with config.alpha


def _randn_like(t: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.randn(t.shape, generator=generator, device=t.device, dtype=t.dtype)


def _zero_linear(n_in: int, n_out: int) -> nn.Linear:
    lin = nn.Linear(n_in, n_out)
    nn.init.zeros_(lin.weight)
    nn.init.zeros_(lin.bias)
    return lin


def film_params(films: nn.ModuleList | None, z0: Tensor) -> list[Tensor]:
    """(B, 2C) per modulated block from the lowest-scale z (B, L, h, w); [] without modulation."""
    if films is None:
        return []
    m = z0.float().mean(dim=(2, 3))  # (B, L)
    return [f(m) for f in films]


def modulate(h: Tensor, film: Tensor) -> Tensor:
    """h * (1 + gamma) + beta per channel; film (B, 2C) from `DecDown.films`."""
    gamma, beta = film.to(h.dtype).chunk(2, dim=1)  # 2 x (B, C)
    return h * (1.0 + gamma[:, :, None, None]) + beta[:, :, None, None]


class _UpPath(nn.Module):
    """The shared shape of enc_up and dec_up: nin, then per scale n residual blocks and a downsample.

    Returns every residual block's output (2 per scale, full resolution first): the skips.
    """

    def __init__(self, in_channels: int, widths: list[int], n_blocks: int, dropout: float) -> None:
        super().__init__()
        self.inp = nin(in_channels, widths[0])
        self.blocks = nn.ModuleList(
            nn.ModuleList(ResidualBlock(c, None, dropout) for _ in range(n_blocks)) for c in widths
        )
        self.downs = nn.ModuleList(Downsample(a, b) for a, b in itertools.pairwise(widths))

    def forward(self, x: Tensor, dropout: bool) -> list[Tensor]:
        skips: list[Tensor] = []
        h = self.inp(x)  # (B, C0, H, W)
        for s, blocks in enumerate(self.blocks):
            for block in cast(nn.ModuleList, blocks):
                h = block(h, dropout=dropout)  # (B, C_s, H/2^s, W/2^s)
                skips.append(h)
            if s < len(self.downs):
                h = self.downs[s](h)  # (B, C_{s+1}, H/2^(s+1), W/2^(s+1))
        return skips


class EncUp(_UpPath):
    """enc_up: F_phi's down path on the stacked part crops (official: `enc_up`, input xn only)."""

    def __init__(self, cfg: VUNetConfig) -> None:
        widths = [cfg.encoder_channels(s) for s in range(cfg.encoder_scales)]
        super().__init__(cfg.appearance_channels, widths, cfg.n_residual_blocks, cfg.dropout)


class DecUp(_UpPath):
    """dec_up = E_theta: the shape encoder on the stickman (and the warped parts, if any)."""

    def __init__(self, cfg: VUNetConfig) -> None:
        widths = [cfg.decoder_channels(s) for s in range(cfg.n_scales)]
        super().__init__(cfg.shape_channels, widths, cfg.n_residual_blocks, cfg.dropout)


class EncDown(nn.Module):
    """enc_down: F_phi's up path over the latent scales only, predicting the posterior means.

    Per latent scale: n/2 residual blocks (skips from enc_up), the mean (3x3 conv), then n/2
    blocks whose skip is concat(skip, z) so the next scale's posterior depends on this z.
    After the last latent scale the official code still runs the n/2 feedback blocks and an
    upsample whose outputs nothing reads; they are left out here: no output changes, and
    every parameter gets a gradient (DDP without find_unused_parameters needs that).
    """

    def __init__(self, cfg: VUNetConfig) -> None:
        super().__init__()
        half = cfg.n_residual_blocks // 2
        top = cfg.encoder_scales - 1
        widths = [cfg.encoder_channels(top - i) for i in range(cfg.n_latent_scales)]  # lowest scale first
        lat = cfg.latent_channels
        self.inp = nin(widths[0], widths[0])
        self.pre = nn.ModuleList(
            nn.ModuleList(ResidualBlock(c, c, cfg.dropout) for _ in range(half)) for c in widths
        )
        self.mean = nn.ModuleList(WNConv2d(c, lat, 3) for c in widths)
        self.post = nn.ModuleList(
            nn.ModuleList(ResidualBlock(c, c + lat, cfg.dropout) for _ in range(half)) for c in widths[:-1]
        )
        self.ups = nn.ModuleList(Upsample(a, b) for a, b in itertools.pairwise(widths))
        # Modulation: the input's mean colours straight into the lowest z (zero at start, so a
        # warm-started model computes what it did before).
        self.summary = _zero_linear(cfg.appearance_channels, lat) if cfg.modulation else None

    def forward(
        self,
        skips: list[Tensor],
        *,
        sample: bool,
        dropout: bool,
        generator: torch.Generator | None = None,
        parts: Tensor | None = None,
    ) -> tuple[list[Tensor], list[Tensor]]:
        """Posterior (means, z) per latent scale; z = mean (+ eps when `sample`).
        `parts` (F_phi's input) is needed by a model with modulation."""
        gs = list(skips)
        means: list[Tensor] = []
        zs: list[Tensor] = []
        h = self.inp(gs[-1])  # (B, C, h, w) lowest scale
        for i in range(len(self.mean)):
            for block in cast(nn.ModuleList, self.pre[i]):
                h = block(h, gs.pop(), dropout=dropout)
            mean = self.mean[i](h)  # (B, L, h, w)
            if i == 0 and self.summary is not None:
                if parts is None:
                    raise ValueError("a model with modulation needs the parts to encode")
                mean = mean + self.summary(parts.mean(dim=(2, 3)).to(mean.dtype))[:, :, None, None]
            # Feeding the mean (not a sample) on makes transfer deterministic.
            z = mean + _randn_like(mean, generator) if sample else mean  # (B, L, h, w)
            means.append(mean)
            zs.append(z)
            if i == len(self.post):
                break  # the last latent scale: nothing reads h from here on
            for block in cast(nn.ModuleList, self.post[i]):
                h = block(h, torch.cat([gs.pop(), z], dim=1), dropout=dropout)  # skip: (B, C + L, h, w)
            h = self.ups[i](h)  # (B, C', 2h, 2w)
        return means, zs


class LatentPrior(nn.Module):
    """p(z | ŷ) at one latent scale, from D_theta's shape features only.

    Official `dec_down`: features = space_to_depth(residual_block(h), 2), then 4 autoregressive
    groups over the 2x2 sub-pixel positions; group i's mean is a 3x3 conv of the features, and
    the features for group i+1 are residual_block(features, z_i). In training z_i is the
    posterior's group (teacher forcing); when sampling it is mean_i + eps. At a 1x1 latent
    there is nothing to split and the mean is a single 3x3 conv.
    """

    def __init__(self, cfg: VUNetConfig, channels: int, size: int) -> None:
        super().__init__()
        lat = cfg.latent_channels
        self.autoregressive = size > 1
        if not self.autoregressive:
            self.mean = WNConv2d(channels, lat, 3)
            return
        width = cfg.prior_channels
        self.features = ResidualBlock(channels, None, cfg.dropout)
        # Official widths make space-to-depth land exactly on prior_channels (4 x 128 = 512).
        self.proj = nin(4 * channels, width) if width != 4 * channels else None
        self.group_means = nn.ModuleList(WNConv2d(width, lat, 3) for _ in range(4))
        self.group_blocks = nn.ModuleList(ResidualBlock(width, lat, cfg.dropout) for _ in range(3))

    def forward(
        self,
        h: Tensor,
        z: Tensor | None,
        *,
        dropout: bool,
        generator: torch.Generator | None = None,
        noise: bool = True,
    ) -> tuple[Tensor, Tensor]:
        """(prior mean, z): z is the given one (teacher forcing), else a fresh sample, or with
        `noise` False the means themselves (each group fed its mean: the prior's mean latent)."""

        def draw(mean: Tensor) -> Tensor:
            return mean + _randn_like(mean, generator) if noise else mean

        if not self.autoregressive:
            mean = self.mean(h)  # (B, L, 1, 1)
            return mean, (z if z is not None else draw(mean))
        f = space_to_depth(self.features(h, dropout=dropout), 2)  # (B, 4C, h/2, w/2)
        if self.proj is not None:
            f = self.proj(f)  # (B, prior_channels, h/2, w/2)
        given = space_to_depth(z, 2).chunk(4, dim=1) if z is not None else None  # 4 x (B, L, h/2, w/2)
        means: list[Tensor] = []
        samples: list[Tensor] = []
        for i, head in enumerate(self.group_means):
            mean = head(f)  # (B, L, h/2, w/2)
            zi = given[i] if given is not None else draw(mean)
            means.append(mean)
            samples.append(zi)
            if i < len(self.group_blocks):
                f = self.group_blocks[i](f, zi, dropout=dropout)  # (B, prior_channels, h/2, w/2)
        mean = depth_to_space(torch.cat(means, dim=1), 2)  # (B, L, h, w)
        return mean, (z if z is not None else depth_to_space(torch.cat(samples, dim=1), 2))


class DecDown(nn.Module):
    """dec_down = D_theta: the decoder, with the prior at the latent scales.

    Per scale (lowest first): n/2 residual blocks with E_theta skips; at a latent scale the
    prior, then before each of the other n/2 blocks h = nin(concat(h, z)); then the upsample.
    """

    def __init__(self, cfg: VUNetConfig) -> None:
        super().__init__()
        half = cfg.n_residual_blocks // 2
        widths = [cfg.decoder_channels(s) for s in reversed(range(cfg.n_scales))]  # lowest scale first
        lat = cfg.latent_channels
        self.n_latent_scales = cfg.n_latent_scales
        self.inp = nin(widths[0], widths[0])
        self.pre = nn.ModuleList(
            nn.ModuleList(ResidualBlock(c, c, cfg.dropout) for _ in range(half)) for c in widths
        )
        self.priors = nn.ModuleList(
            LatentPrior(cfg, widths[i], size) for i, size in enumerate(cfg.latent_sizes)
        )
        self.fuse = nn.ModuleList(
            nn.ModuleList(nin(c + lat, c) for _ in range(half)) for c in widths[: cfg.n_latent_scales]
        )
        self.post = nn.ModuleList(
            nn.ModuleList(ResidualBlock(c, c, cfg.dropout) for _ in range(half)) for c in widths
        )
        self.ups = nn.ModuleList(Upsample(a, b) for a, b in itertools.pairwise(widths))
        # Modulation: one (gamma, beta) map from mean(z_0) per residual block that runs after
        # z_0 is known (post of scale 0, then every block above), in that order. Zero at start.
        self.films = (
            nn.ModuleList(
                _zero_linear(lat, 2 * widths[i])
                for i in range(len(widths))
                for _ in range(half if i == 0 else 2 * half)
            )
            if cfg.modulation
            else None
        )

    def forward(
        self,
        skips: list[Tensor],
        latents: list[Tensor] | None,
        *,
        with_prior: bool,
        dropout: bool,
        generator: torch.Generator | None = None,
        stop_after_latents: bool = False,
        noise: bool = True,
    ) -> tuple[Tensor | None, list[Tensor], list[Tensor]]:
        """(h at full resolution, prior means, z used).

        latents None: z is sampled from the prior (with `noise` False: its means, group by group). Given latents and `with_prior`: the prior is
        teacher-forced on them (for the KL). Given latents without `with_prior`: the prior is
        skipped, which is all a re-pose needs (it holds most of the parameters).
        `stop_after_latents` returns h = None as soon as the last z is known.
        """
        gs = list(skips)
        prior_means: list[Tensor] = []
        zs: list[Tensor] = []
        films: list[Tensor] = []  # filled once z_0 is known; consumed block by block
        h = self.inp(gs[-1])  # (B, C, h, w) lowest scale
        for i in range(len(self.pre)):
            for block in cast(nn.ModuleList, self.pre[i]):
                h = block(h, gs.pop(), dropout=dropout)
                if films:
                    h = modulate(h, films.pop(0))
            if i < self.n_latent_scales:
                z = latents[i] if latents is not None else None
                if z is None or with_prior:
                    # mean and z: (B, L, h, w) each
                    mean, z = self.priors[i](h, z, dropout=dropout, generator=generator, noise=noise)
                    prior_means.append(mean)
                zs.append(z)
                if i == 0:
                    films = film_params(self.films, z)
                if stop_after_latents and i + 1 == self.n_latent_scales:
                    return None, prior_means, zs
                fuses, blocks = cast(nn.ModuleList, self.fuse[i]), cast(nn.ModuleList, self.post[i])
                for fuse, block in zip(fuses, blocks, strict=True):
                    h = fuse(torch.cat([h, z], dim=1))  # (B, C + L, h, w) -> (B, C, h, w)
                    h = block(h, gs.pop(), dropout=dropout)
                    if films:
                        h = modulate(h, films.pop(0))
            else:
                for block in cast(nn.ModuleList, self.post[i]):
                    h = block(h, gs.pop(), dropout=dropout)
                    if films:
                        h = modulate(h, films.pop(0))
            if i < len(self.ups):
                h = self.ups[i](h)  # (B, C', 2h, 2w)
        if gs:
            raise RuntimeError(f"dec_down left {len(gs)} skips unused")
        return h, prior_means, zs


class VUNet(nn.Module):
    """The whole model. Image tensors are float in [-1, 1], NCHW.

    parts: (B, 24, P, P) stacked part crops, or (B, 27, P, P) with `scene_context` (then the
    scene input): F_phi's input (see `vunet_studio.model_inputs.appearance_input`).
    shape: (B, 3, S, S) the stickman, or (B, 7, S, S) with `warped_parts` (then the
    appearance's parts warped onto it): E_theta's input, built by `model_inputs.shape_input`.
    Inference methods never apply dropout (the official transfer and test passes use
    dropout_p = 0), whatever `self.training` says; `forward` applies it in training mode.
    """

    def __init__(self, config: VUNetConfig) -> None:
        super().__init__()
        self.config = config
        self.enc_up = EncUp(config)
        self.enc_down = EncDown(config)
        self.dec_up = DecUp(config)
        self.dec_down = DecDown(config)
        self.head = WNConv2d(config.base_channels, config.image_channels, 3)
        # Its own conv (not a 4th row of `head`): a warm start grows it without touching the
        # RGB head, and the trainer gives it its own learning rate (`optim.alpha_lr_scale`).
        self.alpha_head = WNConv2d(config.base_channels, 1, 3) if config.alpha else None
        self.is_folded = False

    # --- input checks ---------------------------------------------------------------
    def _check(self, parts: Tensor | None, shape: Tensor | None) -> None:
        cfg = self.config
        if parts is not None and tuple(parts.shape[1:]) != (
            cfg.appearance_channels,
            cfg.part_size,
            cfg.part_size,
        ):
            raise ValueError(
                f"parts must be (B, {cfg.appearance_channels}, {cfg.part_size}, {cfg.part_size}), got {tuple(parts.shape)}"
            )
        if shape is not None and tuple(shape.shape[1:]) != (
            cfg.shape_channels,
            cfg.image_size,
            cfg.image_size,
        ):
            raise ValueError(
                f"the shape input must be (B, {cfg.shape_channels}, {cfg.image_size}, {cfg.image_size}), got {tuple(shape.shape)}"
            )

    # --- training -------------------------------------------------------------------
    def forward(self, parts: Tensor, shape: Tensor) -> VUNetOutput:
        """Training pass: posterior samples z = mean + eps decoded under the shape input, with the KL."""
        self._check(parts, shape)
        dropout = self.training
        post_means, zs = self.enc_down(self.enc_up(parts, dropout), sample=True, dropout=dropout, parts=parts)
        h, prior_means, _ = self.dec_down(
            self.dec_up(shape, dropout), zs, with_prior=True, dropout=dropout
        )
        image = self.head(h)  # (B, 3, H, W)
        alpha = self.alpha_head(h) if self.alpha_head is not None else None  # (B, 1, H, W) logit
        kl = sum(
            0.5 * (q - p).square().flatten(1).sum(dim=1) for q, p in zip(post_means, prior_means, strict=True)
        )  # (B,)
        return VUNetOutput(image, kl, post_means, prior_means, zs, alpha)

    # --- inference ------------------------------------------------------------------
    def encode_appearance(self, parts: Tensor) -> list[Tensor]:
        """F_phi: posterior means per latent scale (lowest resolution first). Cache these."""
        self._check(parts, None)
        means, _ = self.enc_down(self.enc_up(parts, False), sample=False, dropout=False, parts=parts)
        return means

    def decode(self, shape: Tensor, latents: list[Tensor]) -> Tensor:
        """E_theta + D_theta under the shape input `shape` with the given latents: one pose edit.

        (B, 3, H, W), or (B, 4, H, W) with `config.alpha`: RGB, then the alpha logit
        (`model_inputs.tensor_to_image` takes the RGB, `model_inputs.tensor_to_alpha` the coverage)."""
        self._check(None, shape)
        if len(latents) != self.config.n_latent_scales:
            raise ValueError(f"expected {self.config.n_latent_scales} latents, got {len(latents)}")
        h, _, _ = self.dec_down(self.dec_up(shape, False), list(latents), with_prior=False, dropout=False)
        return self._out(h)

    def _out(self, h: Tensor) -> Tensor:
        """The head(s) on D_theta's last features: (B, 3, H, W), or (B, 4, H, W) with the alpha logit."""
        if self.alpha_head is None:
            return self.head(h)
        return torch.cat([self.head(h), self.alpha_head(h)], dim=1)

    def transfer(self, parts: Tensor, shape: Tensor) -> Tensor:
        """Deterministic re-pose: the appearance's posterior means decoded under `shape`."""
        return self.decode(shape, self.encode_appearance(parts))

    def sample_latents(self, shape: Tensor, generator: torch.Generator | None = None) -> list[Tensor]:
        """A random appearance for this pose from the prior p(z | ŷ); reusable with `decode`."""
        return self._prior_latents(shape, generator=generator)

    def prior_mean_latents(self, shape: Tensor) -> list[Tensor]:
        """The prior's mean appearance for this pose: autoregressive, each group fed its mean
        instead of a sample (no noise); reusable with `decode`. `vunet-eval`'s prior baseline."""
        return self._prior_latents(shape, noise=False)

    def _prior_latents(
        self, shape: Tensor, *, generator: torch.Generator | None = None, noise: bool = True
    ) -> list[Tensor]:
        self._check(None, shape)
        _, _, zs = self.dec_down(
            self.dec_up(shape, False),
            None,
            with_prior=True,
            dropout=False,
            generator=generator,
            stop_after_latents=True,
            noise=noise,
        )
        return zs

    def sample(self, shape: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Decode `shape` with an appearance sampled from the prior. (B, 3 or 4, H, W) as `decode`."""
        self._check(None, shape)
        h, _, _ = self.dec_down(
            self.dec_up(shape, False), None, with_prior=True, dropout=False, generator=generator
        )
        return self._out(h)

    # --- weight norm ----------------------------------------------------------------
    def weight_norm_convs(self) -> list[WNConv2d]:
        return [m for m in self.modules() if isinstance(m, WNConv2d)]

    @torch.no_grad()
    def data_dependent_init(self, batches: Iterable[tuple[Tensor, Tensor]]) -> None:
        """Weight-norm data-dependent init (g = 1/std, b = -mean·g per conv), official style.

        `batches` yields (parts, shape) pairs (the official code uses 4 training batches);
        they are concatenated and run through one training forward in which every conv, in
        order, normalises its own output.
        """
        if self.is_folded:
            raise RuntimeError("data_dependent_init needs the weight-normalised model, not a folded copy")
        pairs = list(batches)
        if not pairs:
            raise ValueError("data_dependent_init needs at least one batch")
        parts = torch.cat([p for p, _ in pairs])  # (N, 24 or 27, P, P)
        shape = torch.cat([s for _, s in pairs])  # (N, 3 or 7, S, S)
        convs = self.weight_norm_convs()
        for conv in convs:
            conv.arm_data_dependent_init()
        was_training = self.training
        self.train()
        try:
            self.forward(parts, shape)
        finally:
            self.train(was_training)
            missed = [c for c in convs if c._ddi_pending]
            for c in convs:
                c._ddi_pending = False
        if missed:
            raise RuntimeError(f"data_dependent_init did not reach {len(missed)} convs")
        logger.info("data-dependent init of %d convs on %d samples", len(convs), parts.shape[0])

    def fold_weight_norm(self) -> VUNet:
        """Fold g·V/‖V‖ into plain convs IN PLACE (and return self) for fast inference.

        The folded model computes the same outputs but has other parameter names (weight,
        bias instead of v, g, b): it cannot be trained, re-initialised or saved as a
        checkpoint. Use `folded_copy()` to keep the original.
        """
        if self.is_folded:
            return self
        for parent in list(self.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, WNConv2d):
                    setattr(parent, name, child.folded())
        self.is_folded = True
        return self

    def folded_copy(self) -> VUNet:
        """An inference copy with plain convs; this model is left untouched."""
        return copy.deepcopy(self).fold_weight_norm()

    # --- bookkeeping ----------------------------------------------------------------
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by role: F_phi, E_theta + D_theta (with the head), the prior."""
        prior = list(self.dec_down.priors.parameters())
        prior_ids = {id(p) for p in prior}
        ed = [
            p
            for m in (self.dec_up, self.dec_down, self.head)
            for p in m.parameters()
            if id(p) not in prior_ids
        ]
        groups = {
            "F_phi": list(self.enc_up.parameters()) + list(self.enc_down.parameters()),
            "E_theta+D_theta": ed,
            "prior": prior,
        }
        if self.alpha_head is not None:
            groups["alpha"] = list(self.alpha_head.parameters())
        return groups
