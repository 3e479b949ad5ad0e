"""The empty scene: the photo with its person removed, the backdrop a re-posed person goes onto.

Qt-free. The person mask (`vunet_studio.segmentation`) is grown a little, so the person's
blurred outline and a halo of their colour go too, and the hole is filled by OpenCV's
inpainting at a working resolution: the box around the person at most `WORK_SIDE` on its
long side, coarser still for a big hole (inpainting time grows with the hole's pixels; a
filled hole has no detail to lose).
The fill is upsampled and blended in only inside the grown mask, with a feathered edge, so
every pixel away from the person is the photo's own, bit for bit.

The photo keeps its layout: grey stays grey (2-D, or RGB with equal channels, which is
filled as one channel so no colour creeps in), RGBA keeps its alpha, 16-bit and float keep
their type.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import cv2
import numpy as np

from vunet_studio.imageio import is_grey

log = logging.getLogger(__name__)

#: The hole is filled at this long side (pixels); the photo is never upsampled for it.
WORK_SIDE = 512
#: At most about this many hole pixels are inpainted (the working size shrinks for big
#: holes), but the working box keeps at least MIN_SIDE on its long side.
MAX_HOLE_PIXELS = 20_000
MIN_SIDE = 160
#: Mask values above this are the person (the soft fringe included).
COVERED = 0.1
#: The hole reaches this share of the person's size beyond the mask, in every direction.
GROW = 0.03
#: OpenCV's inpainting methods by name. Telea was as good as Navier-Stokes on the photos in
#: `../shared/photos/` and a little faster.
METHODS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}


@dataclass(frozen=True)
class EmptyScene:
    """image: the photo without the person (same shape and type as the photo);
    hole: (H, W) float32 in [0, 1], how much of each pixel is filled in (0 = the photo's own);
    ms: the time it took."""

    image: np.ndarray
    hole: np.ndarray
    ms: float


def _as_work8(photo: np.ndarray) -> np.ndarray:
    """uint8 channels-last copy of the photo for OpenCV (16-bit keeps its top byte)."""
    if photo.dtype == np.uint8:
        return photo
    if photo.dtype == np.uint16:
        return (photo >> 8).astype(np.uint8)
    if photo.dtype.kind == "f":
        return (np.clip(np.nan_to_num(photo), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    raise ValueError(f"expected 8-bit, 16-bit or float pixels, got {photo.dtype}")


def _from_work8(fill: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The fill (float, 0..255) in the photo's type and range."""
    if dtype == np.uint16:
        return fill * 257.0
    if dtype.kind == "f":
        return fill / 255.0
    return fill


def empty_scene(
    photo: np.ndarray,
    mask: np.ndarray,
    *,
    work_side: int = WORK_SIDE,
    method: str = "telea",
    grow: float = GROW,
) -> EmptyScene:
    """`photo` with the person of `mask` ((H, W) in [0, 1], the photo's size) removed."""
    t0 = time.perf_counter()
    img = np.asarray(photo)
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (1, 3, 4)):
        raise ValueError(f"expected a grey, RGB or RGBA image, got shape {img.shape}")
    h, w = img.shape[:2]
    m = np.asarray(mask, np.float32)
    if m.shape != (h, w):
        raise ValueError(f"the mask is {m.shape[1]} x {m.shape[0]}, the photo {w} x {h}")
    if method not in METHODS:
        raise ValueError(f"unknown inpainting method {method!r}; choose one of {', '.join(METHODS)}")
    covered = m > COVERED
    if not covered.any():
        return EmptyScene(img.copy(), np.zeros((h, w), np.float32), (time.perf_counter() - t0) * 1000.0)

    # Only the channels that carry the picture are filled; alpha stays, and a grey photo
    # stored as RGB is filled once so its channels stay equal.
    colour = img if img.ndim == 3 else img[:, :, None]
    colour = colour[:, :, :3] if colour.shape[2] == 4 else colour
    grey_rgb = colour.shape[2] == 3 and is_grey(colour)
    if grey_rgb:
        colour = colour[:, :, :1]

    # The working box: the person's box grown by the hole margin and the inpainting's reach,
    # so a small person in a huge photo is filled at a useful resolution.
    ys, xs = np.flatnonzero(covered.any(axis=1)), np.flatnonzero(covered.any(axis=0))
    size = float(max(xs[-1] - xs[0], ys[-1] - ys[0]) + 1)
    margin = int(np.ceil(grow * size)) + 2
    reach = margin + int(0.25 * size) + 8
    x0, y0 = max(0, int(xs[0]) - reach), max(0, int(ys[0]) - reach)
    x1, y1 = min(w, int(xs[-1]) + reach + 1), min(h, int(ys[-1]) + reach + 1)
    bw, bh = x1 - x0, y1 - y0
    # Inpainting time grows with the hole's pixels: a big hole is filled coarser (its fill
    # is a smooth guess anyway), which keeps every photo near a tenth of a second.
    area = float(np.count_nonzero(covered[y0:y1, x0:x1])) * (1.0 + 2.0 * grow) ** 2
    scale = min(1.0, work_side / max(bw, bh), max(np.sqrt(MAX_HOLE_PIXELS / area), MIN_SIDE / max(bw, bh)))
    sw, sh = max(1, round(bw * scale)), max(1, round(bh * scale))

    box = _as_work8(np.ascontiguousarray(colour[y0:y1, x0:x1]))
    cover_box = m[y0:y1, x0:x1]
    if scale < 1.0:
        small = cv2.resize(box, (sw, sh), interpolation=cv2.INTER_AREA)
        cover_small = cv2.resize(cover_box, (sw, sh), interpolation=cv2.INTER_AREA)
    else:
        small, cover_small = box, cover_box
    small = small.reshape(sh, sw, -1)
    # Any trace of the person at the working size is hole: its colour must not seed the fill.
    hole: np.ndarray = (cover_small > 0.02).astype(np.uint8)
    r = max(2, round(margin * scale))
    hole = cv2.dilate(hole, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    filled = cv2.inpaint(small if small.shape[2] == 3 else small[:, :, 0], hole, 5, METHODS[method])
    filled = filled.reshape(sh, sw, -1).astype(np.float32)

    # The blend weight: 1 on the person, feathered over the grown margin, 0 beyond it.
    # Blurred at the working size and upsampled: a blur this wide at 12 megapixels takes seconds.
    weight = cv2.GaussianBlur(hole.astype(np.float32), (0, 0), max(0.5, 0.5 * margin * scale))
    if scale < 1.0:
        weight = cv2.resize(weight, (bw, bh), interpolation=cv2.INTER_LINEAR)
        fill8 = cv2.resize(filled, (bw, bh), interpolation=cv2.INTER_LINEAR).reshape(bh, bw, -1)
    else:
        fill8 = filled
    weight[cover_box > COVERED] = 1.0
    # The blur leaks a trace past the margin; cut it so far pixels stay exactly the photo's.
    weight[weight < 1.0 / 512.0] = 0.0
    np.clip(weight, 0.0, 1.0, out=weight)

    # Only the pixels that change are blended (a person is a small part of a big photo).
    changed = weight > 0
    region = colour[y0:y1, x0:x1]
    before = region[changed].astype(np.float32)  # (N, C)
    fill = _from_work8(fill8[changed].astype(np.float32), img.dtype)
    blended = before + weight[changed][:, None] * (fill - before)
    if img.dtype.kind != "f":
        info = np.iinfo(img.dtype)
        blended = np.clip(np.rint(blended), info.min, info.max)
    blended = blended.astype(img.dtype)
    if grey_rgb:
        blended = np.repeat(blended, 3, axis=1)
    out = img.copy()
    if img.ndim == 2:
        out[y0:y1, x0:x1][changed] = blended[:, 0]
    else:
        out[y0:y1, x0:x1, : blended.shape[1]][changed] = blended
    full_weight = np.zeros((h, w), np.float32)
    full_weight[y0:y1, x0:x1] = weight
    ms = (time.perf_counter() - t0) * 1000.0
    log.debug("empty scene (%s, %d x %d fill) in %.0f ms", method, sw, sh, ms)
    return EmptyScene(out, full_weight, ms)

