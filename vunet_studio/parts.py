"""In-plane normalisation: the 8 body-part crops F_phi sees instead of the whole image.

The parts themselves (names, order, joints) are the skeleton's (`skeleton.PART_NAMES`,
`skeleton.PART_JOINTS`); this module crops them.

numpy + cv2 only (no torch). Mirrors the official `batches.py` (`get_crop`, `normalize`):
each part is a quadrilateral in the image, perspective-warped onto a size x size square
(bilinear, replicated border). Corner order: the quad's 4 points go to the crop corners
(0, 0), (0, S), (S, S), (S, 0).

  torso      lshoulder, lhip, rhip, rshoulder -> the 4 corners
  head       a square from the neck (shoulder midpoint) to neck + 2·(nose - neck)
  limbs      a rectangle along joint a -> joint b, width 0.5 x its length
             (lupperarm, lforearm, rupperarm, rforearm, lthigh, rthigh; no shins)

The reference's fallbacks are kept, because a model trained on its crops expects them:
  thigh without its knee: the segment from the hip straight down to the image's last row;
  head without the nose: a square above the shoulder line (side = shoulder distance).
Any other part with a missing joint (or a degenerate, zero-area quad) is missing: its crop
is all zeros and `present` is False. `model_inputs.appearance_input` turns a missing part into
0.0 in the model's [-1, 1] space, as the reference does.

Mixing parts from different photos: every part is cropped independently, so
`mixed_part_crops` takes one (image, pose) source per part, e.g. the top (torso, arms) from
one photo and the trousers (thighs) from another.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from vunet_studio.pose import Pose
from vunet_studio.skeleton import JOINT_INDEX, NUM_PARTS, PART_JOINTS, PART_NAMES

#: Limb rectangle width as a fraction of its length (the reference's `ar`).
LIMB_WIDTH = 0.5
_MIN_QUAD_AREA = 1.0  # px²; below this the perspective transform is (near) singular

#: One source per part for mixing: a sequence in PART_NAMES order or a mapping by part name;
#: None / absent = that part is missing.
PartSources = Sequence[tuple[np.ndarray, Pose] | None] | Mapping[str, tuple[np.ndarray, Pose]]


def _segment_box(p0: np.ndarray, p1: np.ndarray, width: float) -> np.ndarray:
    """Rectangle along p0 -> p1 of `width` x length; p0's side maps to the crop's x = 0 edge."""
    segment = p1 - p0
    normal = np.array([-segment[1], segment[0]], np.float32) * (width / 2.0)
    return np.array([p0 + normal, p0 - normal, p1 - normal, p1 + normal], np.float32)  # (4, 2)


_NEXT_CORNER = np.array([1, 2, 3, 0])


def _quad_area(q: np.ndarray) -> float:
    """The shoelace formula (fancy indexing, not np.roll: this runs 8 times per pose edit)."""
    x, y = q[:, 0], q[:, 1]
    return 0.5 * abs(float(np.dot(x, y[_NEXT_CORNER]) - np.dot(y, x[_NEXT_CORNER])))


def part_quad(pose: Pose, part: str, image_height: int, *, fallbacks: bool = True) -> np.ndarray | None:
    """The (4, 2) float32 source quad of `part` in `pose`'s pixel frame, or None if missing."""

    def have(*names: str) -> bool:
        return all(pose.visible[JOINT_INDEX[n]] for n in names)

    def xy(name: str) -> np.ndarray:
        return pose.xy[JOINT_INDEX[name]].astype(np.float32)

    names = PART_JOINTS[part]
    quad: np.ndarray | None = None
    if part == "torso":
        if have(*names):
            quad = np.array([xy(n) for n in names], np.float32)
    elif part == "head":
        ls, rs = "lshoulder", "rshoulder"
        if have(ls, rs, "cnose"):
            neck = 0.5 * (xy(ls) + xy(rs))
            top = neck + 2.0 * (xy("cnose") - neck)
            a, b, c, d = _segment_box(top, neck, 1.0)  # a square
            quad = np.array([b, c, d, a], np.float32)  # the reference's corner order: top's side maps to y = 0
        elif fallbacks and have(ls, rs):
            p0, p1 = xy(ls), xy(rs)
            segment = p1 - p0
            normal = np.array([-segment[1], segment[0]], np.float32)
            if normal[1] > 0.0:  # point up (image y grows downwards)
                normal = -normal
            quad = np.array([p0 + normal, p0, p1, p1 + normal], np.float32)
    else:
        j0, j1 = names
        if have(j0, j1):
            quad = _segment_box(xy(j0), xy(j1), LIMB_WIDTH)
        elif fallbacks and part in ("lthigh", "rthigh") and have(j0):
            hip = xy(j0)
            quad = _segment_box(hip, np.array([hip[0], image_height - 1], np.float32), LIMB_WIDTH)
    if quad is None or _quad_area(quad) < _MIN_QUAD_AREA:
        return None
    return quad


