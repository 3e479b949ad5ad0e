"""The person mask: where in a photo the person of a given pose is, as a soft mask in [0, 1].

Qt-free. The mask comes from the person segmentation bundled in the mediapipe wheel, so it
works offline. Two of its models were compared on the photos in `../shared/photos/`:

- BlazePose's own segmentation (`pose_landmark_full`, `enable_segmentation=True`) masks one
  whole person, head to feet, and only that person;
- the selfie models (`selfie_segmentation`, general and landscape, both in the wheel) are
  made for a face filling the frame: on a full-body person (basketball*.png) they miss the
  legs, and they mask every person, so the man at the right edge came out stronger than the
  man holding the ball. Of the two, the general one (`model_selection=0`) is used: the
  landscape one found almost nothing on basketball1.png (its mask peaked at 0.2).

So BlazePose's mask is the primary one, and it must be the pose's person: BlazePose's own
landmarks must agree with the pose. It looks at the whole photo first (its detector frames a
person best there) and, when it found someone else, at a crop around the pose. BlazePose
masks only inside its own box around the person, which cuts off an arm it did not expect
(astronaut.png's far arm), so on the whole photo the selfie model's mask is added, and the
regions that do not touch the skeleton dropped again. When BlazePose finds no person on the
pose, the selfie model on the crop answers (the man at basketball1.png's right edge, whom
BlazePose does not find), and when no model does (or mediapipe is not installed), a soft
stickman silhouette drawn from the pose. Whatever answered, the mask is refined around the
skeleton: only the connected regions the pose's joints and bones fall on are kept (other
people's blobs and stray patches go), and the bones are filled in so a limb the model lost
still counts as the person.

Photos may be grey, RGB or RGBA, 8- or 16-bit, of any size: the model sees at most
`WORK_SIDE` pixels on the crop's long side and the mask is upsampled to the photo.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from vunet_studio.estimation.blazepose_backend import _quiet_native_stderr, landmarks_to_pose, to_rgb8
from vunet_studio.pose import Pose
from vunet_studio.skeleton import JOINT_INDEX, JOINT_NAMES, LIMBS

log = logging.getLogger(__name__)

#: The crop around the person is shown to the models at most this big (long side, pixels).
#: BlazePose works at 256 internally; more only costs copying.
WORK_SIDE = 640
#: Mask values above this count as the person when regions are selected.
THRESHOLD = 0.5
#: Add the selfie model's mask to BlazePose's (see above: BlazePose cuts at its own box).
UNION_SELFIE = True
_TORSO = ("lhip", "lshoulder", "rshoulder", "rhip")
_HEAD = ("cnose", "reye", "leye", "rear", "lear")


@dataclass(frozen=True)
class PersonSegmentation:
    """A photo's person mask and how it was made.

    mask: (H, W) float32 in [0, 1] at the photo's resolution.
    method: "blazepose", "selfie", "stickman" or "none" (no person: an all-zero mask).
    note: why a fallback was used, one line for the status bar ("" when all went well).
    ms: the time it took.
    """

    mask: np.ndarray
    method: str
    note: str
    ms: float


# --- the models ---------------------------------------------------------------------------
class Segmenter:
    """The bundled mediapipe models, created on first use and reused (graph set-up costs
    ~100 ms). mediapipe's solution objects are not thread-safe: one lock serialises calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pose: Any = None
        self._selfie: Any = None
        self.unavailable = ""  # why mediapipe cannot be used, once known

    def _load(self) -> bool:
        if self._pose is not None:
            return True
        if self.unavailable:
            return False
        try:
            from mediapipe.python.solutions import pose as mp_pose
            from mediapipe.python.solutions import selfie_segmentation as mp_selfie

            # model_complexity=1 is the only BlazePose inside the wheel (0 and 2 download).
            self._pose = mp_pose.Pose(
                static_image_mode=True,
                model_complexity=1,
                enable_segmentation=True,
                min_detection_confidence=0.3,
            )
            self._selfie = mp_selfie.SelfieSegmentation(model_selection=0)
            # A first run on a blank frame loads the models now and keeps mediapipe's C++
            # start-up chatter off the terminal, as the bundled estimator does.
            with _quiet_native_stderr():
                blank = np.full((64, 64, 3), 127, np.uint8)
                for model in (self._pose, self._selfie):
                    self._process(model, blank)
        except Exception as e:
            self._pose = self._selfie = None
            self.unavailable = f"person segmentation unavailable (mediapipe: {type(e).__name__}: {e})"
            log.warning("%s", self.unavailable)
            return False
        return True

    def preload(self) -> bool:
        """Import mediapipe and load both models now (seconds of mostly Python work); False
        when they are unavailable (then `unavailable` says why)."""
        with self._lock:
            return self._load()

    def blazepose(self, rgb: np.ndarray) -> tuple[np.ndarray, Pose] | None:
        """(mask (h, w) float32, the person's pose in `rgb`'s pixels), or None for nobody."""
        with self._lock:
            if not self._load():
                return None
            result = self._process(self._pose, rgb)
        if result.segmentation_mask is None or result.pose_landmarks is None:
            return None
        marks = np.array([(m.x, m.y, m.visibility) for m in result.pose_landmarks.landmark], np.float64)
        found = landmarks_to_pose(marks, (rgb.shape[1], rgb.shape[0]))
        return np.asarray(result.segmentation_mask, np.float32), found

    @staticmethod
    def _process(model: Any, rgb: np.ndarray) -> Any:
        with warnings.catch_warnings():
            # protobuf 5 deprecates a call mediapipe 0.10.14 makes on every photo.
            warnings.filterwarnings("ignore", message=".*GetPrototype.* is deprecated", category=UserWarning)
            return model.process(rgb)

    def selfie(self, rgb: np.ndarray) -> np.ndarray | None:
        with self._lock:
            if not self._load():
                return None
            result = self._process(self._selfie, rgb)
        return None if result.segmentation_mask is None else np.asarray(result.segmentation_mask, np.float32)

    def close(self) -> None:
        with self._lock:
            for model in (self._pose, self._selfie):
                if model is not None:
                    model.close()
            self._pose = self._selfie = None


