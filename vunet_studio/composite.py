"""The re-posed person put back into a photo: the one compositing path of the app and `render`.

Qt-free. The model renders an S x S square (`engine.Render`) of the box it was shown; this
module owns what happens after:
  render_alpha   where the person is in the render: the model's alpha channel, or, for a
                 checkpoint without one, a soft silhouette of the target pose,
  stable_box     the box the model sees while a pose is edited: fixed per photo and person,
                 extended (continuously) only when a joint leaves it,
  composite      alpha x render + (1 - alpha) x the empty scene, the render upsampled into its
                 box at the frame's resolution, the alpha feathered; grey photos stay grey,
  repose         all three for one pose edit: what the app shows and `render --composite` writes;
                 with a `kept.KeptSource` the photo's own person stays where the edit left
                 them (`with_kept`: only what moved is the render's).

Frames: a box (`framing.Box`: x0, y0, side) is in the pixels of the pose's photo; where it
lands in a scene is `framing.placement`. `composite` takes the scene
at any scale of that photo (`scale`: scene pixels per photo pixel), so the app composites at
screen resolution while dragging and at the photo's own on export.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np

from vunet_studio.borrowed import LookSource, borrowed_body, borrowed_head
from vunet_studio.framing import Box, placement
from vunet_studio.imageio import grey_rgb
from vunet_studio.kept import (
    STILL,
    KeptSource,
    Part,
    carried_head,
    carried_limbs,
    filled_torso,
    following,
    kept_part,
)
from vunet_studio.pose import Pose
from vunet_studio.renderer import Appearance, Render, Renderer
from vunet_studio.segmentation import head_disc, person_height, stickman_mask

log = logging.getLogger(__name__)

Region = tuple[np.ndarray, int, int]  # a blended tile of a scene and its top-left (x, y) there

#: Where the alpha came from, as the status bar says it.
ALPHA_MODEL = "the model's alpha"
ALPHA_STICKMAN = "the pose's silhouette (this model has no alpha)"

#: A joint this close to the stable box's edge (share of its side) extends the box: hands and
#: feet reach past their joints, and the model saw people with room around them.
EDGE_MARGIN = 0.06
#: Gaussian feathering of the alpha, in render pixels, once the render is enlarged
#: `FEATHER_FULL` x or more (less below, none at 1:1): hides the render's pixel steps when it
#: is upsampled many times onto a big photo.
FEATHER = 0.8
#: At 1:1 the model's alpha edge is already soft and a feather only lets the scene into the
#: person: on the 128-pixel held-out pairs it cost 0.009 of SSIM inside the mask.
FEATHER_FULL = 3.0
#: The part of the head's disc (`segmentation.head_disc`) where the model's alpha is made
#: solid (`render_alpha`); its edge is soft, and the outline of the head stays the model's.
FACE_CORE = 0.8
#: A composite that keeps the photo's person reaches this share of their size beyond their
#: mask (the empty scene's hole is grown by `scene.GROW`, 0.03, and feathered).
KEPT_MARGIN = 0.06
#: A kept tile's edges snap outward to a grid of this share of the person's height (composite
#: pixels): a drag that grows the tile a few pixels a frame (a wrist raised past the box) then
#: keeps one tile for many frames, and `vunet_studio.kept` caches its per-drag masks per tile
#: (a new tile every frame made them again every frame: 10-14 ms instead of 6 at 640 x 480).
TILE_GRID = 0.1


@dataclass(frozen=True)
class Alpha:
    """The render's coverage: (S, S) float32 in [0, 1], and where it came from."""

    mask: np.ndarray
    source: str


