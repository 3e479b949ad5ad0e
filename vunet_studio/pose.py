"""The pose: 18 joints in pixel coordinates with per-joint visibility.

No Qt, no torch. A hidden joint keeps its last coordinates (so showing it again puts it
back where it was) but counts as missing everywhere else: stickman, part crops, exports.

A `Pose` is immutable (its arrays are read-only): an edit makes a new pose (`with_joint`,
`with_visible`, `with_xy`, `with_image_size`, `translated`, ...), so one pose can be shared
by the canvas, the undo stack, the document and the render thread without copies.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from vunet_studio.skeleton import (
    COCO17_NAMES,
    COCO17_TO_JOINT,
    FLIP_INDEX,
    JOINT_INDEX,
    JOINT_NAMES,
    NUM_JOINTS,
    TEMPLATE_POSE,
)

#: The synthetic people's torso (shoulder line to hip line) and hip width, in shoulder widths
#: (`training.synth.body.BodyShape` defaults: 0.29 and 0.12 over 0.20): what
#: `Pose.with_inferred_hips` gives a portrait, so the model sees the torso it learned.
TORSO_PER_SHOULDERS = 1.45
HIPS_PER_SHOULDERS = 0.6
#: `Pose.facing` tells front from back only when the body is at least this wide across (the
#: shoulders', else the hips', width by handedness, as a share of the neck-to-hips length;
#: about 0.7 facing the camera): side on, a joint found a few pixels off flips the sign.
FACING_MIN = 0.15


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


# eq=False: `__eq__` below compares within a tolerance, and a pose holds arrays, so it is
# not hashable.
@dataclass(frozen=True, eq=False)
class Pose:
    """One person's 18 joints (`JOINT_NAMES` order); immutable.

    xy: (18, 2) float32 pixel coordinates, x right, y down (read-only).
    visible: (18,) bool; False means the joint is missing/hidden (read-only).
    """

    xy: np.ndarray
    visible: np.ndarray
    image_size: tuple[int, int] | None = field(default=None)  # (width, height) the pixels refer to

    def __post_init__(self) -> None:
        # Copied once here, so the caller's arrays can change without changing the pose.
        xy = _frozen(np.array(self.xy, dtype=np.float32).reshape(NUM_JOINTS, 2))
        visible = _frozen(np.array(self.visible, dtype=bool).reshape(NUM_JOINTS))
        if not np.all(np.isfinite(xy[visible])):
            raise ValueError("visible joints must have finite coordinates")
        object.__setattr__(self, "xy", xy)
        object.__setattr__(self, "visible", visible)

    # --- construction -------------------------------------------------------------
    @classmethod
    def empty(cls, image_size: tuple[int, int] | None = None) -> Pose:
        return cls(np.zeros((NUM_JOINTS, 2), np.float32), np.zeros(NUM_JOINTS, bool), image_size)

    @classmethod
    def template(
        cls, width: float, height: float, box: tuple[float, float, float, float] | None = None
    ) -> Pose:
        """The upright template fitted into `box` = (x0, y0, w, h), default: the whole image."""
        x0, y0, bw, bh = box if box is not None else (0.0, 0.0, float(width), float(height))
        # Keep the template's aspect (a person is about 0.45 as wide as tall) inside the box.
        side = min(bh, bw / 0.45)
        ox = x0 + (bw - side) / 2.0
        oy = y0 + (bh - side) / 2.0
        xy = np.array([TEMPLATE_POSE[n] for n in JOINT_NAMES], np.float32) * side + (ox, oy)
        return cls(xy, np.ones(NUM_JOINTS, bool), (int(width), int(height)))

    @classmethod
    def from_normalized(cls, xy01: np.ndarray, width: float, height: float) -> Pose:
        """From the `index.p` convention: [0,1] coordinates, negative = missing."""
        xy01 = np.asarray(xy01, np.float32).reshape(NUM_JOINTS, 2)
        visible = np.all(xy01 >= 0, axis=1)
        xy = np.where(visible[:, None], xy01 * (width, height), 0.0)
        return cls(xy, visible, (int(width), int(height)))

    @classmethod
    def from_coco17(
        cls, keypoints: np.ndarray, threshold: float = 0.0, image_size: tuple[int, int] | None = None
    ) -> Pose:
        """From COCO-17 (17, 3) [x, y, v|confidence]; a joint is visible when v > threshold.

        The neck is the shoulder midpoint and exists only when both shoulders do.
        """
        kp = np.asarray(keypoints, np.float64).reshape(len(COCO17_NAMES), 3)
        xy = np.zeros((NUM_JOINTS, 2), np.float32)
        visible = np.zeros(NUM_JOINTS, bool)
        for k, name in enumerate(COCO17_NAMES):
            j = JOINT_INDEX[COCO17_TO_JOINT[name]]
            if kp[k, 2] > threshold and np.all(np.isfinite(kp[k, :2])):
                xy[j] = kp[k, :2]
                visible[j] = True
        rs, ls, n = JOINT_INDEX["rshoulder"], JOINT_INDEX["lshoulder"], JOINT_INDEX["cneck"]
        visible[n] = visible[rs] and visible[ls]
        if visible[n]:
            xy[n] = (xy[rs] + xy[ls]) / 2.0
        return cls(xy, visible, image_size)

    # --- conversion ---------------------------------------------------------------
    def to_coco17(self) -> np.ndarray:
        """(17, 3) [x, y, v] with v = 2 for visible, 0 (and x = y = 0) for missing."""
        out = np.zeros((len(COCO17_NAMES), 3), np.float32)
        for k, name in enumerate(COCO17_NAMES):
            j = JOINT_INDEX[COCO17_TO_JOINT[name]]
            if self.visible[j]:
                out[k] = (self.xy[j, 0], self.xy[j, 1], 2.0)
        return out

    def to_normalized(self, width: float, height: float) -> np.ndarray:
        """(18, 2) in [0,1] with -1 for missing joints (the `index.p` convention)."""
        out = self.xy / np.array([width, height], np.float32)
        out[~self.visible] = -1.0
        return out.astype(np.float32)

    # --- edits: each returns a new pose -----------------------------------------------
    def with_xy(self, xy: np.ndarray) -> Pose:
        """This pose with all 18 joints at `xy` (18, 2), visibility kept."""
        return Pose(xy, self.visible, self.image_size)

    def with_joint(self, j: int, x: float, y: float) -> Pose:
        """This pose with joint `j` at (x, y)."""
        xy = self.xy.copy()
        xy[j] = (x, y)
        return Pose(xy, self.visible, self.image_size)

    def with_visible(self, joints: int | np.ndarray | list[int], visible: bool) -> Pose:
        """This pose with the joint(s) `joints` (index, indices or an (18,) mask) shown or hidden."""
        vis = self.visible.copy()
        vis[joints] = visible
        return Pose(self.xy, vis, self.image_size)

    def with_image_size(self, image_size: tuple[int, int] | None) -> Pose:
        """The same joints, said to be in the pixels of an image of `image_size` (width, height)."""
        return replace(self, image_size=image_size)

    def mirrored(self, width: float | None = None) -> Pose:
        """Swap left and right joints.

        With `width`, the pose is also reflected in the image (x -> width - x), as when the
        photo is flipped. Without it, it is reflected about its own centre, so the figure
        stays in place and only its sidedness changes (the editor's "mirror").
        """
        idx = list(FLIP_INDEX)
        xy = self.xy[idx]  # fancy indexing: a writable copy
        vis = self.visible[idx]
        axis2 = float(width) if width is not None else 2.0 * self.center()[0] if vis.any() else 0.0
        xy[:, 0] = axis2 - xy[:, 0]
        return Pose(xy, vis, self.image_size)

    def translated(self, dx: float, dy: float) -> Pose:
        return self.with_xy(self.xy + (dx, dy))  # noqa: RUF005 - numpy broadcasting, not tuples; float64 sum, stored as float32

    def scaled(self, sx: float, sy: float) -> Pose:
        size = self.image_size
        if size is not None:
            size = (round(size[0] * sx), round(size[1] * sy))
        return Pose(self.xy * (sx, sy), self.visible, size)

    def center(self) -> np.ndarray:
        pts = self.xy[self.visible]
        return pts.mean(axis=0) if len(pts) else np.zeros(2, np.float32)

    def bbox(self) -> tuple[float, float, float, float] | None:
        """(x0, y0, x1, y1) of the visible joints, or None when none is visible."""
        pts = self.xy[self.visible]
        if not len(pts):
            return None
        x0, y0 = pts.min(axis=0)
        x1, y1 = pts.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)

    def facing(self) -> int:
        """1 when the person faces the camera, -1 when their back is to it, 0 when the torso
        cannot tell (side on, or not seen). Read from the torso's handedness: facing the
        camera, the right shoulder (else hip) is on the image's left of the line down the
        body; seen from behind, on its right. Hidden face joints alone do not decide it: a
        face turned aside hides them too."""
        j = JOINT_INDEX
        v, xy = self.visible, self.xy.astype(np.float64)
        for right, left in (("rshoulder", "lshoulder"), ("rhip", "lhip")):
            if not (v[j[right]] and v[j[left]]):
                continue
            across = xy[j[left]] - xy[j[right]]
            hips = [xy[j[n]] for n in ("rhip", "lhip") if v[j[n]]]
            if right == "rshoulder" and v[j["cneck"]] and hips:
                down = np.mean(hips, axis=0) - xy[j["cneck"]]
            else:  # the hips alone, or no neck: taken as upright
                down = np.array([0.0, float(np.linalg.norm(across))])
            length = float(np.linalg.norm(down))
            # The width across the body, signed by handedness, as a share of its length.
            width = float(across[0] * down[1] - across[1] * down[0]) / max(length**2, 1e-9)
            if length < 1e-6 or abs(width) < FACING_MIN:
                return 0
            return 1 if width > 0 else -1
        return 0

    def has_torso(self) -> bool:
        """True when both shoulders and both hips are visible: a whole torso (what training
        data needs; the app also renders portraits, see `renderable`)."""
        return bool(all(self.visible[JOINT_INDEX[n]] for n in ("rshoulder", "lshoulder", "rhip", "lhip")))

    def renderable(self) -> bool:
        """True when the model can render this person: a whole torso, or a portrait's
        shoulders (its hips are then inferred: `with_inferred_hips`)."""
        return self.with_inferred_hips().has_torso()

    def with_inferred_hips(self) -> Pose:
        """This pose, or, for a portrait (both shoulders visible, a hip not), the pose with both
        hips shown where a torso of the training people's proportions puts them: the model
        needs a whole torso, and in a chest-up photo the hips are below the frame.

        The torso runs perpendicular to the shoulder line, away from the face when the nose,
        eyes or ears are visible (else down the image), `TORSO_PER_SHOULDERS` shoulder widths
        long; the hips are `HIPS_PER_SHOULDERS` shoulder widths apart. Continuous in the
        shoulders, so a dragged shoulder moves the inferred hips smoothly. A visible hip is
        kept and only the missing one is placed, mirrored about the torso's axis.
        """
        j = JOINT_INDEX
        rs, ls, rh, lh = j["rshoulder"], j["lshoulder"], j["rhip"], j["lhip"]
        v = self.visible
        if not (v[rs] and v[ls]) or (v[rh] and v[lh]):
            return self
        a, b = self.xy[rs].astype(np.float64), self.xy[ls].astype(np.float64)
        width = float(np.linalg.norm(b - a))
        if width < 1e-3:
            return self
        neck = (a + b) / 2.0
        across = (b - a) / width  # right shoulder -> left shoulder
        down = np.array([-across[1], across[0]])  # perpendicular
        face = [j[n] for n in ("cnose", "reye", "leye", "rear", "lear") if v[j[n]]]
        towards = neck - self.xy[face].mean(axis=0) if face else np.array([0.0, 1.0])
        if float(down @ towards) < 0:
            down = -down
        mid = neck + down * TORSO_PER_SHOULDERS * width
        half = across * HIPS_PER_SHOULDERS * width / 2.0
        xy = self.xy.copy()
        if v[lh] or v[rh]:  # one hip found: the other mirrored about the torso's axis
            found, missing = (lh, rh) if v[lh] else (rh, lh)
            off = xy[found] - mid
            xy[missing] = mid - across * float(off @ across) + down * float(off @ down)
        else:
            xy[rh], xy[lh] = mid - half, mid + half
        return Pose(xy, v | np.isin(np.arange(NUM_JOINTS), [rh, lh]), self.image_size)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pose):
            return NotImplemented
        return bool(
            np.array_equal(self.visible, other.visible)
            and np.allclose(self.xy[self.visible], other.xy[other.visible], atol=1e-3)
        )