_shared: Segmenter | None = None
_shared_lock = threading.Lock()


def shared_segmenter() -> Segmenter:
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Segmenter()
        return _shared


# --- geometry from the pose ------------------------------------------------------------------
def person_height(pose: Pose) -> float:
    """A length that scales with the person: the visible joints' extent, at least the torso's
    length times 2.5 (an upper-body photo's joints span only part of the person)."""
    box = pose.bbox()
    if box is None:
        return 0.0
    extent = max(box[2] - box[0], box[3] - box[1])
    xy, vis = pose.xy, pose.visible
    pairs = (("cneck", "rhip"), ("cneck", "lhip"), ("rshoulder", "lshoulder"), ("cnose", "cneck"))
    scale = [
        float(np.linalg.norm(xy[JOINT_INDEX[a]] - xy[JOINT_INDEX[b]])) * f
        for (a, b), f in zip(pairs, (2.5, 2.5, 4.0, 6.0), strict=True)
        if vis[JOINT_INDEX[a]] and vis[JOINT_INDEX[b]]
    ]
    return max([extent, *scale, 1.0])


def _crop_box(pose: Pose, width: int, height: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) around the person, generous: a head, hands and feet lie beyond joints."""
    box = pose.bbox()
    assert box is not None
    size = person_height(pose)
    pad = 0.35 * size
    x0, y0 = int(max(0, box[0] - pad)), int(max(0, box[1] - pad))
    x1, y1 = int(min(width, np.ceil(box[2] + pad))), int(min(height, np.ceil(box[3] + pad)))
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)


def skeleton_mask(pose: Pose, width: int, height: int, thickness: float, *, head: bool = True) -> np.ndarray:
    """(H, W) uint8 {0, 1}: the pose's bones drawn `thickness` wide, torso filled and, with
    `head`, the head a disc."""
    out = np.zeros((height, width), np.uint8)
    xy, vis = pose.xy, pose.visible
    t = max(1, round(thickness))

    def pt(name: str) -> tuple[int, int]:
        x, y = xy[JOINT_INDEX[name]]
        return round(float(x)), round(float(y))

    def ok(*names: str) -> bool:
        return all(vis[JOINT_INDEX[n]] for n in names)

    if ok(*_TORSO):
        cv2.fillPoly(out, [np.array([pt(n) for n in _TORSO], np.int32)], 1)
    for a, b in LIMBS:
        if ok(a, b):
            cv2.line(out, pt(a), pt(b), 1, t, cv2.LINE_8)
    for name in JOINT_NAMES:
        if ok(name):
            cv2.circle(out, pt(name), max(1, t // 2), 1, -1)
    disc = head_disc(pose) if head else None
    if disc is not None:
        (cx, cy), radius = disc
        cv2.circle(out, (int(cx), int(cy)), max(1, int(radius)), 1, -1)
    return out


def head_disc(pose: Pose) -> tuple[tuple[float, float], float] | None:
    """The head as a disc, ((x, y) centre, radius), from the visible face joints; None
    without any. The radius is a person's head, at least 0.6 x the nose-to-neck length."""
    xy, vis = pose.xy, pose.visible
    face = [n for n in _HEAD if vis[JOINT_INDEX[n]]]
    if not face:
        return None
    cx, cy = np.mean([xy[JOINT_INDEX[n]] for n in face], axis=0)
    radius = 0.09 * person_height(pose)
    if vis[JOINT_INDEX["cnose"]] and vis[JOINT_INDEX["cneck"]]:
        radius = max(radius, 0.6 * float(np.linalg.norm(xy[JOINT_INDEX["cnose"]] - xy[JOINT_INDEX["cneck"]])))
    return (float(cx), float(cy)), radius