def render_alpha(render: Render) -> Alpha:
    """Where the person is in `render`: the model's alpha, else the silhouette of its pose.

    The model's alpha is made solid in the middle of the face (`FACE_CORE` of the head's
    disc): a person has no hole there, but a model trained on drawn faces often calls a
    photo's face background, and the composite then showed the empty scene through it, a
    ghost where the face should be (the astronaut and Grace Hopper in ../shared/photos)."""
    if render.alpha is not None:
        alpha: np.ndarray = np.asarray(render.alpha, np.float32)
        s = alpha.shape[0]
        disc = head_disc(render.pose)
        if disc is not None and disc[1] * FACE_CORE >= 1.0:
            (cx, cy), radius = disc
            disc_mask = np.zeros((s, s), np.float32)
            cv2.circle(disc_mask, (round(cx), round(cy)), round(FACE_CORE * radius), 1.0, -1)
            core = cv2.GaussianBlur(disc_mask, (0, 0), 0.25 * FACE_CORE * radius)
            alpha = np.maximum(alpha, core).astype(np.float32)
        return Alpha(alpha, ALPHA_MODEL)
    s = render.image.shape[0]
    return Alpha(stickman_mask(render.pose, s, s), ALPHA_STICKMAN)


def stable_box(base: tuple[float, float, float], pose: Pose, margin: float = EDGE_MARGIN) -> Box:
    """`base` (the box of the person as found in the photo) when `pose`'s visible joints fit
    inside it with `margin` to spare; else the smallest square that holds both `base` and
    the joints with that margin. Continuous in the pose: a joint dragged past the edge grows
    the box by as much as it moves, so the person never jumps or breathes."""
    x0, y0, side = base
    bbox = pose.bbox()
    if bbox is None:
        return Box(*base)
    pad = margin * side
    jx0, jy0, jx1, jy1 = bbox[0] - pad, bbox[1] - pad, bbox[2] + pad, bbox[3] + pad
    if jx0 >= x0 and jy0 >= y0 and jx1 <= x0 + side and jy1 <= y0 + side:
        return Box(*base)
    ux0, uy0 = min(x0, jx0), min(y0, jy0)
    ux1, uy1 = max(x0 + side, jx1), max(y0 + side, jy1)
    new_side = max(ux1 - ux0, uy1 - uy0)
    # Grow away from the side the joints left by: keep base's far edges where they were.
    nx0 = ux0 if jx0 < x0 else ux1 - new_side
    ny0 = uy0 if jy0 < y0 else uy1 - new_side
    if jx0 >= x0 and jx1 <= x0 + side:  # grew vertically only: keep the person centred
        nx0 = x0 + side / 2.0 - new_side / 2.0
    if jy0 >= y0 and jy1 <= y0 + side:
        ny0 = y0 + side / 2.0 - new_side / 2.0
    return Box(float(nx0), float(ny0), float(new_side))


