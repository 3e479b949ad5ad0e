"""`vunet-eval`: measure re-posing quality on held-out pairs (the `vunet-synth --pairs` layout, `training.pairs`).

    vunet-eval --checkpoint model.safetensors --pairs DIR [--json OUT] [--limit N]
    vunet-eval --photos DIR [--checkpoint F] [--json OUT]   (real photos: `training.photo_eval`)

Each pair folder holds appearance.png + appearance_pose.json (the person) and target_pose.json
+ target.png + mask.png (the same person in another pose). The transfer is made as the app
makes it when a person is re-posed in their own photo: through `RenderEngine` (the appearance
encoded from the box around its person, `vunet_studio.framing`; the render in the stable box,
`composite.stable_box`: that box, grown where the target's joints leave it), in the app's number format
(`--precision auto`: bf16 on CPUs with native bf16, fp16 on CUDA, else fp32), so these
figures are the app's. Methods compared on the target, in the render's square (the target,
its mask and the baselines cut from the same box):
  transfer         the engine's render: the appearance's posterior means under the target stickman,
  appearance_copy  baseline: the unchanged appearance image,
  prior_mean       baseline: the decoder with the prior's MEAN latents for the target stickman
                   (no appearance information; `VUNet.prior_mean_latents`, fp32),
  parts_warp       baseline without a model: the appearance's part crops warped onto the target
                   pose (`model_inputs.warp_parts`) and pasted over the appearance image.
With a scene.png in the pairs (the scene without the person; `vunet-synth --pairs` writes it),
on the whole target image:
  composite        the render composited onto that scene by its alpha (the model's alpha
                   channel, or the target pose's silhouette for a model without one) with
                   `vunet_studio.composite`, as the app shows a re-posed person in their
                   photo; its row adds alpha_iou (in the render's square),
  shown            what the app shows for this edit: the person re-posed in their own photo
                   with their own look, so what did not move is kept and the moved limbs,
                   torso and head are carried from the appearance image (`vunet_studio.kept`,
                   its person mask from the app's segmentation), over the composite; the
                   pair's two images share one scene, as a photo and its edit do. This row
                   measures the app; `composite` measures the model,
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
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import Tensor

from training.metrics import all_metrics
from training.pairs import Pair, PairsError, find_pairs, load_pair
from vunet_studio.composite import ALPHA_MODEL, composite, place, render_alpha, stable_box
from vunet_studio.engine import AppearanceImage, EngineError, RenderEngine
from vunet_studio.fileio import atomic_write_text
from vunet_studio.framing import pose_box
from vunet_studio.imageio import is_grey
from vunet_studio.kept import KeptSource
from vunet_studio.model_inputs import image_to_tensor, shape_input, tensor_to_image, warp_parts
from vunet_studio.pose import Pose
from vunet_studio.segmentation import segment_person

logger = logging.getLogger("vunet-eval")

METHODS = ("transfer", "appearance_copy", "prior_mean", "parts_warp")
SCENE_METHODS = ("composite", "shown", "empty_scene")


class EvalError(Exception):
    """Inputs that cannot be evaluated; the message says why."""


def in_box(image: np.ndarray, box: tuple[float, float, float], size: int) -> np.ndarray:
    """The square `box` of `image` (H, W[, C]) at size x size, border repeated, sampled where
    the render's pixels lie: the engine draws the target in the unrounded box, so the truth
    is cut there too (`framing.crop` snaps to whole pixels, up to a pixel off)."""
    x0, y0, side = (float(v) for v in box)
    k = side / size  # photo pixels per render pixel
    m = np.array([[k, 0.0, x0 + 0.5 * k - 0.5], [0.0, k, y0 + 0.5 * k - 0.5]], np.float64)
    src = image if k <= 1.0 else cv2.GaussianBlur(image, (0, 0), 0.5 * k)  # no aliasing when shrinking
    return cv2.warpAffine(
        src, m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )


def parts_warp(base: np.ndarray, parts: Tensor, target: Pose, engine: RenderEngine) -> np.ndarray:
    """The appearance's part crops warped onto `target` (in the S x S frame), over `base` (S, S, 3)."""
    w = warp_parts(parts, target, engine.config)  # (4, S, S): premultiplied RGB, coverage
    over = (image_to_tensor(base) * (1.0 - w[3:]) + w[:3]).clamp(-1.0, 1.0)  # "over" in [-1, 1]
    return tensor_to_image(over)


@torch.no_grad()
def prior_mean(engine: RenderEngine, target: Pose) -> np.ndarray:
    """The decoder under `target`'s stickman (S x S frame) with the prior's mean latents, fp32.

    The prior knows no appearance: a model with warped parts sees none (zeros), as when sampling."""
    model = engine.model  # the folded fp32 model: the engine's fast net does not hold the prior
    bare = shape_input(target, None, engine.config)[None].to(engine.device)  # (1, 3 or 7, S, S)
    return tensor_to_image(model.decode(bare, model.prior_mean_latents(bare)))[0]  # (S, S, 3)