def stickman_mask(pose: Pose, width: int, height: int) -> np.ndarray:
    """(H, W) float32 soft silhouette from the pose alone: limbs about as wide as a person's,
    edges blurred so that nobody mistakes it for an exact outline. Drawn at most `WORK_SIDE`
    on the long side and upsampled: a blur at 12 megapixels would take seconds."""
    scale = min(1.0, WORK_SIDE / max(width, height, 1))
    sw, sh = max(1, round(width * scale)), max(1, round(height * scale))
    small_pose = pose.with_xy(pose.xy * (sw / width, sh / height))
    size = person_height(small_pose)
    hard = skeleton_mask(small_pose, sw, sh, thickness=0.11 * size).astype(np.float32)
    soft = np.clip(cv2.GaussianBlur(hard, (0, 0), max(1.0, 0.02 * size)) * 1.5, 0.0, 1.0)
    if (sw, sh) == (width, height):
        return soft
    return cv2.resize(soft, (width, height), interpolation=cv2.INTER_LINEAR)


def _agrees(pose: Pose, found: Pose, view: _View) -> bool:
    """True when the person BlazePose found (in `view`'s pixels) stands on the pose's own
    joints: the median distance over the joints both see is under a fifth of their size."""
    xy = view.to_photo(found.xy)
    both = pose.visible & found.visible
    if both.sum() < 3:
        return False
    d = np.linalg.norm(xy[both] - pose.xy[both], axis=1)
    return float(np.median(d)) < 0.2 * person_height(pose)