def part_quads(pose: Pose, image_height: int, *, fallbacks: bool = True) -> list[np.ndarray | None]:
    """`part_quad` for every part, in PART_NAMES order."""
    return [part_quad(pose, p, image_height, fallbacks=fallbacks) for p in PART_NAMES]


def _crop_corners(size: int) -> np.ndarray:
    """Where a quad's 4 points land in a size x size crop (the corner order above)."""
    corners = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 0.0]], np.float32)
    return corners * np.array([size, size], np.float32)


def crop_quad(image: np.ndarray, quad: np.ndarray, size: int) -> np.ndarray:
    """Perspective-warp `quad` of `image` onto a (size, size[, C]) crop, bilinear, border replicated."""
    m = cv2.getPerspectiveTransform(np.array(quad, np.float32), _crop_corners(size))
    return cv2.warpPerspective(
        image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def uncrop_quad(crop: np.ndarray, quad: np.ndarray, width: int, height: int) -> np.ndarray:
    """The inverse of `crop_quad`: a square (P, P[, C]) crop warped back onto `quad` of a
    height x width frame, bilinear, zeros outside the quad (edges blend towards them)."""
    m = cv2.getPerspectiveTransform(_crop_corners(crop.shape[0]), np.array(quad, np.float32))
    return cv2.warpPerspective(
        crop, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0
    )


def part_crops_with_mask(
    image: np.ndarray, pose: Pose, size: int, *, fallbacks: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(crops uint8 (8, size, size, C), present bool (8,)); `pose` in `image`'s pixel frame."""
    img = image if image.ndim == 3 else image[:, :, None]
    crops = np.zeros((NUM_PARTS, size, size, img.shape[2]), np.uint8)
    present = np.zeros(NUM_PARTS, bool)
    for k, quad in enumerate(part_quads(pose, img.shape[0], fallbacks=fallbacks)):
        if quad is not None:
            crop = crop_quad(img, quad, size)
            crops[k] = crop.reshape(size, size, img.shape[2])
            present[k] = True
    return crops, present


def part_crops(image: np.ndarray, pose: Pose, size: int, *, fallbacks: bool = True) -> np.ndarray:
    """uint8 (8, size, size, C) part crops of `image` (HWC uint8); a missing part is zeros."""
    return part_crops_with_mask(image, pose, size, fallbacks=fallbacks)[0]


def source_list(sources: PartSources) -> list[tuple[np.ndarray, Pose] | None]:
    """One entry per part in PART_NAMES order (None = missing) from a sequence or a name mapping."""
    if isinstance(sources, Mapping):
        unknown = set(sources) - set(PART_NAMES)
        if unknown:
            raise ValueError(f"unknown part names {sorted(unknown)}; expected some of {PART_NAMES}")
        return [sources.get(name) for name in PART_NAMES]
    out = list(sources)
    if len(out) != NUM_PARTS:
        raise ValueError(f"need one source per part ({NUM_PARTS}, PART_NAMES order), got {len(out)}")
    return out


def mixed_part_crops(
    sources: PartSources, size: int, *, fallbacks: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Part k cropped from its own (image, pose) source: (crops (8, size, size, 3), present (8,)).

    Crops are computed once per distinct source, so passing the same (image, pose) object
    for several parts costs one cropping pass.
    """
    items = source_list(sources)
    crops = np.zeros((NUM_PARTS, size, size, 3), np.uint8)
    present = np.zeros(NUM_PARTS, bool)
    cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    for k, src in enumerate(items):
        if src is None:
            continue
        image, pose = src
        key = (id(image), id(pose))
        if key not in cache:
            cache[key] = part_crops_with_mask(image, pose, size, fallbacks=fallbacks)
        c, p = cache[key]
        crops[k], present[k] = c[k], p[k]
    return crops, present
