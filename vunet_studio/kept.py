"""The kept region: the person's own pixels that a pose edit leaves where they were.

Qt-free. When a person is re-posed in their own photo with their own look, the limbs whose
joints did not move are the photo's, pixel for pixel: the model's 128-pixel render of them
is a blurred guess at what the photo already shows (on ../shared/photos a render of the
*unchanged* pose scores SSIM 0.49 inside the person's mask). So a pose edit re-renders only
what moved; the rest of the person stays the photo's own (`composite.blend_region` lays the
kept region over the composite).

Which pixels: every pixel of the person's mask goes with its nearest bone in the pose as
found (a distance transform to the bones whose joints stayed against one to those that
moved; the torso filled); it is kept when that bone stayed, and not where a moved limb now
lies (a raised arm in front of the chest is the render's). The region is made at most
`WORK_SIDE` pixels wide (it is soft: the seam is feathered by `FEATHER`) and sharpened by
the person's mask at the composite's own resolution.

Three moves keep the person's pixels although they move: a head tilted or turned is the
same face, carried whole by the rotation, scale and shift of its joints (`carried_head`); a
person moved as a whole (a bone dragged) is kept where they now stand (`following`); and a
moved upper arm, forearm, thigh or shin is the photo's own limb turned onto its new bone
(`carried_limbs`, a carried limb), laid over the render, which fills what it does not cover
(the outside of a bent elbow, a limb stretched past `LIMB_STRETCH`); a torso whose
shoulders or hips moved goes the same way, by the affine map of its joints. A limb is only the
person's pixels near its bone and nearer it than any other bone or the torso: a first try
that carried each bone's whole share of the person took the chest along where an arm had
lain across it; over the torso only the limb's own width now goes. Where a moved arm lay
in front of the torso, the torso is neither kept (a second arm) nor rendered (the model's
pale guess at a chest it never saw) but filled from the torso around it (`filled_torso`).
A pose that shows the person from behind (`turned_around`: a pose copied from a photo of
someone's back) carries the torso and limbs mirrored, and not the face: the head there is
the back of one, the render's (on the 125 of 500 synthetic re-posing pairs that turn around,
a second head had stood beside the render's).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from vunet_studio.imageio import as_rgb_uint8
from vunet_studio.pose import Pose
from vunet_studio.segmentation import head_disc, person_height
from vunet_studio.skeleton import JOINT_INDEX, LIMBS

#: A joint that moved less than this share of the stable box's side did not move (a click
#: on a joint without a drag, or a sub-pixel nudge, keeps the photo).
STILL = 0.004
#: The partition is drawn at most this many pixels on its long side, then upsampled: it is
#: soft everywhere but at the person's outline, which comes from the full-resolution mask.
WORK_SIDE = 256
#: The seam between kept photo and render is blurred over this share of the person's size.
FEATHER = 0.02
#: Where a moved limb now lies, this share of the person's size wide, is the render's: about
#: a forearm's width. Wider (0.14 was tried) and an arm raised beside the head took the face
#: with it into the blurred render (basketball1 in a real window).
BAND = 0.08
#: Over the background the band is this many times wider: there the photo has nothing of
#: the moved limb to show, and the render's sleeve or hand is wider than a forearm.
WIDE = 2
_TORSO = ("lhip", "lshoulder", "rshoulder", "rhip")
FACE = ("cnose", "reye", "leye", "rear", "lear")


@dataclass(frozen=True)
class KeptSource:
    """What a kept region is cut from: the photo (uint8: grey, RGB or RGBA) and its person
    mask ((H, W) in [0, 1]), the pose as found in the photo, and `size`, the composite's
    (width, height) when it is not the photo's (a display-size composite).

    The photo and mask are brought to that size on first use (`layer`), on the thread that
    composites: resizing a 12-megapixel photo on the GUI thread stalled it."""

    photo: np.ndarray
    person: np.ndarray
    pose: Pose
    size: tuple[int, int] | None = None
    #: The person moved as a whole by this many composite pixels (`following`): the photo
    #: and mask are read that far back.
    shift: tuple[int, int] = (0, 0)
    #: Whether moved limbs are carried (`carried_limbs`) or left to the render.
    limbs: bool = True
    #: Which side of the partition each pixel lies on, per set of moved joints and tile: a
    #: drag moves one set of joints for its whole length, so the distance transforms run
    #: once per drag, not per frame (they were 1.4 of the 2.5 ms per frame at 640 x 480).
    _sides: dict[tuple[bytes, tuple[int, ...]], tuple[np.ndarray, np.ndarray | None]] = field(
        default_factory=dict, compare=False, repr=False
    )
    _boxes: dict[int, tuple[int, int, int, int] | None] = field(
        default_factory=dict, compare=False, repr=False
    )
    _layers: dict[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)
    #: Where moved arms lay over the torso (`_torso_hole`), per set of moved joints and tile,
    #: and that place filled (`_torso_filled`), per set of moved joints and scale.
    _holes: dict[tuple[bytes, tuple[int, ...]], tuple[np.ndarray, tuple[int, int, int, int]] | None] = field(
        default_factory=dict, compare=False, repr=False
    )
    _fills: dict[tuple[bytes, float], tuple[np.ndarray, tuple[float, float, float]] | None] = field(
        default_factory=dict, compare=False, repr=False
    )
    #: Each cut's pixels lifted out of the photo (`_lifted`), per cut and tile.
    _lifted: dict[tuple[object, ...], tuple[tuple[int, int, int, int], np.ndarray, np.ndarray] | None] = field(
        default_factory=dict, compare=False, repr=False
    )
    #: The carried limbs' cuts (`_limb_cuts`), per set of carried bones and tile, as `_sides`.
    _limbs: dict[tuple[bytes, tuple[int, ...]], list[np.ndarray]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @staticmethod
    def of(
        photo: np.ndarray,
        person: np.ndarray,
        pose: Pose,
        size: tuple[int, int] | None = None,
        *,
        limbs: bool = True,
    ) -> KeptSource | None:
        """A source for `photo` (uint8) and its mask (the photo's size), or None: a 16-bit or
        float photo keeps no pixels (its 8-bit empty scene is what is shown)."""
        if photo.dtype != np.uint8 or photo.shape[:2] != person.shape[:2]:
            return None
        return KeptSource(photo, person, pose, size, limbs=limbs)

    def scale(self) -> float:
        """Composite pixels per photo pixel (across): 1 unless `size` says otherwise."""
        return 1.0 if self.size is None else self.size[0] / self.photo.shape[1]

    def layer(self, name: str) -> np.ndarray:
        """The layer `name` at the composite's size: "photo" (h, w, 3) uint8 or "person" (h, w) float32."""
        hit = self._layers.get(name)
        if hit is None:
            hit = as_rgb_uint8(self.photo) if name == "photo" else np.asarray(self.person, np.float32)
            if self.size is not None and (hit.shape[1], hit.shape[0]) != self.size:
                hit = cv2.resize(hit, self.size, interpolation=cv2.INTER_AREA)
            self._layers[name] = hit
        return hit

    def person_box(self, margin: int) -> tuple[int, int, int, int] | None:
        """The box around the person's mask (x0, y0, x1, y1 in composite pixels, moved by
        `shift`), `margin` pixels bigger and cut to the frame; None without a person. The
        composite must reach that far: a head above the model's box was cut flat where the
        empty scene began (grace_hopper's cap)."""
        if margin not in self._boxes:
            person = self.layer("person")
            bx, by, bw, bh = cv2.boundingRect((person > 0.01).astype(np.uint8))
            h, w = person.shape[:2]
            self._boxes[margin] = (
                (max(0, bx - margin), max(0, by - margin), min(w, bx + bw + margin), min(h, by + bh + margin))
                if bw and bh
                else None
            )
        hit = self._boxes[margin]
        if hit is None:
            return None
        dx, dy = self.shift
        h, w = self.layer("person").shape[:2]
        x0, y0, x1, y1 = hit
        return max(0, x0 + dx), max(0, y0 + dy), min(w, x1 + dx), min(h, y1 + dy)

    def crop(self, name: str, tile: tuple[int, int, int, int]) -> np.ndarray:
        """`tile` (x0, y0, x1, y1) of the `layer` `name` as the moved person sees it: read
        `shift` pixels back, zero where that falls outside the photo."""
        array = self.layer(name)
        x0, y0, x1, y1 = tile
        dx, dy = self.shift
        if (dx, dy) == (0, 0):
            return array[y0:y1, x0:x1]
        out = np.zeros((y1 - y0, x1 - x0, *array.shape[2:]), array.dtype)
        h, w = array.shape[:2]
        sx0, sy0 = x0 - dx, y0 - dy
        cx0, cy0 = max(sx0, 0), max(sy0, 0)
        cx1, cy1 = min(x1 - dx, w), min(y1 - dy, h)
        if cx0 < cx1 and cy0 < cy1:
            out[cy0 - sy0 : cy1 - sy0, cx0 - sx0 : cx1 - sx0] = array[cy0:cy1, cx0:cx1]
        return out


def following(source: KeptSource, pose: Pose, tolerance: float, scale: float) -> KeptSource:
    """`source` moved with `pose` when the whole skeleton was moved: the joints both poses
    show, shifted back by their median shift, are more of them within `tolerance` photo
    pixels of where they were than unshifted. The person is then kept where they now stand
    (moved by whole composite pixels), and only joints moved on top of that (a wrist
    dragged after the skeleton) are re-rendered. Else `source` itself: a head tilted in a
    portrait moves most of its few joints, but not by one shift."""
    both = source.pose.visible & pose.visible
    if not both.any():
        return source
    d = (pose.xy[both] - source.pose.xy[both]).astype(np.float64)
    t = np.median(d, axis=0)
    if float(np.hypot(t[0], t[1])) <= tolerance:
        return source
    still_here = int((np.hypot(d[:, 0], d[:, 1]) <= tolerance).sum())
    still_moved = int((np.hypot(d[:, 0] - t[0], d[:, 1] - t[1]) <= tolerance).sum())
    if still_moved <= still_here:
        return source
    dx, dy = round(float(t[0]) * scale), round(float(t[1]) * scale)
    return replace(
        source,
        pose=source.pose.translated(dx / scale, dy / scale),
        shift=(dx, dy),
        _sides={},
        _limbs={},
        _lifted={},
        _holes={},
        _fills={},
        _boxes=source._boxes,  # the same person, moved by `shift` when read
        _layers=source._layers,  # the same pixels, read from elsewhere
    )


def moved_joints(found: Pose, pose: Pose, tolerance: float) -> np.ndarray:
    """(18,) bool: the joints of `pose` that are not where they were in `found` (more than
    `tolerance` photo pixels away, or shown or hidden since)."""
    shift = np.linalg.norm(pose.xy - found.xy, axis=1)
    return (pose.visible != found.visible) | (pose.visible & (shift > tolerance))


def _in_both(found: Pose, pose: Pose, *names: str) -> bool:
    """Whether the joints `names` are all seen in both poses."""
    return all(found.visible[JOINT_INDEX[n]] and pose.visible[JOINT_INDEX[n]] for n in names)


def _stayed(moved: np.ndarray, *names: str) -> bool:
    return not any(moved[JOINT_INDEX[n]] for n in names)


def turned_around(found: Pose, pose: Pose) -> bool:
    """Whether `pose` shows the person from the other side than `found` (`Pose.facing`): a
    pose copied from a photo of someone's back. The photo's face then belongs on no part
    of the head, which shows the back of it."""
    return found.facing() * pose.facing() < 0


def _is_head_bone(a: str, b: str) -> bool:
    return (a in FACE or b in FACE) and {a, b} <= {*FACE, "cneck"}


def _head_moved(found: Pose, pose: Pose, moved: np.ndarray) -> bool:
    """The face moved, and at least one of its joints is seen in both poses to carry it by."""
    both = [n for n in FACE if _in_both(found, pose, n)]
    return bool(both) and any(moved[JOINT_INDEX[n]] for n in FACE)


@dataclass(frozen=True)
class _Frame:
    """A tile and its work raster: what `kept_region` and `carried_head` share."""

    x0: int
    y0: int
    w: int
    h: int
    f: float  # work pixels per composite pixel
    k: float  # work pixels per photo pixel
    ww: int
    wh: int
    scale: float  # composite pixels per photo pixel

    @staticmethod
    def of(tile: tuple[int, int, int, int], scale: float) -> _Frame:
        x0, y0, x1, y1 = tile
        w, h = x1 - x0, y1 - y0
        f = min(1.0, WORK_SIDE / max(w, h))
        return _Frame(x0, y0, w, h, f, scale * f, max(1, round(w * f)), max(1, round(h * f)), scale)

    def joints(self, p: Pose, names: tuple[str, ...]) -> np.ndarray:
        """Joints `names` of `p` (photo pixels) in the tile's pixels: (n, 2) float64."""
        return np.array([p.xy[JOINT_INDEX[n]] for n in names], np.float64) * self.scale - (self.x0, self.y0)

    def pt(self, p: Pose, name: str) -> tuple[int, int]:
        x, y = p.xy[JOINT_INDEX[name]]
        return round(float(x) * self.k - self.x0 * self.f), round(float(y) * self.k - self.y0 * self.f)

    def tile_box(self, x0: float, y0: float, x1: float, y1: float, pad: int = 0) -> tuple[int, int, int, int]:
        """The work raster's box (x0, y0, x1, y1) in the tile's pixels, grown by `pad` and cut
        to the tile (cv2.resize's pixel mapping: work pixels per tile pixel ww / w)."""
        sx, sy = self.ww / self.w, self.wh / self.h
        return (
            max(0, int(x0 / sx) - pad),
            max(0, int(y0 / sy) - pad),
            min(self.w, int(np.ceil(x1 / sx)) + pad),
            min(self.h, int(np.ceil(y1 / sy)) + pad),
        )

    def to_work(self, x0: int, y0: int, origin: tuple[int, int] = (0, 0)) -> np.ndarray:
        """The 2 x 3 map (for `cv2.WARP_INVERSE_MAP`) from tile pixels counted from (x0, y0)
        to the work raster's, counted from `origin`: cv2.resize's own pixel mapping, so a
        part of the tile-size upsampling can be made alone."""
        sx, sy = self.ww / self.w, self.wh / self.h
        return np.array([[sx, 0.0, (x0 + 0.5) * sx - 0.5 - origin[0]], [0.0, sy, (y0 + 0.5) * sy - 0.5 - origin[1]]])


def _frame_key(fr: _Frame) -> tuple[int, ...]:
    """What a raster made in `fr` depends on: the tile and its work size."""
    return (fr.x0, fr.y0, fr.w, fr.h, fr.ww, fr.wh)


def torso_corners(pose: Pose) -> np.ndarray | None:
    """The torso's polygon, (4, 2) photo pixels in `_TORSO`'s order: the pose's shoulders and
    hips, a portrait's hips where `Pose.with_inferred_hips` puts them (below the frame, as the
    model sees them); None without both shoulders.

    Without the inferred hips a portrait had no torso here at all: its chest went with the
    nearest arm, and moving that arm re-rendered the chest (the astronaut in
    ../shared/photos, her elbow raised, had her mission patch blurred away)."""
    whole = pose.with_inferred_hips()
    if not all(whole.visible[JOINT_INDEX[n]] for n in _TORSO):
        return None
    return np.array([whole.xy[JOINT_INDEX[n]] for n in _TORSO], np.float64)


def _fill_torso(raster: np.ndarray, fr: _Frame, corners: np.ndarray) -> None:
    """The torso's polygon (`torso_corners`, photo pixels) filled into `raster` (work pixels)."""
    pts = np.rint(corners * fr.k - (fr.x0 * fr.f, fr.y0 * fr.f)).astype(np.int32)
    cv2.fillPoly(raster, [pts], 1)


def _near(bones: np.ndarray) -> np.ndarray:
    """Each work pixel's distance to the drawn `bones` ({0, 1} uint8); far (1e9) without any."""
    if not bones.any():
        return np.full(bones.shape, np.float32(1e9))
    return cv2.distanceTransform(1 - bones, cv2.DIST_L2, 3)


def _draw_bone(raster: np.ndarray, fr: _Frame, pose: Pose, a: str, b: str, end: bool, thickness: int) -> None:
    """Bone a-b of `pose` drawn into `raster`, on past b by `LIMB_END` of its length when b
    is a hand or a foot (`end`)."""
    p, q = np.array(fr.pt(pose, a), np.float64), np.array(fr.pt(pose, b), np.float64)
    if end:
        q = q + LIMB_END * (q - p)
    cv2.line(raster, (round(p[0]), round(p[1])), (round(q[0]), round(q[1])), 1, thickness)


def _moved_lines(raster: np.ndarray, fr: _Frame, pose: Pose, moved: np.ndarray, thickness: int) -> None:
    """The bones of `pose` that moved, where they are now, drawn `thickness` wide into `raster`."""
    for a, b in LIMBS:
        if pose.visible[JOINT_INDEX[a]] and pose.visible[JOINT_INDEX[b]] and not _stayed(moved, a, b):
            cv2.line(raster, fr.pt(pose, a), fr.pt(pose, b), 1, thickness)


def _partition(
    source: KeptSource, moved: np.ndarray, head: bool, fr: _Frame
) -> tuple[np.ndarray, np.ndarray | None]:
    """Which pixels of the work raster go with a bone that stayed, and (when the head moved,
    `head`) which with the head: (wh, ww) float32 {0, 1} each. Cached per drag."""
    key = (moved.tobytes() + bytes([head]), _frame_key(fr))
    hit = source._sides.get(key)
    if hit is not None:
        return hit
    found = source.pose
    line = max(1, round(0.03 * person_height(found) * fr.k))
    still_bones = np.zeros((fr.wh, fr.ww), np.uint8)
    moved_bones = np.zeros((fr.wh, fr.ww), np.uint8)
    head_bones = np.zeros((fr.wh, fr.ww), np.uint8)

    def seen(*names: str) -> bool:
        return all(found.visible[JOINT_INDEX[n]] for n in names)

    for a, b in LIMBS:
        if seen(a, b):
            if _stayed(moved, a, b) and not (head and _is_head_bone(a, b)):
                target = still_bones
            else:
                target = head_bones if head and _is_head_bone(a, b) else moved_bones
            cv2.line(target, fr.pt(found, a), fr.pt(found, b), 1, line)
    corners = torso_corners(found)
    if corners is not None:
        _fill_torso(still_bones if _stayed(moved, *_TORSO) else moved_bones, fr, corners)
    near_still, near_moved = _near(still_bones), _near(moved_bones)
    near_head = _near(head_bones) if head else np.full((fr.wh, fr.ww), np.float32(1e9))
    others = np.minimum(near_moved, near_head)
    keep = ((near_still <= others) & still_bones.any()).astype(np.float32)
    carried = ((near_head < np.minimum(near_still, near_moved)).astype(np.float32)) if head else None
    if len(source._sides) >= 8:
        source._sides.clear()
    source._sides[key] = (keep, carried)
    return keep, carried


Part = tuple[np.ndarray, tuple[int, int, int, int], float]


def kept_region(
    source: KeptSource,
    pose: Pose,
    tile: tuple[int, int, int, int],
    *,
    scale: float,
    box_side: float,
) -> np.ndarray | None:
    """How much of each pixel of `tile` (x0, y0, x1, y1 in the composite's pixels) stays the
    photo's own for `pose`: (h, w) float32 in [0, 1], or None when nothing is kept
    (`kept_part`, spelled out over the whole tile)."""
    got = kept_part(source, pose, tile, scale=scale, box_side=box_side)
    if got is None:
        return None
    weight, (px0, py0, px1, py1), fill = got
    out = np.full((tile[3] - tile[1], tile[2] - tile[0]), fill, np.float32)
    out[py0:py1, px0:px1] = weight
    return out


def kept_part(
    source: KeptSource,
    pose: Pose,
    tile: tuple[int, int, int, int],
    *,
    scale: float,
    box_side: float,
) -> Part | None:
    """How much of each pixel of `tile` (x0, y0, x1, y1 in the composite's pixels) stays the
    photo's own for `pose`, as (weight, part, fill): the weights over `part` (x0, y0, x1, y1
    within the tile) and `fill`, the weight everywhere else; None when nothing is kept
    (every limb moved). Only around what moved is anything but the photo, so the composite
    blends only there (a drag of one wrist changes a tenth of the tile). The background near
    what stayed is the photo's too: the render's halo and the empty scene's fill belong only
    where a limb moved from or to. `box_side`: the stable box's side in photo pixels (what
    `STILL` is a share of). A moved head is not kept here but carried (`carried_head`)."""
    fr = _Frame.of(tile, scale)
    if fr.w <= 0 or fr.h <= 0:
        return None
    person = source.crop("person", tile)
    found = source.pose
    moved = moved_joints(found, pose, STILL * box_side)
    whole = (0, 0, fr.w, fr.h)
    if not moved.any():  # nothing moved: the photo as it is (a person moved whole: just them)
        if source.shift == (0, 0):
            return np.ones((0, 0), np.float32), (0, 0, 0, 0), 1.0
        return person.astype(np.float32), whole, 0.0
    keep, _ = _partition(source, moved, _head_moved(found, pose, moved), fr)
    under = _torso_hole(source, moved, fr) if _torso_stayed(found, moved) else None
    if under is not None:  # an arm lay in front of the chest: not kept there, but filled
        hole, (bx0, by0, bx1, by1) = under
        keep = keep.copy()
        keep[by0:by1, bx0:bx1] *= 1.0 - hole
    if not keep.any():
        return None
    size = person_height(found) * fr.k
    band = max(1, round(BAND * size))
    now = np.zeros((fr.wh, fr.ww), np.uint8)
    wide = np.zeros((fr.wh, fr.ww), np.uint8)  # over the background: the render's whole limb
    _moved_lines(now, fr, pose, moved, band)
    _moved_lines(wide, fr, pose, moved, WIDE * band)
    face = [n for n in FACE if found.visible[JOINT_INDEX[n]]]
    if face and not _stayed(moved, *face, "cneck"):
        disc = head_disc(pose)
        if disc is not None:  # the moved head, where it is now, is the render's (or carried)
            (cx, cy), radius = disc
            centre = (round(cx * fr.k - fr.x0 * fr.f), round(cy * fr.k - fr.y0 * fr.f))
            cv2.circle(now, centre, max(1, round(radius * fr.k)), 1, -1)
    for end in ("rwrist", "lwrist", "rankle", "lankle"):  # hands and feet reach past their joints
        if moved[JOINT_INDEX[end]] and pose.visible[JOINT_INDEX[end]]:
            cv2.circle(now, fr.pt(pose, end), band, 1, -1)
            cv2.circle(wide, fr.pt(pose, end), WIDE * band, 1, -1)
    on_person = keep * (1.0 - now.astype(np.float32))
    # A person moved as a whole takes only themselves along: their background stays put.
    off_person = (
        keep * (1.0 - np.maximum(now, wide).astype(np.float32))
        if source.shift == (0, 0)
        else np.zeros_like(keep)
    )
    sigma = FEATHER * size
    if sigma >= 0.3:
        on_person = cv2.GaussianBlur(on_person, (0, 0), sigma)
        off_person = cv2.GaussianBlur(off_person, (0, 0), sigma)
    if on_person.max() <= 1e-3 and off_person.max() <= 1e-3:
        return None
    part, fill = whole, 0.0
    if source.shift == (0, 0):  # the photo everywhere but around what moved
        changed = (np.minimum(on_person, off_person) < 0.999).astype(np.uint8)
        bx, by, bw, bh = cv2.boundingRect(changed)
        part = fr.tile_box(bx, by, bx + bw, by + bh, pad=2)
        fill = 1.0
    px0, py0, px1, py1 = part
    if px1 <= px0 or py1 <= py0:
        return np.ones((0, 0), np.float32), (0, 0, 0, 0), fill
    size_part = (px1 - px0, py1 - py0)
    if (fr.ww, fr.wh) != (fr.w, fr.h):
        # The part of the tile-size upsampling, made alone.
        m = fr.to_work(px0, py0)
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        on_person = cv2.warpAffine(on_person, m, size_part, flags=flags, borderMode=cv2.BORDER_REPLICATE)
        off_person = cv2.warpAffine(off_person, m, size_part, flags=flags, borderMode=cv2.BORDER_REPLICATE)
    else:
        on_person, off_person = on_person[py0:py1, px0:px1], off_person[py0:py1, px0:px1]
    weight: np.ndarray = off_person + (on_person - off_person) * person[py0:py1, px0:px1]
    return weight, part, fill


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2 x 3 rotation + uniform scale + shift that maps points `src` onto `dst` ((n, 2)
    each) best in least squares; a shift alone for one point. The scale is held to 0.5-2."""
    if len(src) == 1 or float(((src - src.mean(0)) ** 2).sum()) < 1e-6:
        t = dst[0] - src[0]
        return np.array([[1.0, 0.0, t[0]], [0.0, 1.0, t[1]]])
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    den = float((a**2).sum())
    c = float((a[:, 0] * b[:, 0] + a[:, 1] * b[:, 1]).sum()) / den
    s = float((a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]).sum()) / den
    gain = float(np.hypot(c, s))
    if gain > 0.0:
        c, s = c * np.clip(gain, 0.5, 2.0) / gain, s * np.clip(gain, 0.5, 2.0) / gain
    r = np.array([[c, -s], [s, c]])
    return np.hstack([r, (md - r @ ms)[:, None]])


def head_share(
    source: KeptSource, moved: np.ndarray, tile: tuple[int, int, int, int], *, scale: float
) -> np.ndarray | None:
    """How much of each pixel of `tile` (composite pixels) is the person's head in the pose as
    found: the mask's pixels nearer the head's bones than any other (`moved`: the joints that
    moved, the face among them), feathered; (h, w) float32, or None with no head to carry."""
    fr = _Frame.of(tile, scale)
    if fr.w <= 0 or fr.h <= 0:
        return None
    _, head = _partition(source, moved, True, fr)
    if head is None or not head.any():
        return None
    sigma = FEATHER * person_height(source.pose) * fr.k
    soft = cv2.GaussianBlur(head, (0, 0), sigma) if sigma >= 0.3 else head
    if (fr.ww, fr.wh) != (fr.w, fr.h):
        soft = cv2.resize(soft, (fr.w, fr.h), interpolation=cv2.INTER_LINEAR)
    out: np.ndarray = soft * source.crop("person", tile)
    return out


def carried_head(
    source: KeptSource,
    pose: Pose,
    tile: tuple[int, int, int, int],
    *,
    scale: float,
    box_side: float,
) -> tuple[np.ndarray, np.ndarray] | None:
    """The photo's own head moved with `pose`'s face: a tilted or turned head is the same
    face, so it is carried whole (one rotation, scale and shift fitted to the face joints
    both poses show) instead of re-rendered as a blur. A pose that shows the person from
    behind (`turned_around`) shows the back of the head: the render's, not this face on it
    (on synthetic pairs it was a second head beside the render's). Returns (weight (h, w) float32, the
    carried photo (h, w, 3) uint8) over `tile`, or None when the head did not move."""
    found = source.pose
    moved = moved_joints(found, pose, STILL * box_side)
    if not _head_moved(found, pose, moved) or turned_around(found, pose):
        return None
    soft = head_share(source, moved, tile, scale=scale)  # None for an empty tile too
    if soft is None:
        return None
    x0, y0, x1, y1 = tile
    size = (x1 - x0, y1 - y0)
    both = [JOINT_INDEX[n] for n in FACE if _in_both(found, pose, n)]
    origin = np.array([x0, y0], np.float64)
    m = similarity(
        found.xy[both].astype(np.float64) * scale - origin, pose.xy[both].astype(np.float64) * scale - origin
    )
    weight = cv2.warpAffine(soft, m, size, flags=cv2.INTER_LINEAR)
    if weight.max() <= 1e-3:
        return None
    photo = cv2.warpAffine(
        np.ascontiguousarray(source.crop("photo", tile)),
        m,
        size,
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return weight, photo


#: The limb bones a drag carries whole (upper arm, forearm, thigh, shin), each with whether
#: its far end is a hand or a foot, which reaches past the joint.
CARRIED = (
    ("rshoulder", "relbow", False),
    ("relbow", "rwrist", True),
    ("lshoulder", "lelbow", False),
    ("lelbow", "lwrist", True),
    ("rhip", "rknee", False),
    ("rknee", "rankle", True),
    ("lhip", "lknee", False),
    ("lknee", "lankle", True),
)
#: A carried limb is the person's pixels this near its bone (share of the person's size;
#: a forearm is about 0.11 wide) and nearer it than any other bone (the torso's sides, the
#: neck-to-hip lines, excepted: over the torso `LIMB_OVER_TORSO` holds instead).
LIMB_RADIUS = 0.07
#: Over the torso a limb is only this near its bone (about half a forearm's width): an arm
#: held in front of the chest is carried, the chest beside it is not.
LIMB_OVER_TORSO = 0.035
#: Where a moved arm lay over the torso, this near its bone (share of the person's size) is
#: not kept but filled from the torso around it (`filled_torso`): wider than the carried cut,
#: so the arm's soft edge does not stay behind as a ghost.
ARM_HOLE = 0.05
#: A carried limb's edge is blurred over this share of the person's size: half the kept
#: region's `FEATHER`, which left an arm over the chest (0.07 wide) a third transparent.
LIMB_FEATHER = 0.01
_TORSO_SIDES = ({"cneck", "rhip"}, {"cneck", "lhip"})
#: A hand or foot: the bone drawn on past its end joint by this share of its length.
LIMB_END = 0.2
#: The limb stretches or shrinks along its bone at most this much. Stretched, a limb smears
#: (beyond 1.4 the render shows where the carried limb does not reach); shrunk, it reads as
#: foreshortened, a forearm pointed at the camera, so it may shrink further (held longer
#: than its bone, the hand would land past the wrist).
LIMB_STRETCH = (0.4, 1.4)

Piece = tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]


def _limb_cuts(source: KeptSource, bones: tuple[int, ...], fr: _Frame) -> list[np.ndarray]:
    """For each of the `CARRIED` bones indexed by `bones`, which pixels of the work raster
    are that limb in the pose as found: (wh, ww) float32 soft masks. Cached per drag."""
    key = (bytes(bones), _frame_key(fr))
    hit = source._limbs.get(key)
    if hit is not None:
        return hit
    found = source.pose
    size = person_height(found) * fr.k
    line = max(1, round(0.03 * size))

    def seen(*names: str) -> bool:
        return all(found.visible[JOINT_INDEX[n]] for n in names)

    # Over the torso only the limb's own width: an arm held in front of the chest.
    torso = np.zeros((fr.wh, fr.ww), np.uint8)
    corners = torso_corners(found)
    if corners is not None:
        _fill_torso(torso, fr, corners)
    reach = np.where(torso > 0, LIMB_OVER_TORSO, LIMB_RADIUS).astype(np.float32) * size
    cuts = []
    for i in bones:
        a, b, end = CARRIED[i]
        this = np.zeros((fr.wh, fr.ww), np.uint8)
        _draw_bone(this, fr, found, a, b, end, line)
        others = np.zeros((fr.wh, fr.ww), np.uint8)
        for c, d in LIMBS:
            # The torso's sides are not in front of an arm across the chest: `reach` stands for them.
            if {c, d} != {a, b} and seen(c, d) and {c, d} not in _TORSO_SIDES:
                cv2.line(others, fr.pt(found, c), fr.pt(found, d), 1, line)
        d_this = _near(this)
        cut = ((d_this < _near(others)) & (d_this <= reach)).astype(np.float32)
        sigma = LIMB_FEATHER * size
        cuts.append(cv2.GaussianBlur(cut, (0, 0), sigma) if sigma >= 0.3 else cut)
    if len(source._limbs) >= 8:
        source._limbs.clear()
    source._limbs[key] = cuts
    return cuts


def _limb_map(
    p0: np.ndarray, p1: np.ndarray, q0: np.ndarray, q1: np.ndarray, flip: bool = False, gain: float = 1.0
) -> np.ndarray | None:
    """The 2 x 3 affine taking bone p0-p1 onto q0-q1: turned, stretched along the bone
    (within `LIMB_STRETCH`), its width kept, mirrored across the bone with `flip` (the person
    turned around: the limb's outer side is then toward the body). `gain`: how much bigger
    the person is where the limb goes (another photo's person, `borrowed.borrowed_body`): the
    width is scaled by it and the stretch counted from it. None for a bone of no length."""
    lp, lq = float(np.linalg.norm(p1 - p0)), float(np.linalg.norm(q1 - q0))
    if lp < 1e-6 or lq < 1e-6:
        return None
    u, v = (p1 - p0) / lp, (q1 - q0) / lq
    rs = np.array([[u[0], -u[1]], [u[1], u[0]]])  # columns: along, across (source)
    rd = np.array([[v[0], -v[1]], [v[1], v[0]]])
    k = gain * float(np.clip(lq / (lp * gain), *LIMB_STRETCH))
    a = rd @ np.diag([k, -gain if flip else gain]) @ rs.T
    return np.hstack([a, (q0 - a @ p0)[:, None]])


def carried_limbs(
    source: KeptSource,
    pose: Pose,
    tile: tuple[int, int, int, int],
    *,
    scale: float,
    box_side: float,
) -> list[Piece]:
    """The photo's own limbs moved with `pose`: each moved upper arm, forearm, thigh and shin
    whose joints both poses show, cut from the photo (`_limb_cuts`) and turned onto its new
    bone, over the moved torso (`_torso_cut`, by the affine map of its four joints) when its
    shoulders or hips moved (a lean, a copied pose). Each as (weight (h, w)
    float32, photo (h, w, 3) uint8, (x0, y0, x1, y1) in the tile); none when `source.limbs`
    is off."""
    if not source.limbs:
        return []
    found = source.pose
    moved = moved_joints(found, pose, STILL * box_side)
    fr = _Frame.of(tile, scale)
    if fr.w <= 0 or fr.h <= 0:
        return []

    bones = tuple(
        i for i, (a, b, _) in enumerate(CARRIED) if _in_both(found, pose, a, b) and not _stayed(moved, a, b)
    )
    torso = _in_both(found, pose, *_TORSO) and not _stayed(moved, *_TORSO)  # a lean, a copied pose
    return _carried_pieces(
        source, fr, torso, bones, lambda names: fr.joints(pose, names), flip=turned_around(found, pose)
    )


def carried_onto(source: KeptSource, pose: Pose, *, scale: float, bounds: tuple[int, int]) -> list[Piece]:
    """`source`'s whole person but the head, carried onto `pose`, the pose of a person in
    another photo (`borrowed.borrowed_body`): the torso by the affine map of its four joints,
    then each upper arm, forearm, thigh and shin both poses show, turned onto its bone and
    scaled by the two people's sizes. Pieces as `carried_limbs`, in the other photo's scene
    (`scale` scene pixels per pixel of `pose`, cut to `bounds`, its (width, height)); with
    `pose` seen from the other side (`turned_around`), mirrored."""
    found = source.pose
    box = source.person_box(0)
    if box is None:
        return []
    fr = _Frame.of(box, source.scale())

    def onto(names: tuple[str, ...]) -> np.ndarray:  # in the other photo's scene
        return np.array([pose.xy[JOINT_INDEX[n]] for n in names], np.float64) * scale

    bones = tuple(i for i, (a, b, _) in enumerate(CARRIED) if _in_both(found, pose, a, b))
    gain = scale * person_height(pose) / max(1e-6, fr.scale * person_height(found))
    torso = _in_both(found, pose, *_TORSO)
    return _carried_pieces(source, fr, torso, bones, onto, flip=turned_around(found, pose), gain=gain, bounds=bounds)


def _carried_pieces(
    source: KeptSource,
    fr: _Frame,
    torso: bool,
    bones: tuple[int, ...],
    onto: Callable[[tuple[str, ...]], np.ndarray],
    *,
    flip: bool,
    gain: float = 1.0,
    bounds: tuple[int, int] | None = None,
) -> list[Piece]:
    """The person's torso (with `torso`: `_torso_cut`, moved by `_torso_map`) and then the
    `CARRIED` bones indexed by `bones` (`_limb_cuts`, each moved by `_limb_map`), cut in
    `fr` from the pose as found and moved to where `onto` puts those joints: `carried_limbs`
    within one tile, `carried_onto` into another photo's scene (`gain`, `bounds`). With
    `flip` (`turned_around`), mirrored."""
    found = source.pose
    pieces: list[Piece] = []
    if torso:
        m = _torso_map(fr.joints(found, _TORSO), onto(_TORSO), flip)
        piece = _warped(source, fr, _torso_cut(source, fr), m, bounds, key=("torso", *_frame_key(fr)))
        if piece is not None:
            pieces.append(piece)
    for i, cut in zip(bones, _limb_cuts(source, bones, fr) if bones else [], strict=True):
        a, b, _ = CARRIED[i]
        p, q = fr.joints(found, (a, b)), onto((a, b))
        limb = _limb_map(p[0], p[1], q[0], q[1], flip, gain)
        piece = None if limb is None else _warped(source, fr, cut, limb, bounds, key=(i, *_frame_key(fr)))
        if piece is not None:
            pieces.append(piece)
    return pieces


def _torso_cut(source: KeptSource, fr: _Frame) -> np.ndarray:
    """Which pixels of `fr`'s work raster are the torso in the pose as found (soft): the
    person's pixels near the torso polygon and nearer it than any limb, less an arm's width
    along the arms (they are carried on their own). Cached per frame."""
    found = source.pose
    key = (b"torso", _frame_key(fr))
    hit = source._limbs.get(key)
    if hit is None:
        size = person_height(found) * fr.k
        line = max(1, round(0.03 * size))
        this = np.zeros((fr.wh, fr.ww), np.uint8)
        corners = torso_corners(found)
        assert corners is not None  # carried only with all four joints seen (`carried_limbs`)
        _fill_torso(this, fr, corners)
        others = np.zeros((fr.wh, fr.ww), np.uint8)
        arms = np.zeros((fr.wh, fr.ww), np.uint8)
        for c, d in LIMBS:
            # The limbs, not the bones from the neck (the torso's sides and collar bones).
            if "cneck" not in (c, d) and found.visible[JOINT_INDEX[c]] and found.visible[JOINT_INDEX[d]]:
                cv2.line(others, fr.pt(found, c), fr.pt(found, d), 1, line)
                if any(n in (c, d) for n in ("relbow", "lelbow")):
                    cv2.line(arms, fr.pt(found, c), fr.pt(found, d), 1, line)
        d_this = _near(this)
        on_torso = (this > 0) | (d_this < _near(others))
        cut = (d_this <= LIMB_RADIUS * size) & on_torso & (_near(arms) > LIMB_OVER_TORSO * size)
        sigma = LIMB_FEATHER * size
        soft = cut.astype(np.float32)
        hit = [cv2.GaussianBlur(soft, (0, 0), sigma) if sigma >= 0.3 else soft]
        if len(source._limbs) >= 8:
            source._limbs.clear()
        source._limbs[key] = hit
    return hit[0]


def _torso_map(src: np.ndarray, dst: np.ndarray, flip: bool = False) -> np.ndarray:
    """The least-squares affine map of the torso's four joints, or their similarity
    (`similarity`) when the affine one would flip the torso or squash it past 2:1. With
    `flip` (the person turned around, `turned_around`) the map must flip it: seen from
    behind, the right shoulder is on the other side, and the torso is the photo's mirrored
    (on 40 such synthetic pairs, mask SSIM 0.53 with the similarity, 0.56 left to the
    render, 0.58 mirrored)."""
    a = np.hstack([src, np.ones((len(src), 1))])
    sol, *_ = np.linalg.lstsq(a, dst, rcond=None)  # (3, 2)
    m = sol.T  # (2, 3)
    sv = np.linalg.svd(m[:, :2], compute_uv=False)
    if (np.linalg.det(m[:, :2]) <= 0) != flip or sv[1] <= 0 or sv[0] / sv[1] > 2.0:
        return similarity(src, dst)
    return m


def _lifted(
    source: KeptSource, fr: _Frame, cut: np.ndarray, key: tuple[object, ...] | None
) -> tuple[tuple[int, int, int, int], np.ndarray, np.ndarray] | None:
    """The photo's pixels under `cut` (work raster, soft), lifted out at the tile's resolution:
    (their box in the tile, weight sharpened by the person's own outline, pixels), or None
    for an empty cut. What a drag does not change: cached under `key` (the cut's own, or
    None for no caching), so each frame only warps it."""
    if key is not None and key in source._lifted:
        return source._lifted[key]
    out = None
    bx, by, bw, bh = cv2.boundingRect((cut > 1e-3).astype(np.uint8))
    if bw and bh:
        src = fr.tile_box(bx, by, bx + bw, by + bh, pad=2)
        sw, sh = src[2] - src[0], src[3] - src[1]
        soft = cv2.warpAffine(cut, fr.to_work(src[0], src[1]), (sw, sh), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        rect = (fr.x0 + src[0], fr.y0 + src[1], fr.x0 + src[2], fr.y0 + src[3])
        out = (src, soft * source.crop("person", rect), np.ascontiguousarray(source.crop("photo", rect)))
    if key is not None:
        if len(source._lifted) >= 32:
            source._lifted.clear()
        source._lifted[key] = out
    return out


def _warped(
    source: KeptSource,
    fr: _Frame,
    cut: np.ndarray,
    m: np.ndarray,
    bounds: tuple[int, int] | None = None,
    key: tuple[object, ...] | None = None,
) -> Piece | None:
    """The photo's pixels under `cut` (work raster, soft) moved by `m` (2 x 3, tile pixels to
    tile pixels): (weight, photo, roi in the tile), or None when nothing lands in the tile.
    `bounds`: (width, height) of where `m` lands when it is not this tile (another photo's
    scene, `borrowed.borrowed_body`); `key`: the cut's cache key (`_lifted`)."""
    lifted = _lifted(source, fr, cut, key)
    if lifted is None:
        return None
    src, weight, photo = lifted
    corners = np.array([[src[0], src[1]], [src[2], src[1]], [src[0], src[3]], [src[2], src[3]]], np.float64)
    dst = corners @ m[:, :2].T + m[:, 2]
    bw, bh = bounds or (fr.w, fr.h)
    roi = (
        max(0, int(np.floor(dst[:, 0].min()))),
        max(0, int(np.floor(dst[:, 1].min()))),
        min(bw, int(np.ceil(dst[:, 0].max()))),
        min(bh, int(np.ceil(dst[:, 1].max()))),
    )
    if roi[2] <= roi[0] or roi[3] <= roi[1]:
        return None
    # Source crop coordinates -> destination ROI coordinates.
    shift_in = np.array([[1.0, 0.0, src[0]], [0.0, 1.0, src[1]], [0.0, 0.0, 1.0]])
    mm = np.vstack([m, [0.0, 0.0, 1.0]]) @ shift_in
    mm[:, 2] -= (roi[0], roi[1], 0.0)
    size = (roi[2] - roi[0], roi[3] - roi[1])
    w_dst = cv2.warpAffine(weight, mm[:2], size, flags=cv2.INTER_LINEAR)
    if w_dst.max() <= 1e-3:
        return None
    p_dst = cv2.warpAffine(photo, mm[:2], size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return w_dst, p_dst, roi


def filled_torso(
    source: KeptSource,
    pose: Pose,
    tile: tuple[int, int, int, int],
    *,
    scale: float,
    box_side: float,
) -> Piece | None:
    """The torso where a moved arm lay in front of it, filled from the torso around it: the
    photo never showed what was under an arm held across the chest, and the render's guess
    at it on a real photo is a pale ghost of the arm. Only over the torso (the polygon of the
    shoulders and hips as found) and not where a moved limb now lies; elsewhere the old
    place of a limb is the render over the empty scene. (weight, photo, rect in the tile), or
    None when no moved arm lay over a torso that stayed."""
    found = source.pose
    moved = moved_joints(found, pose, STILL * box_side)
    if not moved.any() or not _torso_stayed(found, moved):
        return None
    fr = _Frame.of(tile, scale)
    if fr.w <= 0 or fr.h <= 0:
        return None
    hit = _torso_hole(source, moved, fr)
    filled = _torso_filled(source, moved, scale)
    if hit is None or filled is None:
        return None
    hole, (bx0, by0, bx1, by1) = hit
    size = person_height(found) * fr.k
    now = np.zeros((fr.wh, fr.ww), np.uint8)
    _moved_lines(now, fr, pose, moved, max(1, round(BAND * size)))
    work = hole * (1.0 - now[by0:by1, bx0:bx1].astype(np.float32))
    sigma = FEATHER * size
    if sigma >= 0.3:
        work = cv2.GaussianBlur(work, (0, 0), sigma)
    if work.max() <= 1e-3:
        return None
    rect = fr.tile_box(bx0, by0, bx1, by1)
    size_rect = (rect[2] - rect[0], rect[3] - rect[1])
    if size_rect[0] <= 0 or size_rect[1] <= 0:
        return None
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    # Tile pixels over `rect` -> the hole's work raster (from bx0, by0).
    weight = cv2.warpAffine(work, fr.to_work(rect[0], rect[1], (bx0, by0)), size_rect, flags=flags, borderMode=cv2.BORDER_REPLICATE)
    # ... and -> the fill's own raster (`_torso_filled`, made once per drag).
    image, (px0, py0, pf) = filled
    x0, y0 = fr.x0 + rect[0], fr.y0 + rect[1]
    mf = np.array([[pf, 0.0, (x0 + 0.5) * pf - 0.5 - px0], [0.0, pf, (y0 + 0.5) * pf - 0.5 - py0]])
    photo = cv2.warpAffine(image, mf, size_rect, flags=flags, borderMode=cv2.BORDER_REPLICATE)
    weight = weight * source.crop("person", (x0, y0, x0 + size_rect[0], y0 + size_rect[1]))
    return weight, photo, rect


def _torso_stayed(found: Pose, moved: np.ndarray) -> bool:
    return torso_corners(found) is not None and _stayed(moved, *_TORSO)


def _arm_hole(found: Pose, moved: np.ndarray, fr: _Frame) -> np.ndarray:
    """(wh, ww) bool over `fr`'s work raster: within `ARM_HOLE` of a moved arm's bone as found
    (a hand past its wrist), inside the torso."""
    size = person_height(found) * fr.k
    torso = np.zeros((fr.wh, fr.ww), np.uint8)
    corners = torso_corners(found)
    if corners is None:
        return np.zeros((fr.wh, fr.ww), bool)
    _fill_torso(torso, fr, corners)
    arms = np.zeros((fr.wh, fr.ww), np.uint8)
    for a, b, end in CARRIED[:4]:  # the arms: only they lie in front of a chest
        if found.visible[JOINT_INDEX[a]] and found.visible[JOINT_INDEX[b]] and not _stayed(moved, a, b):
            _draw_bone(arms, fr, found, a, b, end, 1)
    if not arms.any():
        return np.zeros((fr.wh, fr.ww), bool)
    near_arm = _near(arms) <= ARM_HOLE * size
    hole: np.ndarray = (torso > 0) & near_arm
    return hole


def _grown_box(mask: np.ndarray, pad: int) -> tuple[int, int, int, int]:
    """The box (x0, y0, x1, y1) around `mask`'s pixels, `pad` bigger each way and cut to it."""
    bx, by, bw, bh = cv2.boundingRect(mask.astype(np.uint8))
    h, w = mask.shape[:2]
    return max(0, bx - pad), max(0, by - pad), min(w, bx + bw + pad), min(h, by + bh + pad)


def _torso_hole(
    source: KeptSource, moved: np.ndarray, fr: _Frame
) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """Where moved arms lay over the torso (`_arm_hole`, float32 {0, 1}) over the box
    (x0, y0, x1, y1) of `fr`'s work raster that holds it, grown by the fill's reach; None
    when no moved arm lay over the torso. Cached per drag and tile."""
    key = (moved.tobytes(), _frame_key(fr))
    if key in source._holes:
        return source._holes[key]
    hole = _arm_hole(source.pose, moved, fr)
    out = None
    if hole.any():
        pad = max(2, round(0.1 * person_height(source.pose) * fr.k))
        bx0, by0, bx1, by1 = _grown_box(hole, pad)
        out = (hole[by0:by1, bx0:bx1].astype(np.float32), (bx0, by0, bx1, by1))
    if len(source._holes) >= 8:
        source._holes.clear()
    source._holes[key] = out
    return out


def _torso_filled(
    source: KeptSource, moved: np.ndarray, scale: float
) -> tuple[np.ndarray, tuple[float, float, float]] | None:
    """The photo around the person's torso with the places moved arms lay over it filled
    from the torso around them (uint8 RGB), at a work resolution of its own, and where that
    raster lies: (x0, y0, work pixels per composite pixel). Made in a frame of the person's
    box, not of the tile, so that a drag that grows the tile does not make it again (the
    inpainting is the one costly step). Cached per drag; None without a hole."""
    key = (moved.tobytes(), scale)
    if key in source._fills:
        return source._fills[key]
    out = None
    box = source.person_box(0)
    if box is not None:
        fr = _Frame.of(box, scale)
        hole = _arm_hole(source.pose, moved, fr)
        if hole.any():
            size = person_height(source.pose) * fr.k
            pad = max(2, round(0.15 * size))
            bx0, by0, bx1, by1 = _grown_box(hole, pad)
            # The photo at the work raster's resolution over that box.
            tx0, ty0, tx1, ty1 = fr.tile_box(bx0, by0, bx1, by1)
            t = (fr.x0 + tx0, fr.y0 + ty0, fr.x0 + tx1, fr.y0 + ty1)
            crop = np.ascontiguousarray(source.crop("photo", t))
            small = cv2.resize(crop, (bx1 - bx0, by1 - by0), interpolation=cv2.INTER_AREA)
            torso = np.zeros((fr.wh, fr.ww), np.uint8)
            corners = torso_corners(source.pose)
            assert corners is not None  # a hole is over the torso
            _fill_torso(torso, fr, corners)
            # Fill from the torso that stays: the hole grown a little, so the limb's own edge
            # (soft in the photo) does not bleed into the fill, and everything off the torso
            # masked too (the sleeve beyond the chest and the background are no source).
            grow = max(1, round(0.015 * size))
            kernel = np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)
            mask = cv2.dilate(hole[by0:by1, bx0:bx1].astype(np.uint8), kernel)
            mask[torso[by0:by1, bx0:bx1] == 0] = 1
            filled = cv2.inpaint(small, mask, max(3, round(0.03 * size)), cv2.INPAINT_TELEA)
            # Composite pixel X lies at (X - t_x0 + 0.5) * k - 0.5 in `filled` (k = its pixels
            # per composite pixel): stored as the offset t_x0 * k and k.
            k = (bx1 - bx0) / max(1, t[2] - t[0])
            out = (filled, (t[0] * k, t[1] * k, k))
    if len(source._fills) >= 8:
        source._fills.clear()
    source._fills[key] = out
    return out
