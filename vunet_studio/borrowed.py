"""The borrowed head and body: the look photo's own person, carried onto a pose in another photo.

Qt-free. When a person is re-posed with another photo's look (that photo's clothes on this
pose), the model renders the whole person, and at 128 pixels a face is a blur: nobody can
tell whose look it is (issue 17: "the face is a blob"). The look photo shows that face: its
head is cut out (`kept.head_share`: the mask's pixels nearer the head's bones than any
other, feathered, and within about one and a half head radii) and carried onto the pose
whole, over the render, by one rotation, scale and shift (`head_fit`: the head's disc onto
the pose's, tilted as the pose's eyes are). The face is the look's as it was photographed:
a face turned to one side stays turned, which reads as a person turning their head.
Without a head in either pose, or at a size or tilt no head has, the render's head stays.

The clothes likewise (`borrowed_body`, the borrowed body): the look photo's torso goes onto
the pose's by the affine map of the four torso joints, and each upper arm, forearm, thigh
and shin onto its bone, scaled by the two people's sizes (`kept.carried_onto`, the carried
limbs' cuts and maps), under the head; the render fills what they do not cover. A pose seen
from the other side gets them mirrored and no face."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from vunet_studio.imageio import as_rgb_uint8, grey_rgb
from vunet_studio.kept import FACE, KeptSource, carried_onto, head_share, turned_around
from vunet_studio.pose import Pose
from vunet_studio.segmentation import head_disc, person_height
from vunet_studio.skeleton import JOINT_INDEX, JOINT_NAMES

#: The most a head is enlarged or shrunk: a face of 20 pixels blown up past 5x is mush, and
#: one shrunk past a fifth is a few pixels that the render already shows.
SCALES = (0.2, 5.0)
#: A head turned by more than this against its photo's (the look's head upside down on a
#: pose lying down) is the render's: a face on its side rarely looks like a person.
MAX_TURN = 60.0
#: The head is cut from a square this many head radii (`segmentation.head_disc`) around it,
#: and fades out between these radii: what the mask holds beyond is not the head, but a
#: thing held up to it (the cameraman's camera floated beside the heads it was carried to).
CUT_RADII = 2.5
FADE_RADII = (1.4, 1.8)


def _tilt(pose: Pose, both_eyes: bool) -> float:
    """The head's direction in the image, radians: the line from the right eye to the left
    one when `both_eyes`, else from the neck to the head's centre (turned a quarter so the
    two agree on an upright face)."""
    xy = pose.xy.astype(np.float64)
    if both_eyes:
        d = xy[JOINT_INDEX["leye"]] - xy[JOINT_INDEX["reye"]]
        return math.atan2(d[1], d[0])
    disc = head_disc(pose)
    assert disc is not None  # checked by `head_fit`
    d = np.asarray(disc[0]) - xy[JOINT_INDEX["cneck"]]
    return math.atan2(d[1], d[0]) + math.pi / 2


def head_fit(found: Pose, pose: Pose) -> np.ndarray | None:
    """The 2 x 3 similarity that carries the head from the look photo's pixels (`found`, the
    pose seen there) to the pose's (`pose`): the head's disc (`segmentation.head_disc`) onto
    the pose's, at its size, tilted as the pose's eyes are (else as its neck is). A head seen
    from the side on a face seen from the front is carried too: the face is the look's, as
    it was photographed, and that reads as a head turned, where a fit to the face joints
    shrank a profile to a fifth (the cameraman onto the astronaut). None without a head in
    either pose, past `SCALES` or `MAX_TURN`, or when one pose shows the person from behind
    and the other from the front (`kept.turned_around`): a face on the back of a head."""
    a, b = head_disc(found), head_disc(pose)
    if a is None or b is None or turned_around(found, pose):
        return None
    gain = b[1] / a[1]
    if not SCALES[0] <= gain <= SCALES[1]:
        return None
    eyes = [JOINT_INDEX["reye"], JOINT_INDEX["leye"]]
    both_eyes = bool(found.visible[eyes].all() and pose.visible[eyes].all())
    necks = bool(found.visible[JOINT_INDEX["cneck"]] and pose.visible[JOINT_INDEX["cneck"]])
    if not (both_eyes or necks):
        return None
    turn = math.remainder(_tilt(pose, both_eyes) - _tilt(found, both_eyes), 2 * math.pi)
    if abs(math.degrees(turn)) > MAX_TURN:
        return None
    c, s = gain * math.cos(turn), gain * math.sin(turn)
    r = np.array([[c, -s], [s, c]])
    return np.hstack([r, (np.asarray(b[0]) - r @ np.asarray(a[0]))[:, None]])


@dataclass(frozen=True)
class LookSource:
    """The look photo (uint8: grey, RGB or RGBA), its person mask ((H, W) in [0, 1]) and the
    pose seen there: what a borrowed head (`head`) and body (`body`) are cut from. Each cut
    is made once, on the thread that composites: the head's kept at halvings of its size
    (`cut`), the body's in a `KeptSource` per halving (`body_source`)."""

    photo: np.ndarray
    person: np.ndarray
    pose: Pose
    #: Whether the look photo's head is carried (`borrowed_head`).
    head: bool = True
    #: Whether the look photo's torso and limbs are carried (`borrowed_body`).
    body: bool = True
    _cuts: dict[int, tuple[np.ndarray, np.ndarray, tuple[int, int]] | None] = field(
        default_factory=dict, compare=False, repr=False
    )
    _bodies: dict[tuple[int, bool], KeptSource] = field(default_factory=dict, compare=False, repr=False)

    @staticmethod
    def of(
        photo: np.ndarray, person: np.ndarray, pose: Pose, *, head: bool = True, body: bool = True
    ) -> LookSource | None:
        """A source for `photo` (uint8) and its mask (the photo's size), or None: nothing to
        borrow from a 16-bit or float photo, a mask of another size, nothing asked for, or a
        head asked for alone from a pose without a face."""
        if photo.dtype != np.uint8 or photo.shape[:2] != person.shape[:2] or not (head or body):
            return None
        if head_disc(pose) is None:
            if not body:
                return None
            head = False
        return LookSource(photo, person, pose, head, body)

    def body_source(self, level: int, grey: bool = False) -> KeptSource:
        """The look photo's person at 1/2^level of its size (made grey with `grey`), to cut the
        body from: its cuts are cached there, made once per look and size, not per frame."""
        hit = self._bodies.get((level, grey))
        if hit is None:
            h, w = self.photo.shape[:2]
            k = 2**level
            size = None if level == 0 else (max(1, round(w / k)), max(1, round(h / k)))
            photo = as_rgb_uint8(self.photo)
            if grey:
                photo = grey_rgb(photo)
            # A portrait's torso reaches its hips below the frame, as the model renders it.
            hit = KeptSource(photo, self.person, self.pose.with_inferred_hips(), size)
            self._bodies[(level, grey)] = hit
        return hit

    def cut(self, level: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int]] | None:
        """The head at 1/2^level of the photo's size: (pixels (h, w, 3) uint8, weight (h, w)
        float32, the cut's top-left (x, y) in photo pixels), or None (no head in the mask)."""
        if level not in self._cuts:
            self._cuts[level] = self._make_cut(level)
        return self._cuts[level]

    def _make_cut(self, level: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int]] | None:
        if level > 0:
            full = self.cut(0)
            if full is None:
                return None
            pixels, weight, origin = full
            k = 2**level
            size = (max(1, round(weight.shape[1] / k)), max(1, round(weight.shape[0] / k)))
            return (
                cv2.resize(pixels, size, interpolation=cv2.INTER_AREA),
                cv2.resize(weight, size, interpolation=cv2.INTER_AREA),
                origin,
            )
        disc = head_disc(self.pose)
        if disc is None:
            return None
        (cx, cy), radius = disc
        h, w = self.person.shape[:2]
        r = CUT_RADII * radius
        tile = (
            max(0, math.floor(cx - r)),
            max(0, math.floor(cy - r)),
            min(w, math.ceil(cx + r)),
            min(h, math.ceil(cy + r)),
        )
        if tile[2] <= tile[0] or tile[3] <= tile[1]:
            return None
        kept = KeptSource(self.photo, self.person, self.pose)
        moved = np.array([n in FACE for n in JOINT_NAMES])
        share = head_share(kept, moved, tile, scale=1.0)
        if share is None or share.max() <= 1e-3:
            return None
        x0, y0, x1, y1 = tile
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        reach = np.hypot(xx - np.float32(cx), yy - np.float32(cy)) / np.float32(radius)
        lo, hi = FADE_RADII
        weight = share * np.clip((hi - reach) / (hi - lo), 0.0, 1.0)
        pixels = np.ascontiguousarray(as_rgb_uint8(self.photo[y0:y1, x0:x1]))
        return pixels, np.ascontiguousarray(weight, dtype=np.float32), (x0, y0)