def blend_region(
    scene: np.ndarray,
    render_image: np.ndarray,
    alpha: np.ndarray,
    box: tuple[float, float, float],
    *,
    scale: float = 1.0,
    grey: bool = False,
    feather: float = FEATHER,
    clip: tuple[int, int, int, int] | None = None,
) -> Region | None:
    """The part of `scene` the render changes: the render where `box` says, over the pixels
    the alpha covers.

    scene: (H, W, 3) uint8, the empty scene (or any background) at `scale` x the photo's size.
    render_image: (S, S, 3) uint8; alpha: (S, S) in [0, 1]; box: (x0, y0, side) in photo pixels.
    grey: composite in grey (the photo is grey: the model's colours would not belong there).
    feather: the alpha's Gaussian blur in render pixels where the render is enlarged
    `FEATHER_FULL` x or more; less below that, none at 1:1 or when shrinking.
    Returns (tile, x, y): the blended part of the scene the box covers, (h, w, 3) uint8, and
    where its top-left pixel lies in the scene; None when the box misses the scene. Only the
    tile changes from one pose to the next, so the app sends and repaints just that.
    clip: (x0, y0, x1, y1) in the scene: only that part of the tile is made (the rest of it
    will be the photo's own, `kept`).
    """
    h, w = scene.shape[:2]
    at = placement(box, w, h, scale)
    if at is not None and clip is not None:
        cx0, cy0 = max(at.dx0, clip[0]), max(at.dy0, clip[1])
        cx1, cy1 = min(at.dx1, clip[2]), min(at.dy1, clip[3])
        at = at._replace(dx0=cx0, dy0=cy0, dx1=cx1, dy1=cy1) if cx0 < cx1 and cy0 < cy1 else None
    if at is None:
        return None
    dx0, dy0, dx1, dy1 = at.dx0, at.dy0, at.dx1, at.dy1  # the whole pixels the tile covers
    # The render was drawn in the exact box, so it is mapped through the exact box: mapping
    # it onto the rounded one (as `placement` rounds) moved the person by up to half a pixel
    # and stretched it by up to one, which cost 0.016 of SSIM inside the person's mask on
    # the 128-pixel held-out pairs (a blur as big as the model's own errors).
    x0, y0, side = (float(v) * scale for v in box)
    s = render_image.shape[0]
    k = s / side  # render pixels per frame pixel
    a: np.ndarray = np.asarray(alpha, np.float32)
    blur = feather * min(1.0, max(0.0, (1.0 / k - 1.0) / (FEATHER_FULL - 1.0)))
    if blur >= 0.1:
        a = cv2.GaussianBlur(a, (0, 0), blur)
    rgb = render_image
    if grey:
        rgb = grey_rgb(rgb)
    up = k < 1.0
    # Shrinking (a small person on a display-size frame): low-pass first so nothing
    # aliases, by what a frame pixel spans beyond a render pixel (none at 1:1).
    sigma = 0.5 * math.sqrt(max(0.0, k * k - 1.0))
    if sigma >= 0.2:
        rgb = cv2.GaussianBlur(rgb, (0, 0), sigma)
        a = cv2.GaussianBlur(a, (0, 0), sigma)
    # Cubic when enlarging a full-resolution frame (a 128-pixel render onto a 12-megapixel
    # photo is ~25x); linear for a display-size one (scale < 1), where cubic costs 3x for a
    # difference the screen does not show, and when shrinking (after the low-pass).
    cubic = up and scale >= 1.0
    # Only the part of the box inside the frame is resampled: crop the render to it first.
    sx0, sy0 = (dx0 - x0) * k, (dy0 - y0) * k
    sx1, sy1 = (dx1 - x0) * k, (dy1 - y0) * k
    cx0, cy0 = max(0, math.floor(sx0) - 2), max(0, math.floor(sy0) - 2)
    cx1, cy1 = min(s, math.ceil(sx1) + 2), min(s, math.ceil(sy1) + 2)
    # Affine map from the frame's pixel centres to the cropped render's.
    m = np.array(
        [[k, 0.0, (dx0 - x0 + 0.5) * k - 0.5 - cx0], [0.0, k, (dy0 - y0 + 0.5) * k - 0.5 - cy0]], np.float64
    )
    size = (dx1 - dx0, dy1 - dy0)
    tile = cv2.warpAffine(
        np.ascontiguousarray(rgb[cy0:cy1, cx0:cx1]),
        m,
        size,
        flags=(cv2.INTER_CUBIC if cubic else cv2.INTER_LINEAR) | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    a_tile = cv2.warpAffine(
        np.ascontiguousarray(a[cy0:cy1, cx0:cx1]),
        m,
        size,
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )
    a_tile = np.clip(a_tile, 0.0, 1.0).astype(np.float32)
    roi = np.ascontiguousarray(scene[dy0:dy1, dx0:dx1], dtype=np.uint8)
    return cv2.blendLinear(np.ascontiguousarray(tile), roi, a_tile, 1.0 - a_tile), dx0, dy0


def composite(
    scene: np.ndarray,
    render_image: np.ndarray,
    alpha: np.ndarray,
    box: tuple[float, float, float],
    *,
    scale: float = 1.0,
    grey: bool = False,
    feather: float = FEATHER,
) -> np.ndarray:
    """The render placed into `scene` where `box` says, over the pixels the alpha covers
    (arguments as `blend_region`): a new (H, W, 3) uint8 image; pixels outside the box are
    the scene's own."""
    return with_region(
        scene, blend_region(scene, render_image, alpha, box, scale=scale, grey=grey, feather=feather)
    )


def with_region(scene: np.ndarray, region: Region | None) -> np.ndarray:
    """A copy of `scene` (uint8) with `region` (from `blend_region`) put in its place."""
    out = np.array(scene, dtype=np.uint8, copy=True)
    if region is not None:
        tile, x, y = region
        out[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
    return out


@dataclass(frozen=True)
class Reposed:
    """One pose edit, composited: the frame (the scene's size; None when only the tile was
    asked for), the square render, its alpha, and the tile of the scene that changed (None
    when the box misses the scene) with its top-left pixel in the scene."""

    image: np.ndarray | None
    render: Render
    alpha: Alpha
    tile: Region | None = None


def repose(
    engine: Renderer,
    appearance: Appearance,
    pose: Pose,
    scene: np.ndarray,
    base_box: tuple[float, float, float],
    *,
    scale: float = 1.0,
    grey: bool = False,
    frame: bool = True,
    kept: KeptSource | None = None,
    borrowed: LookSource | None = None,
) -> Reposed:
    """Render `appearance` in `pose` (photo pixels) in the stable box around `base_box`, and
    composite it onto `scene` (the empty scene, or any background, at `scale` x the photo).
    frame=False skips the whole frame: the live view repaints only the tile.
    kept: the photo's own person where the edit left them (`vunet_studio.kept`), for a person
    re-posed in their own photo with their own look; None composites the render alone.
    borrowed: the look photo's head and body (`vunet_studio.borrowed`), carried over the render
    when the look is another photo's; ignored with `kept` (the own person is kept or carried)."""
    render = engine.render(appearance, pose, box=stable_box(base_box, pose))
    return place(render, pose, scene, scale=scale, grey=grey, frame=frame, kept=kept, borrowed=borrowed)


def place(
    render: Render,
    pose: Pose,
    scene: np.ndarray,
    *,
    scale: float = 1.0,
    grey: bool = False,
    frame: bool = True,
    kept: KeptSource | None = None,
    borrowed: LookSource | None = None,
) -> Reposed:
    """`render` (of `pose`, in its box) composited onto `scene`: `repose` once the model has
    rendered, arguments as there. Its own step, so one render can be shown two ways (the
    model's composite and the app's, in `vunet-eval`) without rendering it twice."""
    alpha = render_alpha(render)
    if kept is None:
        tile = blend_region(scene, render.image, alpha.mask, render.box, scale=scale, grey=grey)
        if borrowed is not None:
            tile = with_borrowed(tile, scene, borrowed, pose, scale=scale, grey=grey)
    else:
        tile = _kept_tile(scene, render.image, alpha.mask, render.box, kept, pose, scale=scale, grey=grey)
    return Reposed(with_region(scene, tile) if frame else None, render, alpha, tile)


def prime(
    scene: np.ndarray,
    base_box: tuple[float, float, float],
    kept: KeptSource,
    pose: Pose,
    joint: int,
    *,
    scale: float = 1.0,
    grey: bool = False,
) -> None:
    """Make ahead what a drag of `joint` away from `pose` makes once (the masks of what stays
    and what moves, the photo under a moved arm filled, the limbs' cuts: `vunet_studio.kept`
    caches them on `kept`, per set of moved joints and tile), so that the drag's first frame
    costs what the others do. The torso's fill alone took 30-45 ms of that frame at 640 x 480.
    The app calls it when the pointer comes to rest on a joint, before the press. Arguments as
    `repose`; nothing is drawn or returned."""
    if not pose.visible[joint]:
        return
    box = stable_box(base_box, pose)
    x, y = (float(v) for v in pose.xy[joint])
    # A drag's first frames: `joint` moved, a little more than `STILL` of the box.
    nudged = pose.with_joint(joint, x + 2.0 * STILL * box.side, y)
    blank = np.zeros((8, 8, 3), np.uint8)  # the render's pixels play no part in what is cached
    _kept_tile(scene, blank, np.zeros((8, 8), np.float32), stable_box(base_box, nudged), kept, nudged, scale=scale, grey=grey)


def with_borrowed(
    region: Region | None, scene: np.ndarray, source: LookSource, pose: Pose, *, scale: float, grey: bool
) -> Region | None:
    """`region` (a blended tile of `scene`, or None) with the look photo's torso and limbs
    (`borrowed.borrowed_body`, when `source.body`) and then its head (`borrowed.borrowed_head`)
    carried onto `pose` over it, the tile grown to hold them; unchanged when none fits."""
    h, w = scene.shape[:2]
    carried = borrowed_body(source, pose, (w, h), scale=scale, grey=grey)
    head = borrowed_head(source, pose, (w, h), scale=scale, grey=grey)
    if head is not None:
        carried.append(head)
    if not carried:
        return region
    rects = [(hx, hy, hx + wt.shape[1], hy + wt.shape[0]) for wt, _, (hx, hy) in carried]
    rect = _union(rects)
    if region is None:
        region = (np.array(scene[rect[1] : rect[3], rect[0] : rect[2]], dtype=np.uint8, copy=True), rect[0], rect[1])
    tile, x, y = covering(region, scene, rect)
    out = np.array(tile, dtype=np.uint8, copy=True)
    for weight, pixels, (hx, hy) in carried:
        hh, hw = weight.shape[:2]
        under = np.ascontiguousarray(out[hy - y : hy - y + hh, hx - x : hx - x + hw])
        out[hy - y : hy - y + hh, hx - x : hx - x + hw] = cv2.blendLinear(pixels, under, weight, 1.0 - weight)
    return out, x, y


def covering(region: Region, scene: np.ndarray, rect: tuple[int, int, int, int] | None) -> Region:
    """`region` grown to hold `rect` (x0, y0, x1, y1 in `scene`), the new part the scene's own."""
    tile, x, y = region
    h, w = tile.shape[:2]
    if rect is None:
        return region
    x0, y0 = min(x, rect[0]), min(y, rect[1])
    x1, y1 = max(x + w, rect[2]), max(y + h, rect[3])
    if (x0, y0, x1, y1) == (x, y, x + w, y + h):
        return region
    out = np.array(scene[y0:y1, x0:x1], dtype=np.uint8, copy=True)
    out[y - y0 : y - y0 + h, x - x0 : x - x0 + w] = tile
    return out, x0, y0


def _kept_tile(
    scene: np.ndarray,
    render_image: np.ndarray,
    alpha: np.ndarray,
    box: Box,
    kept: KeptSource,
    pose: Pose,
    *,
    scale: float,
    grey: bool,
) -> Region | None:
    """`blend_region` then `with_kept`, the render blended only where it will show: with one
    wrist dragged, most of the tile is the photo's own, and blending all of it cost 6 ms of
    a 640 x 480 frame."""
    h, w = scene.shape[:2]
    at = placement(box, w, h, scale)
    moving = following(kept, pose, STILL * box.side, scale)
    reach = moving.person_box(max(2, round(KEPT_MARGIN * person_height(moving.pose) * scale)))
    rects = ([(at.dx0, at.dy0, at.dx1, at.dy1)] if at is not None else []) + ([reach] if reach else [])
    if not rects:
        return None
    rect = _union(rects)
    rect = snapped(rect, max(1, round(TILE_GRID * person_height(moving.pose) * scale)), (w, h))
    got = kept_part(moving, pose, rect, scale=scale, box_side=box.side)
    clip = None
    if got is not None and got[2] == 1.0:  # the photo but in `part`: only there is the render needed
        px0, py0, px1, py1 = got[1]
        clip = (rect[0] + px0, rect[1] + py0, rect[0] + px1, rect[1] + py1)
    blended = None
    if clip is None or clip[2] > clip[0]:
        blended = blend_region(scene, render_image, alpha, box, scale=scale, grey=grey, clip=clip)
    if blended is None:  # nothing of the render shows: the scene, under the photo's own pixels
        blended = (np.array(scene[rect[1] : rect[3], rect[0] : rect[2]], dtype=np.uint8, copy=True), rect[0], rect[1])
    region = covering(blended, scene, rect)
    return _lay_kept(region, moving, pose, got, scale=scale, box_side=box.side)


def _union(rects: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    """The smallest rect (x0, y0, x1, y1) that holds all of `rects` (at least one)."""
    return (
        min(r[0] for r in rects),
        min(r[1] for r in rects),
        max(r[2] for r in rects),
        max(r[3] for r in rects),
    )


def snapped(rect: tuple[int, int, int, int], grid: int, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """`rect` (x0, y0, x1, y1) grown outward to multiples of `grid`, cut to `size` (w, h)."""
    x0, y0, x1, y1 = rect
    w, h = size
    return (
        max(0, x0 // grid * grid),
        max(0, y0 // grid * grid),
        min(w, -(-x1 // grid) * grid),
        min(h, -(-y1 // grid) * grid),
    )


def with_kept(region: Region, kept: KeptSource, pose: Pose, *, scale: float, box_side: float) -> Region:
    """`region` (a blended tile) with the photo's own person laid over it where `pose` left
    them (`kept.kept_region`), their moved limbs and torso carried onto their new bones
    (`kept.carried_limbs`, over `kept.filled_torso`) and their head carried along when it
    moved (`kept.carried_head`); unchanged when nothing is kept."""
    tile, x, y = region
    h, w = tile.shape[:2]
    kept = following(kept, pose, STILL * box_side, scale)  # the whole person dragged: they move too
    got = kept_part(kept, pose, (x, y, x + w, y + h), scale=scale, box_side=box_side)
    return _lay_kept(region, kept, pose, got, scale=scale, box_side=box_side)


def _lay_kept(
    region: Region, kept: KeptSource, pose: Pose, got: Part | None, *, scale: float, box_side: float
) -> Region:
    """`with_kept` once the kept part is known (`kept` already `following` the pose)."""
    tile, x, y = region
    h, w = tile.shape[:2]
    rect = (x, y, x + w, y + h)
    photo = kept.crop("photo", rect)
    fill = 0.0 if got is None else got[2]
    # fill 1: the photo, but around what moved; else the blended tile under the kept part
    out: np.ndarray = np.array(photo if fill == 1.0 else tile, dtype=np.uint8, copy=True)
    if got is not None:
        weight, (px0, py0, px1, py1), _ = got
        if px1 > px0 and py1 > py0:
            mine = np.ascontiguousarray(photo[py0:py1, px0:px1])
            theirs = np.ascontiguousarray(tile[py0:py1, px0:px1])
            out[py0:py1, px0:px1] = cv2.blendLinear(mine, theirs, weight, 1.0 - weight)
    # Over it, bottom to top: the chest under a moved arm, the carried torso and limbs, the head.
    filled = filled_torso(kept, pose, rect, scale=scale, box_side=box_side)
    pieces = ([filled] if filled is not None else []) + carried_limbs(kept, pose, rect, scale=scale, box_side=box_side)
    for p_weight, p_photo, (qx0, qy0, qx1, qy1) in pieces:
        under = np.ascontiguousarray(out[qy0:qy1, qx0:qx1])
        out[qy0:qy1, qx0:qx1] = cv2.blendLinear(p_photo, under, p_weight, 1.0 - p_weight)
    head = carried_head(kept, pose, rect, scale=scale, box_side=box_side)
    if head is not None:
        h_weight, h_photo = head
        out = cv2.blendLinear(h_photo, out, h_weight, 1.0 - h_weight)
    if got is None and head is None and not pieces:
        return region
    return out, x, y
