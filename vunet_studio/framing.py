"""The square box the model sees around a person: one home for how people are framed.

Qt-free, no torch. The model works on S x S images, so every path that shows it a person (the
app's engine, `vunet-studio render`, `vunet-prepare`'s training crops, the fake engine) cuts
the same square out of the photo:
  pose_box      the box (`Box`: x0, y0, side in the photo's pixels) around a pose's joints:
                their bounding box, its larger side grown by `BOX_SCALE`, centred on it,
  pose_in_box   the pose moved into the box's S x S frame (the one pose-to-box transform),
  crop          the box cut out of the photo and resized to S x S; outside the photo its
                border pixels are repeated (black bars would be an edge the model never saw),
  placement     where a square of the box lands back in a frame (whole pixels, clipped),
  paste         a square (a render) resized into its box of a frame.
`vunet_studio.composite` blends renders back through `placement`; the stable box of a pose
edit (`composite.stable_box`) starts from `pose_box`.

Why 1.35: the synthetic training people (`training.synth`) stand so that their joints span
about 1 / BOX_SCALE (~0.74) of the frame, as in Market/DeepFashion crops; a box of BOX_SCALE
x the joints' extent shows a photo's person to the model as training showed people
(`tests/test_synth.py` keeps the two tied).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import cv2
import numpy as np

from vunet_studio.pose import Pose

#: Box side / the larger side of the joints' bounding box (see the module docstring).
BOX_SCALE = 1.35
#: Smallest box side in pixels (a pose whose joints all coincide still gets a box).
MIN_SIDE = 8.0


class FramingError(ValueError):
    """A pose that cannot be framed (no visible joints, or a box that misses the photo)."""


class Box(NamedTuple):
    """A square of a frame: top-left corner and side, in that frame's pixels."""

    x0: float
    y0: float
    side: float


class Placement(NamedTuple):
    """A box in whole pixels of a frame, and the part of it inside the frame.

    (x0, y0, side): the box snapped to whole pixels; (dx0, dy0)-(dx1, dy1): its visible part,
    exclusive at the far end."""

    x0: int
    y0: int
    side: int
    dx0: int
    dy0: int
    dx1: int
    dy1: int


def pose_box(pose: Pose, scale: float = BOX_SCALE) -> Box:
    """The square around the pose's visible joints, `scale` x their larger extent, centred.

    A portrait's hips count where `Pose.with_inferred_hips` puts them, below the photo: the
    box holds the whole torso the model draws, so a composite does not end in a hard edge
    across the person's chest."""
    bbox = pose.with_inferred_hips().bbox()
    if bbox is None:
        raise FramingError("The pose has no visible joints.")
    x0, y0, x1, y1 = bbox
    side = max(max(x1 - x0, y1 - y0) * scale, MIN_SIDE)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    return Box(cx - side / 2.0, cy - side / 2.0, side)


def pose_in_box(pose: Pose, box: tuple[float, float, float], size: int) -> Pose:
    """`pose` moved into the size x size frame of `box` (a new pose; `image_size` (size, size))."""
    x0, y0, side = box
    s = size / side
    xy = ((pose.xy - np.array([x0, y0], np.float32)) * s).astype(np.float32)
    return Pose(xy, pose.visible, (size, size))


def snap(box: tuple[float, float, float]) -> Box:
    """The box `crop` cuts: its corner rounded down, its side to the nearest whole pixel.

    A pose moved into the snapped box (`pose_in_box`) agrees exactly with the crop's pixels."""
    return Box(float(math.floor(box[0])), float(math.floor(box[1])), float(max(1, round(box[2]))))


def crop(image: np.ndarray, box: tuple[float, float, float], size: int) -> tuple[np.ndarray, Box]:
    """The box of `image` (H, W, C) resized to size x size, and the box it cut (`snap`).

    Outside the photo the border pixels are repeated. Shrinking uses area averaging (a big
    photo must not alias into the model's 64-pixel part crops), enlarging bilinear."""
    h, w = image.shape[:2]
    snapped = snap(box)
    ix0, iy0, iside = int(snapped.x0), int(snapped.y0), int(snapped.side)
    sx0, sy0 = max(ix0, 0), max(iy0, 0)
    sx1, sy1 = min(ix0 + iside, w), min(iy0 + iside, h)
    if sx1 <= sx0 or sy1 <= sy0:
        raise FramingError("The person's pose lies outside the photo.")
    patch = image[sy0:sy1, sx0:sx1]
    patch = cv2.copyMakeBorder(
        patch, sy0 - iy0, iy0 + iside - sy1, sx0 - ix0, ix0 + iside - sx1, cv2.BORDER_REPLICATE
    )  # (iside, iside, C)
    interp = cv2.INTER_AREA if iside > size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interp), snapped


def placement(
    box: tuple[float, float, float], width: int, height: int, scale: float = 1.0
) -> Placement | None:
    """Where `box` (photo pixels) lands in a width x height frame at `scale` x the photo:
    corner and side rounded to the nearest pixel; None when it misses the frame."""
    x0, y0, side = (float(v) * scale for v in box)
    iside = max(1, round(side))
    ix0, iy0 = math.floor(x0 + 0.5), math.floor(y0 + 0.5)
    dx0, dy0 = max(ix0, 0), max(iy0, 0)
    dx1, dy1 = min(ix0 + iside, width), min(iy0 + iside, height)
    if dx1 <= dx0 or dy1 <= dy0:
        return None
    return Placement(ix0, iy0, iside, dx0, dy0, dx1, dy1)


def paste(frame: np.ndarray, square: np.ndarray, box: tuple[float, float, float]) -> np.ndarray:
    """A copy of `frame` (H, W, 3) uint8 with `square` (S, S, 3) resized into `box`, clipped to
    the frame: the render as an opaque square, without the composite's alpha."""
    out = np.array(frame, dtype=np.uint8, copy=True)
    at = placement(box, out.shape[1], out.shape[0])
    if at is None:
        return out
    interp = cv2.INTER_LINEAR if at.side >= square.shape[0] else cv2.INTER_AREA
    tile = cv2.resize(square, (at.side, at.side), interpolation=interp)
    out[at.dy0 : at.dy1, at.dx0 : at.dx1] = tile[
        at.dy0 - at.y0 : at.dy1 - at.y0, at.dx0 - at.x0 : at.dx1 - at.x0
    ]
    return out