def evaluate_pair(engine: RenderEngine, pair: Pair) -> dict[str, dict[str, float]]:
    """The metrics of every method on one pair (see the module docstring)."""
    s = engine.image_size
    appearance = AppearanceImage(pair.appearance, pair.appearance_pose)
    # The app's box for a re-pose within one photo: the person's own, grown where joints leave it.
    box = stable_box(pose_box(pair.appearance_pose), pair.target_pose)
    render = engine.render(engine.encode(appearance), pair.target_pose, box)
    box = render.box
    target = render.pose  # the target in the render's square, as the engine drew it
    truth = in_box(pair.target, box, s)  # (S, S, 3)
    mask = in_box(pair.mask.astype(np.float32), box, s) > 0.5  # (S, S)
    base = in_box(pair.appearance, box, s)  # the appearance image, seen through the same box
    squares = {
        "transfer": render.image,  # (S, S, 3)
        "appearance_copy": base,
        "prior_mean": prior_mean(engine, target),
        "parts_warp": parts_warp(base, engine.appearance_input(appearance), target, engine),
    }
    result = {k: all_metrics(img, truth, mask) for k, img in squares.items()}
    if pair.scene is not None:
        # The app's alpha: the model's channel, or the target pose's silhouette without one.
        alpha = render_alpha(render)
        # A grey scene stays grey, as in the app (`composite_view`, `render --composite`).
        grey = is_grey(pair.scene)
        placed = composite(pair.scene, render.image, alpha.mask, box, grey=grey)
        result["composite"] = all_metrics(placed, pair.target, pair.mask)
        if alpha.source == ALPHA_MODEL:
            found = alpha.mask > 0.5
            union = int((found | mask).sum())
            result["composite"]["alpha_iou"] = float((found & mask).sum() / union) if union else float("nan")
        # As the app shows it: the photo's own person kept where the edit left them, carried where it moved.
        person = segment_person(pair.appearance, pair.appearance_pose).mask
        kept = KeptSource.of(pair.appearance, person, pair.appearance_pose)
        if kept is not None:
            app = place(render, pair.target_pose, pair.scene, grey=grey, kept=kept)  # the same render
            assert app.image is not None  # the whole frame was asked for
            result["shown"] = all_metrics(app.image, pair.target, pair.mask)
        result["empty_scene"] = all_metrics(pair.scene, pair.target, pair.mask)
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
    precision: str = "auto",
    progress: bool = False,
) -> dict[str, Any]:
    """Every method's metrics on the pairs under `pairs_dir`, per pair and averaged.

    The render goes through the app's engine, on `device` in `precision` (default: the app's
    choice, see the module docstring); the prior-mean baseline runs the fp32 model."""
    try:
        dirs = find_pairs(pairs_dir)
    except PairsError as exc:
        raise EvalError(str(exc)) from None
    if limit:
        dirs = dirs[:limit]
    try:
        # One thread count for the whole run: the engine's thread tuning is for the app's drags.
        engine = RenderEngine(
            checkpoint, device=device, precision=precision, threads=torch.get_num_threads(), warmup=False
        )
    except EngineError as exc:
        raise EvalError(f"cannot load checkpoint: {exc}") from exc
    assert engine.info is not None  # read from a file
    info = engine.info
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
        try:
            scores = evaluate_pair(engine, pair)
        except EngineError as exc:  # e.g. a pose without a torso: the engine cannot render it
            logger.warning("skipping pair %s: %s", pair.name, exc)
            skipped += 1
            continue
        per_pair.append({"pair": pair.name, **scores})
    if not per_pair:
        raise EvalError(f"{pairs_dir}: none of {len(dirs)} pairs could be read")
    methods = METHODS + tuple(m for m in SCENE_METHODS if all(m in p for p in per_pair))
    summary = {
        m: {k: _mean([p[m][k] for p in per_pair if k in p[m]]) for k in per_pair[0][m]} for m in methods
    }
    return {
        "checkpoint": str(checkpoint),
        "step": info.step,
        "precision": engine.precision,
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
    lines.append(
        f"{report['pairs']} pairs ({report['skipped']} skipped), checkpoint step {report['step']}, "
        f"rendered in {report.get('precision', 'fp32')}"
    )
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
    p.add_argument(
        "--precision",
        default="auto",
        choices=("auto", "fp32", "bf16", "fp16"),
        help="the render's number format (--pairs; default auto, the app's)",
    )
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    if args.photos is not None:
        from training.photo_eval import run_photos

        return run_photos(args)
    if args.checkpoint is None:
        p.error("--pairs needs --checkpoint")
    try:
        report = evaluate(
            args.checkpoint,
            args.pairs,
            limit=args.limit,
            device=device,
            precision=args.precision,
            progress=not args.no_progress,
        )
    except EvalError as exc:
        logger.error("%s", exc)
        return 2
    print(format_table(report))  # noqa: T201 - the CLI's result table, on stdout
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
