"""Reconstruction losses: the reference's pixel + VGG19 feature L1, its Gram stage, and a fallback.

Reference (shared/reference/vunet.md): weight x sum_l w_l mean|phi_l(x) - phi_l(x_hat)| over
the pixels (0-255 scale) and VGG19 relu1_2, relu2_2, relu3_2, relu4_2, relu5_2. Gradients
flow through the VGG features into x_hat (one public port detached them, so only the pixel
term trained); only the target's features are computed without a graph.

Without VGG weights (no network here, and none in the hub cache) training still works: the
loss is pixel L1 + image-gradient L1, logged once, and `loss_name` records which was used.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from training.config import LossSection

logger = logging.getLogger(__name__)

#: Indices of relu1_2, relu2_2, relu3_2, relu4_2, relu5_2 in torchvision's vgg19().features.
VGG_LAYERS: tuple[int, ...] = (3, 8, 13, 22, 31)
VGG_LAYER_NAMES: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_2", "relu4_2", "relu5_2")
VGG19_HUB_FILE = "vgg19-dcbb9e9d.pth"
_WARNED_MISSING: set[Path] = set()
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def default_vgg_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_HUB_FILE


class VGGFeatures(nn.Module):
    """torchvision VGG19 up to relu5_2, frozen, returning the 5 reference layers."""

    mean: Tensor  # (1, 3, 1, 1) buffers, registered in __init__
    std: Tensor

    def __init__(self, weights_path: str | os.PathLike[str]) -> None:
        super().__init__()
        from torchvision.models import vgg19

        net = vgg19(weights=None)
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict):
            raise ValueError(f"{weights_path}: not a VGG19 state dict")
        # Only the convolutional part is used: a full torchvision state dict and one holding
        # just the `features.*` tensors both work (the classifier is never loaded).
        feats = {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}
        self.features = net.features[: VGG_LAYERS[-1] + 1]
        needed = set(self.features.state_dict())
        missing = sorted(needed - set(feats))
        if missing:
            raise ValueError(
                f"{weights_path}: not a torchvision VGG19 state dict (missing features.{missing[0]})"
            )
        self.features.load_state_dict({k: feats[k] for k in needed})
        for p in self.features.parameters():
            p.requires_grad_(False)
        self.features.eval()
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> VGGFeatures:
        # The feature extractor stays in eval mode whatever the trainer does.
        super().train(mode)
        self.features.eval()
        return self

    def forward(self, x: Tensor) -> list[Tensor]:
        """x: (B, 3, H, W) in [-1, 1] -> the 5 feature maps."""
        h = ((x + 1.0) * 0.5 - self.mean) / self.std  # (B, 3, H, W) ImageNet-normalised
        out: list[Tensor] = []
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in VGG_LAYERS:
                out.append(h)  # (B, C_l, H_l, W_l)
        return out


def gram(f: Tensor) -> Tensor:
    """F^T F / (4 h w) per sample: (B, C, h, w) -> (B, C, C), as the reference's Gram stage."""
    b, c, h, w = f.shape
    flat = f.float().reshape(b, c, h * w)  # (B, C, hw); fp32: Gram sums overflow bf16 precision
    return flat @ flat.transpose(1, 2) / (4.0 * h * w)  # (B, C, C)


def image_gradients(x: Tensor) -> tuple[Tensor, Tensor]:
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]  # (B,3,H,W-1), (B,3,H-1,W)


class ReconstructionLoss(nn.Module):
    """`loss(x_hat, x) -> (total, terms)`; both images (B, 3, H, W) in [-1, 1].

    `loss_name` is "vgg19" or "pixel+gradient" (what actually runs; it goes into the run's
    config and the checkpoint metadata).
    """

    def __init__(self, cfg: LossSection) -> None:
        super().__init__()
        self.cfg = cfg
        self.vgg: VGGFeatures | None = None
        if cfg.kind == "vgg":
            path = Path(cfg.vgg_weights).expanduser() if cfg.vgg_weights else default_vgg_path()
            if path.is_file():
                self.vgg = VGGFeatures(path)
                logger.info("reconstruction loss: pixels + VGG19 features (%s)", path)
            elif path not in _WARNED_MISSING:  # once per process, however many losses are built
                _WARNED_MISSING.add(path)
                logger.warning(
                    "VGG19 weights not found at %s: training uses pixel L1 + image-gradient L1 instead "
                    "(set loss.vgg_weights to a torchvision vgg19 state dict to use the reference loss)",
                    path,
                )
        if self.vgg is None and any(w != 0 for w in cfg.gram_weights):
            logger.warning("the Gram stage needs VGG features; gram_weights are ignored")

    @property
    def loss_name(self) -> str:
        return "vgg19" if self.vgg is not None else "pixel+gradient"

    def forward(
        self, x_hat: Tensor, x: Tensor, mask: Tensor | None = None, alpha: Tensor | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """`mask` (B, 1, H, W), 1 on the person, weights the pixel terms when
        `person_weight` > 0 (synthetic data); the VGG feature terms stay unweighted.
        `alpha` (B, 1, H, W), the model's alpha logit, is trained against `mask` (term
        "alpha", weighted by `alpha_weight`) when both are given."""
        cfg = self.cfg
        terms: dict[str, Tensor] = {}
        # 0-255 scale as the reference: the [-1, 1] difference x 127.5.
        diff = (x_hat.float() - x.float()) * 127.5  # (B, 3, H, W)
        w = torch.ones_like(diff[:, :1])  # (B, 1, H, W)
        if mask is not None and cfg.person_weight > 0:
            # The person is a small part of the frame; without this the background dominates
            # the L1 and the decoder learns backgrounds long before clothes. Normalised per
            # image so the loss keeps the reference's magnitude.
            w = 1.0 + cfg.person_weight * mask.float()
            w = w / w.mean(dim=(1, 2, 3), keepdim=True)
        terms["pixel"] = (diff.abs() * w).mean() * cfg.layer_weights[0]
        if self.vgg is None:
            gx, gy = image_gradients(diff)
            terms["gradient"] = (
                (gx.abs() * w[..., :, 1:]).mean() + (gy.abs() * w[..., 1:, :]).mean()
            ) * cfg.gradient_weight
        else:
            with torch.no_grad():
                target = self.vgg(x)
            pred = self.vgg(x_hat)  # gradients flow through here into x_hat
            for k, (fp, ft) in enumerate(zip(pred, target, strict=True)):
                lw = cfg.layer_weights[k + 1]
                if lw:
                    terms[VGG_LAYER_NAMES[k]] = (fp.float() - ft.float()).abs().mean() * (
                        lw * cfg.vgg_feature_scale
                    )
                gw = cfg.gram_weights[k]
                if gw:
                    s = cfg.vgg_feature_scale
                    terms[f"gram_{VGG_LAYER_NAMES[k]}"] = (gram(fp * s) - gram(ft * s)).abs().mean() * gw
        total = cfg.weight * torch.stack(list(terms.values())).sum()
        if alpha is not None and mask is not None:
            terms["alpha"] = F.binary_cross_entropy_with_logits(alpha.float(), mask.float())
            total = total + cfg.alpha_weight * terms["alpha"]
        return total, terms
