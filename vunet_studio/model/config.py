"""`VUNetConfig`: the frozen dataclass that alone rebuilds the network (and travels in checkpoints).

The official configs (CompVis/vunet `main.py`, `market.yaml`, `deepfashion.yaml`):
  n_scales = 1 + log2(image_size) - bottleneck_factor, widths min(32·2^s, 128) per scale s,
  F_phi sees part crops of image_size / 2^box_factor pixels with n_scales - box_factor scales
  and widths starting at 32·2^box_factor, latents at the 2 lowest scales.
  128: bottleneck_factor 1, box_factor 1 (7 scales 128..2, crops 64); 256: 2 and 2 (7 scales 256..4, crops 64).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

#: Channels of the warped-parts input: RGB, then coverage (1 where some part lands, else 0).
WARPED_CHANNELS = 4


@dataclass(frozen=True)
class VUNetConfig:
    image_size: int = 128
    bottleneck_factor: int = 1
    box_factor: int = 1
    base_channels: int = 32
    max_channels: int = 128
    #: Channels of z per latent scale (the official code: the decoder width there, 128).
    latent_channels: int = 128
    #: Width of the prior's residual blocks (official: space-to-depth(2) of 128 -> 512).
    prior_channels: int = 512
    n_residual_blocks: int = 2
    n_latent_scales: int = 2
    dropout: float = 0.1
    num_parts: int = 8
    image_channels: int = 3
    stickman_channels: int = 3
    #: F_phi also sees the whole appearance frame, downsampled to the crop size (3 channels
    #: after the part crops). Not in the paper: part crops hold almost none of the scene, so
    #: without this the decoder can only guess the background (see docs/model_card.md).
    scene_context: bool = False
    #: Appearance modulation (not in the paper): F_phi adds a linear map of its input's mean
    #: colours to the lowest-scale posterior mean, and every D_theta block after that z scales
    #: and shifts its channels by a linear map of z's spatial mean. The reference decoder can
    #: only mix z in through concat + 1x1 conv; painting a part's colour where the stickman puts
    #: the part then takes far more training than the CPUs here give (docs/model_card.md).
    modulation: bool = False
    #: E_theta also sees the appearance's part crops warped onto the target pose (4 channels
    #: after the stickman: RGB and coverage; see `model_inputs.warp_parts`). Not in the paper: z is
    #: 2x2 and 4x4 at 128 px, too coarse to carry a stripe or a check to where the target pose
    #: puts it, while the warp puts it there at full resolution and the U-Net skips keep it.
    warped_parts: bool = False
    #: D_theta has a second head, a 4th output channel: the person's coverage (alpha) as a logit,
    #: trained from the exact masks synthetic people come with. Not in the paper: the app
    #: composites the re-posed person onto the photo's empty scene, which needs to know
    #: where the person is in the render (see `vunet_studio.composite`).
    alpha: bool = False

    def __post_init__(self) -> None:
        if self.image_size <= 0 or self.image_size & (self.image_size - 1):
            raise ValueError(f"image_size must be a power of two, got {self.image_size}")
        if self.n_scales < 2:
            raise ValueError(f"bottleneck_factor {self.bottleneck_factor} leaves {self.n_scales} scales")
        if not 0 <= self.box_factor < self.n_scales:
            raise ValueError(f"box_factor must be in [0, {self.n_scales}), got {self.box_factor}")
        if self.n_residual_blocks < 2 or self.n_residual_blocks % 2:
            # The latent is injected halfway through a scale's blocks, as in the official dec_down.
            raise ValueError(f"n_residual_blocks must be even and >= 2, got {self.n_residual_blocks}")
        if not 1 <= self.n_latent_scales <= self.encoder_scales:
            raise ValueError(
                f"n_latent_scales must be in [1, {self.encoder_scales}], got {self.n_latent_scales}"
            )
        if min(self.base_channels, self.max_channels, self.latent_channels, self.prior_channels) <= 0:
            raise ValueError("channel counts must be positive")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    # --- construction -------------------------------------------------------------
    @classmethod
    def for_size(cls, image_size: int, **overrides: Any) -> VUNetConfig:
        """The official config for 128 (Market) or 256 (DeepFashion); keyword overrides win.

        Other powers of two >= 64 follow the same rule (7 scales, 64-pixel part crops).
        """
        if image_size < 64 or image_size & (image_size - 1):
            raise ValueError(f"for_size needs a power of two >= 64, got {image_size}")
        factor = int(math.log2(image_size)) - 6  # 128 -> 1, 256 -> 2
        values: dict[str, Any] = {"image_size": image_size, "bottleneck_factor": factor, "box_factor": factor}
        values.update(overrides)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VUNetConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown VUNetConfig fields: {sorted(unknown)}")
        return cls(**d)

    # --- derived sizes ------------------------------------------------------------
    @property
    def n_scales(self) -> int:
        """Scales of E_theta/D_theta (7 for both official configs)."""
        return 1 + int(math.log2(self.image_size)) - self.bottleneck_factor

    @property
    def encoder_scales(self) -> int:
        """Scales of F_phi: its input (the part crops) is 2^box_factor smaller."""
        return self.n_scales - self.box_factor

    @property
    def part_size(self) -> int:
        """Side of each part crop (64 for both official configs)."""
        return self.image_size // 2**self.box_factor

    @property
    def appearance_channels(self) -> int:
        """Channels of F_phi's input: the part crops stacked on channels (8 x 3 = 24), then the
        downsampled frame when `scene_context` (27)."""
        return (self.num_parts + int(self.scene_context)) * self.image_channels

    @property
    def shape_channels(self) -> int:
        """Channels of E_theta's input: the stickman (3), then the warped parts when
        `warped_parts` (RGB + coverage, 7 in all)."""
        return self.stickman_channels + WARPED_CHANNELS * int(self.warped_parts)

    @property
    def output_channels(self) -> int:
        """Channels of the head's output: RGB (3), then the alpha logit with `alpha` (4)."""
        return self.image_channels + int(self.alpha)

    def decoder_channels(self, scale: int) -> int:
        """Width of E_theta/D_theta at `scale` (0 = full resolution)."""
        return min(self.base_channels * 2**scale, self.max_channels)

    def encoder_channels(self, scale: int) -> int:
        """Width of F_phi at `scale` (0 = part-crop resolution)."""
        return min(self.base_channels * 2 ** (self.box_factor + scale), self.max_channels)

    @property
    def latent_sizes(self) -> tuple[int, ...]:
        """Spatial side of z per latent scale, lowest resolution first (128: (2, 4); 256: (4, 8))."""
        bottom = self.image_size // 2 ** (self.n_scales - 1)
        return tuple(bottom * 2**i for i in range(self.n_latent_scales))

    @property
    def latent_shapes(self) -> tuple[tuple[int, int, int], ...]:
        """(C, H, W) of z per latent scale, in the order `encode_appearance` returns them."""
        return tuple((self.latent_channels, s, s) for s in self.latent_sizes)
