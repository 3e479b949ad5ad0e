"""`vunet-eval`: measure re-posing quality on held-out pairs (the `vunet-synth --pairs` layout).

    vunet-eval --checkpoint model.safetensors --pairs DIR [--json OUT] [--limit N]
    vunet-eval --photos DIR [--checkpoint F] [--json OUT]   (real photos: `training.photo_eval`)

Each pair folder holds appearance.png + appearance_pose.json (the person) and target_pose.json
+ target.png + mask.png (the same person in another pose). Methods compared on the target:
  transfer         model.transfer: the appearance's posterior means under the target stickman,
  appearance_copy  baseline: the unchanged appearance image,
  prior_mean       baseline: the decoder with the prior's MEAN latents for the target stickman
                   (no appearance information; autoregressive prior, means, no noise),
  parts_warp       baseline without a model: the appearance's part crops warped onto the target
                   pose (`convert.warp_parts`) and pasted over the appearance image.
With a scene.png in the pairs (the scene without the person; `vunet-synth --pairs` writes it):
  composite        the transfer composited onto that scene by its alpha (the model's alpha
                   channel, or the target pose's silhouette for a model without one), as the
                   app shows a re-posed person in their photo; its row adds alpha_iou,
  empty_scene      baseline: the scene alone (the person removed, none put back).
Metrics: SSIM (Gaussian 11x11, sigma 1.5, 0-255, channel mean), PSNR, L1, over the whole
image and inside the person mask; inside the mask also the detail (patterns) measures of
`training.metrics.detail`: detail_corr_mask (in place?) and detail_ratio_mask (how much?).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import Tensor

from training.data import read_rgb
from training.metrics import all_metrics
from vunet_studio.composite import ALPHA_MODEL, composite, render_alpha
from vunet_studio.engine import Render
from vunet_studio.fileio import atomic_write_text
from vunet_studio.model import CheckpointError, VUNet, VUNetConfig, load_checkpoint
from vunet_studio.model.convert import (
    appearance_input,
    image_to_tensor,
    shape_input,
    tensor_to_alpha,
    tensor_to_image,
    to_model_frame,
    warp_parts,
)
from vunet_studio.pose import Pose
from vunet_studio.pose_io import PoseFileError, read_poses

logger = logging.getLogger("vunet-eval")

METHODS = ("transfer", "appearance_copy", "prior_mean", "parts_warp")
SCENE_METHODS = ("composite", "empty_scene")
PAIR_FILES = ("appearance.png", "appearance_pose.json", "target_pose.json", "target.png", "mask.png")
SCENE_FILE = "scene.png"  # optional: the scene without the person


class EvalError(Exception):
    """Inputs that cannot be evaluated; the message says why."""


@dataclass
class Pair:
    name: str
    appearance: np.ndarray  # (H, W, 3) uint8 RGB
    appearance_pose: Pose
    target: np.ndarray  # (H, W, 3) uint8 RGB
    target_pose: Pose
    mask: np.ndarray  # (H, W) bool
    scene: np.ndarray | None = None  # (H, W, 3) uint8 RGB: the scene without the person


def find_pairs(root: Path) -> list[Path]:
    if not root.is_dir():
        raise EvalError(f"pairs folder not found: {root}")
    dirs = sorted(d for d in root.iterdir() if d.is_dir() and all((d / f).is_file() for f in PAIR_FILES))
    if not dirs:
        raise EvalError(f"{root}: no pair folders (each needs {', '.join(PAIR_FILES)})")
    return dirs


def _pose(path: Path, size: tuple[int, int]) -> Pose:
    poses = read_poses(path, size)
    if not poses:
        raise PoseFileError(f"{path}: no pose")
    p = poses[0]
    return p if p.image_size is not None else p.with_image_size(size)


def load_pair(d: Path) -> Pair | None:
    """One pair, or None (with a warning) when a file is unreadable."""
    app, tgt = read_rgb(d / "appearance.png"), read_rgb(d / "target.png")
    mask = cv2.imread(str(d / "mask.png"), cv2.IMREAD_GRAYSCALE)
    if app is None or tgt is None or mask is None:
        logger.warning("skipping pair %s: unreadable image", d.name)
        return None
    if mask.shape != tgt.shape[:2]:
        logger.warning(
            "skipping pair %s: mask %s and target %s differ in size", d.name, mask.shape, tgt.shape[:2]
        )
        return None
    try:
        ap = _pose(d / "appearance_pose.json", (app.shape[1], app.shape[0]))
        tp = _pose(d / "target_pose.json", (tgt.shape[1], tgt.shape[0]))
    except (PoseFileError, OSError) as exc:
        logger.warning("skipping pair %s: %s", d.name, exc)
        return None
    scene = read_rgb(d / SCENE_FILE) if (d / SCENE_FILE).is_file() else None
    if scene is not None and scene.shape != tgt.shape:
        logger.warning("pair %s: its scene and target differ in size; no composite", d.name)
        scene = None
    return Pair(d.name, app, ap, tgt, tp, mask > 127, scene)


@torch.no_grad()
def prior_mean_latents(model: VUNet, stickman: Tensor) -> list[Tensor]:
    """The prior's mean latents for `stickman`: autoregressive, each group fed its mean, no noise.

    Uses the model's own call when it has one. Otherwise a fixed-point iteration through the
    public teacher-forced prior (`dec_down(..., with_prior=True)` returns the prior means given
    latents): group k's mean depends only on groups before it, so feeding the means back in
    fixes one more group per pass and the iteration is exact after (number of groups) passes.
    """
    own = getattr(model, "prior_mean_latents", None)
    if callable(own):
        return own(stickman)
    cfg = model.config
    b = stickman.shape[0]
    latents = [stickman.new_zeros((b, *shape)) for shape in cfg.latent_shapes]  # per scale (B, L, h, w)
    skips = model.dec_up(stickman, False)
    passes = sum(4 if s > 1 else 1 for s in cfg.latent_sizes)
    for _ in range(passes):
        _, means, _ = model.dec_down(skips, latents, with_prior=True, dropout=False, stop_after_latents=True)
        latents = [m.detach() for m in means]
    return latents


def parts_warp(pair: Pair, parts: Tensor, cfg: VUNetConfig) -> np.ndarray:
    """The appearance's part crops warped onto the target pose, over the appearance image (S, S, 3)."""
    base, _ = to_model_frame(pair.appearance, pair.appearance_pose, cfg.image_size)
    w = warp_parts(parts, pair.target_pose, cfg)  # (4, S, S): premultiplied RGB, coverage
    over = (image_to_tensor(base) * (1.0 - w[3:]) + w[:3]).clamp(-1.0, 1.0)  # "over" in [-1, 1]
    return tensor_to_image(over)