def refine(mask: np.ndarray, pose: Pose, *, fill_bones: bool = True) -> np.ndarray:
    """Keep the regions of `mask` the pose's skeleton falls on; with `fill_bones`, add the
    bones themselves (a limb the model lost is still the person)."""
    h, w = mask.shape
    size = person_height(pose)
    bones = _bones(pose, w, h)
    count, labels = cv2.connectedComponents((mask > THRESHOLD).astype(np.uint8), connectivity=8)
    hit = np.unique(labels[bones > 0])
    keep = np.isin(labels, hit[hit > 0])
    # The soft fringe outside the thresholded region belongs to the kept regions when it
    # touches them: grow the kept regions a little before cutting.
    grow = max(3, int(0.02 * size)) | 1
    near = cv2.dilate(keep.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow)))
    others = cv2.dilate(((labels > 0) & ~keep).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    far_from_others = ~others | keep
    refined = np.where((near > 0) & far_from_others, mask, 0.0).astype(np.float32)
    if fill_bones:
        refined = np.maximum(refined, bones)
    log.debug("kept %d of %d regions", int((hit > 0).sum()), count - 1)
    return refined


# --- the mask ----------------------------------------------------------------------------
def segment_person(
    photo: np.ndarray, pose: Pose | None, *, segmenter: Segmenter | None = None, fill_bones: bool = True
) -> PersonSegmentation:
    """The mask of the person standing in `pose` (photo pixels); `pose=None` takes the most
    prominent person, and an empty mask when there is none.

    BlazePose looks at the whole photo first (its own person detector frames the person
    best); when the person it finds is not the pose's, it looks again at a crop around the
    pose, then the selfie model at that crop, then the skeleton alone draws the mask.

    fill_bones: add the pose's bones to the mask, and draw it from the skeleton when no model
    finds the person. False keeps only what the models see (an empty mask when they see
    nobody on the pose): what a check of the pose against the photo needs.
    """
    t0 = time.perf_counter()
    rgb = to_rgb8(photo)
    h, w = rgb.shape[:2]
    seg = segmenter or shared_segmenter()
    has_pose = pose is not None and bool(pose.visible.any())

    def done(mask: np.ndarray, method: str, note: str = "") -> PersonSegmentation:
        if method == "stickman" and not fill_bones:
            mask, method, note = np.zeros((h, w), np.float32), "none", note.split(";")[0]
        ms = (time.perf_counter() - t0) * 1000.0
        log.debug("person mask by %s in %.0f ms%s", method, ms, f" ({note})" if note else "")
        return PersonSegmentation(np.clip(mask, 0.0, 1.0).astype(np.float32), method, note, ms)

    whole = _View(rgb, (0, 0, w, h))
    found = seg.blazepose(whole.small)
    if not has_pose:
        if found is None:
            note = seg.unavailable or "no person found"
            return done(np.zeros((h, w), np.float32), "none", note)
        return done(whole.paste(mask_largest(found[0])), "blazepose")
    assert pose is not None
    # Everything below works at the models' size and is upsampled once at the end, so a
    # 12-megapixel photo costs little more than a small one.
    if found is not None and _agrees(pose, found[1], whole):
        mask = found[0]
        if UNION_SELFIE:
            selfie = seg.selfie(whole.small)
            if selfie is not None:
                mask = np.maximum(mask, selfie)
        return done(whole.paste(refine(mask, whole.pose_in(pose), fill_bones=fill_bones)), "blazepose")
    if seg.unavailable:
        return done(
            stickman_mask(pose, w, h), "stickman", f"{seg.unavailable}; the mask is drawn from the skeleton"
        )
    crop = _View(rgb, _crop_box(pose, w, h))
    local = crop.pose_in(pose)
    found = seg.blazepose(crop.small)
    if found is not None and _agrees(pose, found[1], crop):
        return done(crop.paste(refine(found[0], local, fill_bones=fill_bones)), "blazepose")
    selfie = seg.selfie(crop.small)
    if selfie is not None:
        refined = refine(selfie, local, fill_bones=False)
        if (refined > THRESHOLD).any():
            if fill_bones:
                refined = np.maximum(refined, _bones(local, *crop.small.shape[1::-1]))
            return done(
                crop.paste(refined),
                "selfie",
                "BlazePose found no person on this pose; the selfie model's mask is used",
            )
    return done(
        stickman_mask(pose, w, h),
        "stickman",
        "no person found on this pose; the mask is drawn from the skeleton",
    )


class _View:
    """A box of the photo as the models see it (at most WORK_SIDE), and the way back."""

    def __init__(self, rgb: np.ndarray, box: tuple[int, int, int, int]) -> None:
        self.box = box
        self.shape = rgb.shape[:2]
        x0, y0, x1, y1 = box
        crop = rgb[y0:y1, x0:x1]
        self.scale = min(1.0, WORK_SIDE / max(crop.shape[:2]))
        if self.scale < 1.0:
            size = (max(1, round(crop.shape[1] * self.scale)), max(1, round(crop.shape[0] * self.scale)))
            crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        self.small = np.ascontiguousarray(crop)  # mediapipe refers to the pixels: they must be contiguous
        self.sx, self.sy = self.small.shape[1] / (x1 - x0), self.small.shape[0] / (y1 - y0)

    def to_photo(self, xy: np.ndarray) -> np.ndarray:
        return xy / (self.sx, self.sy) + self.box[:2]

    def pose_in(self, pose: Pose) -> Pose:
        """`pose` (photo pixels) in this view's pixels."""
        xy = ((pose.xy - self.box[:2]) * (self.sx, self.sy)).astype(np.float32)
        return Pose(xy, pose.visible, (self.small.shape[1], self.small.shape[0]))

    def paste(self, small_mask: np.ndarray) -> np.ndarray:
        x0, y0, x1, y1 = self.box
        full = np.zeros(self.shape, np.float32)
        full[y0:y1, x0:x1] = cv2.resize(small_mask, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        return full


def _bones(pose: Pose, width: int, height: int) -> np.ndarray:
    """The bones drawn thin (3 % of the person), for filling in what a model lost."""
    return skeleton_mask(pose, width, height, max(2.0, 0.03 * person_height(pose)), head=False).astype(
        np.float32
    )


def mask_largest(mask: np.ndarray) -> np.ndarray:
    """Only the largest region of `mask` (no pose to say which is the person)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats((mask > THRESHOLD).astype(np.uint8))
    if count <= 1:
        return np.zeros_like(mask)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    keep = cv2.dilate((labels == biggest).astype(np.uint8), np.ones((5, 5), np.uint8))
    return np.where(keep > 0, mask, 0.0).astype(np.float32)


def person_mask(photo: np.ndarray, pose: Pose | None, *, fill_bones: bool = True) -> np.ndarray:
    """(H, W) float32 in [0, 1]: the person standing in `pose` in `photo`. See `segment_person`.

    To check a pose against the photo (do its joints fall on the person?), pass
    `fill_bones=False`: otherwise the pose's own bones are part of the mask by construction.
    """
    return segment_person(photo, pose, fill_bones=fill_bones).mask