Carried = tuple[np.ndarray, np.ndarray, tuple[int, int]]  # weight, pixels, top-left in the scene


def borrowed_head(
    source: LookSource, pose: Pose, size: tuple[int, int], *, scale: float = 1.0, grey: bool = False
) -> Carried | None:
    """The look photo's head carried onto `pose` (pixels of this photo) in a scene of `size`
    (width, height) at `scale` scene pixels per photo pixel: (weight (h, w) float32, pixels
    (h, w, 3) uint8, their top-left (x, y) in the scene), cut to the scene; None when the
    face does not fit (`head_fit`) or falls outside, or without `source.head`. `grey`: the
    head is made grey too."""
    m = head_fit(source.pose, pose) if source.head else None
    if m is None:
        return None
    gain = scale * float(np.hypot(m[0, 0], m[1, 0]))
    # Shrunk by more than half, the head is first halved (INTER_AREA), so the warp never
    # samples fewer than one pixel in two (no aliasing in the hair).
    level = min(8, math.floor(math.log2(1.0 / gain))) if gain < 0.5 else 0
    cut = source.cut(level)
    if cut is None:
        return None
    pixels, weight, (ox, oy) = cut
    d = 2.0**level
    # cut pixel c -> look photo pixel d*c + (d - 1)/2 + origin -> this photo -> the scene
    to_photo = np.array([[d, 0.0, (d - 1.0) / 2.0 + ox], [0.0, d, (d - 1.0) / 2.0 + oy]])
    a = scale * m[:, :2]
    warp = np.hstack([a @ to_photo[:, :2], (a @ to_photo[:, 2] + scale * m[:, 2])[:, None]])
    h, w = weight.shape[:2]
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64) - 0.5
    placed = corners @ warp[:, :2].T + warp[:, 2]
    x0, y0 = (max(0, math.floor(v)) for v in placed.min(0))
    x1, y1 = min(size[0], math.ceil(placed[:, 0].max()) + 1), min(size[1], math.ceil(placed[:, 1].max()) + 1)
    if x1 <= x0 or y1 <= y0:
        return None
    warp[:, 2] -= (x0, y0)
    out = (x1 - x0, y1 - y0)
    carried_weight = cv2.warpAffine(weight, warp, out, flags=cv2.INTER_LINEAR)
    if carried_weight.max() <= 1e-3:
        return None
    carried = cv2.warpAffine(pixels, warp, out, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if grey:
        carried = grey_rgb(carried)
    return carried_weight, carried, (x0, y0)


def borrowed_body(
    source: LookSource, pose: Pose, size: tuple[int, int], *, scale: float = 1.0, grey: bool = False
) -> list[Carried]:
    """The look photo's own torso and limbs carried onto `pose` (pixels of this photo) in a
    scene of `size` (width, height) at `scale` scene pixels per photo pixel, bottom to top:
    each (weight (h, w) float32, pixels (h, w, 3) uint8, top-left (x, y) in the scene). The
    model renders another photo's clothes as a blur; that photo shows them (the pieces are
    `kept.carried_onto`'s, the render fills what they leave). None without `source.body`."""
    if not source.body:
        return []
    gain = scale * person_height(pose) / max(1e-6, person_height(source.pose))
    # As for the head: shrunk by more than half, the look photo is first halved (INTER_AREA).
    level = min(8, math.floor(math.log2(1.0 / gain))) if gain < 0.5 else 0
    pieces = carried_onto(source.body_source(level, grey), pose.with_inferred_hips(), scale=scale, bounds=size)
    return [(weight, pixels, (x0, y0)) for weight, pixels, (x0, y0, _, _) in pieces]