def _fit(img: np.ndarray, w: int, h: int) -> np.ndarray:
    return img if img.shape[:2] == (h, w) else cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)


@torch.no_grad()
def evaluate_pair(model: VUNet, pair: Pair, device: torch.device) -> dict[str, dict[str, float]]:
    cfg = model.config
    h, w = pair.target.shape[:2]
    parts = appearance_input(pair.appearance, pair.appearance_pose, cfg)  # (C, P, P)
    stick = shape_input(pair.target_pose, parts, cfg)[None].to(device)  # (1, 3 or 7, S, S)
    # The prior baseline knows no appearance: no warped parts either.
    bare = shape_input(pair.target_pose, None, cfg)[None].to(device)  # (1, 3 or 7, S, S)
    out = model.transfer(parts[None].to(device), stick)  # (1, 3 or 4, S, S)
    renders = {
        "transfer": tensor_to_image(out)[0],  # (S, S, 3)
        "appearance_copy": pair.appearance,
        "prior_mean": tensor_to_image(model.decode(bare, prior_mean_latents(model, bare)))[0],
        "parts_warp": parts_warp(pair, parts, cfg),
    }
    extra: dict[str, float] = {}
    if pair.scene is not None and w == h:  # the model frame is the whole (square) image
        s = cfg.image_size
        box = (0.0, 0.0, float(w))
        # The app's alpha: the model's channel, or the target pose's silhouette without one.
        alpha = render_alpha(Render(renders["transfer"], box, 0.0, tensor_to_alpha(out[0])), pair.target_pose)
        if alpha.source == ALPHA_MODEL:
            truth = cv2.resize(pair.mask.astype(np.uint8), (s, s), interpolation=cv2.INTER_NEAREST) > 0
            found = alpha.mask > 0.5
            union = int((found | truth).sum())
            extra["alpha_iou"] = float((found & truth).sum() / union) if union else float("nan")
        renders["composite"] = composite(pair.scene, renders["transfer"], alpha.mask, box)
        renders["empty_scene"] = pair.scene
    result = {k: all_metrics(_fit(img, w, h), pair.target, pair.mask) for k, img in renders.items()}
    if "composite" in result:
        result["composite"].update(extra)
    return result


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def evaluate(
    checkpoint: Path,
    pairs_dir: Path,
    *,
    limit: int | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> dict[str, Any]:
    dirs = find_pairs(pairs_dir)
    if limit:
        dirs = dirs[:limit]
    try:
        model, info = load_checkpoint(checkpoint, device=device)
    except CheckpointError as exc:
        raise EvalError(f"cannot load checkpoint: {exc}") from exc
    model.eval()
    per_pair: list[dict[str, Any]] = []
    skipped = 0
    it: Any = dirs
    if progress:
        from tqdm import tqdm

        it = tqdm(dirs, unit="pair", desc="evaluating")
    for d in it:
        pair = load_pair(d)
        if pair is None:
            skipped += 1
            continue
        per_pair.append({"pair": pair.name, **evaluate_pair(model, pair, torch.device(device))})
    if not per_pair:
        raise EvalError(f"{pairs_dir}: none of {len(dirs)} pairs could be read")
    methods = METHODS + tuple(m for m in SCENE_METHODS if all(m in p for p in per_pair))
    summary = {
        m: {k: _mean([p[m][k] for p in per_pair if k in p[m]]) for k in per_pair[0][m]} for m in methods
    }
    return {
        "checkpoint": str(checkpoint),
        "step": info.step,
        "loss": info.extra.get("loss"),
        "pairs_dir": str(pairs_dir),
        "pairs": len(per_pair),
        "skipped": skipped,
        "methods": summary,
        "per_pair": per_pair,
    }


def format_table(report: dict[str, Any]) -> str:
    cols = ["ssim", "psnr", "l1", "ssim_mask", "psnr_mask", "l1_mask", "detail_corr_mask", "detail_ratio_mask"]
    if "alpha_iou" in report["methods"].get("composite", {}):
        cols.append("alpha_iou")
    heads = [c.replace("detail_", "det_").replace("_mask", "_m") for c in cols]
    lines = [f"{'method':16s}" + "".join(f"{c:>12s}" for c in heads)]
    for m in report["methods"]:
        row = report["methods"][m]
        lines.append(f"{m:16s}" + "".join(f"{row.get(c, float('nan')):12.4f}" for c in cols))
    lines.append(f"{report['pairs']} pairs ({report['skipped']} skipped), checkpoint step {report['step']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="vunet-eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--checkpoint", type=Path, help="a .safetensors checkpoint (--photos: the bundled model)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--pairs", type=Path, help="folder written by vunet-synth --pairs")
    source.add_argument("--photos", type=Path, help="a folder of real photos, re-posed pair by pair")
    p.add_argument("--json", type=Path, help="write the results here (atomically)")
    p.add_argument("--limit", type=int, help="evaluate the first N pairs (or photos) only")
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    if args.photos is not None:
        from training.photo_eval import run_photos  # noqa: PLC0415 - imports the estimators

        return run_photos(args)
    if args.checkpoint is None:
        p.error("--pairs needs --checkpoint")
    try:
        report = evaluate(
            args.checkpoint, args.pairs, limit=args.limit, device=device, progress=not args.no_progress
        )
    except EvalError as exc:
        logger.error("%s", exc)
        return 2
    print(format_table(report))
    return write_report(args.json, report)


def write_report(path: Path | None, report: dict[str, Any]) -> int:
    """Write `report` as JSON to `path` (atomically; nothing when None): the exit status."""
    if path is None:
        return 0
    try:
        atomic_write_text(path, json.dumps(report, indent=2, allow_nan=True))
    except OSError as exc:
        logger.error("cannot write %s: %s", path, exc)
        return 2
    logger.info("wrote %s", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
