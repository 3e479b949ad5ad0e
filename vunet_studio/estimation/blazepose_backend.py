"""The bundled pose estimator: mediapipe's BlazePose "full", mapped onto our 18 joints.

Why this one: its weights (person detector + landmark model) ship inside the mediapipe wheel
the set-up installs, so it finds people offline on a new machine, on the CPU, in tens of
milliseconds. openpifpaf is more accurate on crowds but needs a checkpoint download first.

BlazePose finds one person per call. To offer the other people of a photo too, the found
person's region is blanked out and the photo searched again, a few times (`max_people`).

mediapipe is imported when the estimator is built, not when this module is imported: its
import takes about a second and pulls in matplotlib.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np

from vunet_studio.estimation.base import EstimatorUnavailable
from vunet_studio.imageio import as_rgb_uint8
from vunet_studio.pose import Pose
from vunet_studio.skeleton import COCO17_NAMES

LOG = logging.getLogger(__name__)

NAME = "BlazePose (bundled)"

#: BlazePose landmark index for each COCO-17 keypoint, in COCO17_NAMES order. mediapipe's
#: LEFT_* is the person's own left, as COCO's left_* is, so no swap is needed.
BLAZEPOSE_FOR_COCO17: dict[str, int] = {
    "nose": 0,
    "left_eye": 2,
    "right_eye": 5,
    "left_ear": 7,
    "right_ear": 8,
    "left_shoulder": 11,
    "right_shoulder": 12,
    "left_elbow": 13,
    "right_elbow": 14,
    "left_wrist": 15,
    "right_wrist": 16,
    "left_hip": 23,
    "right_hip": 24,
    "left_knee": 25,
    "right_knee": 26,
    "left_ankle": 27,
    "right_ankle": 28,
}
NUM_LANDMARKS = 33

#: A landmark whose visibility is below this becomes a hidden joint. BlazePose still places
#: joints it cannot see (behind the body, outside the photo); below ~0.5 those guesses are
#: wrong often enough that the user is better served by a hidden joint to show and drag.
DEFAULT_VISIBILITY = 0.5
#: Longer photo sides are scaled down to this before detection: the models see 224-256
#: pixel crops anyway, and converting a 24-megapixel photo would cost more than the network.
DEFAULT_LONG_EDGE = 1280
#: Photos whose shorter side is below this are searched no further (no person fits in them).
MIN_SIDE = 16
#: How many people to look for by blanking out each one found and searching again.
DEFAULT_MAX_PEOPLE = 3
#: A further person must have this many visible joints: a few stray joints found in the
#: blanked area or in clutter are not a person.
MIN_JOINTS_FOR_MORE = 6


def is_installed() -> bool:
    """Whether the mediapipe package is there (cheap: does not import it)."""
    try:
        return importlib.util.find_spec("mediapipe") is not None
    except (ImportError, ValueError):
        return False


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """Any photo array -> (H, W, 3) uint8: grey, RGBA (alpha dropped), 16-bit or float in [0, 1].

    Raises ValueError, with the offending shape or type, for anything else.
    """
    img = np.asarray(image)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)  # keep the top byte: the photo as an 8-bit viewer shows it
    elif img.dtype.kind == "f":
        img = (np.clip(np.nan_to_num(img), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    elif img.dtype == bool:
        img = img.astype(np.uint8) * 255
    elif img.dtype != np.uint8 and img.dtype.kind in "iu":
        img = np.clip(img, 0, 255).astype(np.uint8)
    return as_rgb_uint8(img)


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence the process's stderr (file descriptor 2) for a moment.

    mediapipe's C++ side prints start-up chatter there (TensorFlow Lite's delegate, absl's
    "log messages before InitializeLog" notice, a feedback-tensor warning), which Python's
    logging cannot catch; in `vunet-studio render` it would sit above the one line a user
    error gets. Only the graph's first run prints it, so only that is silenced.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real stderr (a GUI without a console)
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def landmarks_to_pose(
    landmarks: np.ndarray,
    image_size: tuple[int, int],
    visibility: float = DEFAULT_VISIBILITY,
) -> Pose:
    """BlazePose's (33, 3) [x, y, visibility] in [0, 1] image units -> an 18-joint pose in pixels.

    Joints below `visibility` or outside the photo are hidden; the neck is the shoulder
    midpoint and exists only when both shoulders do.
    """
    lm = np.asarray(landmarks, np.float64).reshape(NUM_LANDMARKS, 3)
    w, h = image_size
    kp = np.zeros((len(COCO17_NAMES), 3), np.float64)
    for k, name in enumerate(COCO17_NAMES):
        x, y, vis = lm[BLAZEPOSE_FOR_COCO17[name]]
        inside = 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0
        kp[k] = (x * w, y * h, vis if inside else 0.0)
    return Pose.from_coco17(kp, threshold=visibility, image_size=(int(w), int(h)))


def _box(pose: Pose, grow: float, size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """The pose's joint box grown by `grow` of its larger side on each side, clipped to the photo."""
    b = pose.bbox()
    if b is None:
        return None
    x0, y0, x1, y1 = b
    m = grow * max(x1 - x0, y1 - y0, 1.0)
    w, h = size
    box = (max(0, int(x0 - m)), max(0, int(y0 - 1.6 * m)), min(w, int(x1 + m + 1)), min(h, int(y1 + m + 1)))
    return box if box[2] > box[0] and box[3] > box[1] else None


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over the smaller box's area."""
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return ix * iy / max(smaller, 1)


def prominence(pose: Pose) -> float:
    b = pose.bbox()
    if b is None:
        return 0.0
    return (b[2] - b[0]) * (b[3] - b[1]) * float(pose.visible.mean())


class BlazePoseEstimator:
    """BlazePose "full" behind the `PoseEstimator` interface.

    One mediapipe graph, guarded by a lock: safe to call from any one thread at a time (the
    app calls it from its pose-finder thread only).
    """

    name = NAME

    def __init__(
        self,
        *,
        visibility: float = DEFAULT_VISIBILITY,
        max_people: int = DEFAULT_MAX_PEOPLE,
        long_edge: int = DEFAULT_LONG_EDGE,
        min_detection_confidence: float = 0.5,
    ) -> None:
        self.visibility = float(visibility)
        self.max_people = max(1, int(max_people))
        self.long_edge = int(long_edge)
        self._lock = threading.Lock()
        self._graph = self._build(min_detection_confidence)

    @staticmethod
    def _build(min_detection_confidence: float) -> Any:
        if not is_installed():
            raise EstimatorUnavailable(
                "The bundled pose estimator needs the mediapipe package, which is not installed. "
                "Run `make setup` (it installs mediapipe==0.10.14), or place the joints by hand."
            )
        try:
            from mediapipe.python.solutions import pose as mp_pose

            # model_complexity=1 ("full") is the only landmark model inside the wheel; 0 and 2
            # would be downloaded on first use. static_image_mode: every call detects afresh,
            # as needed for unrelated photos (video mode would track the last person).
            graph = mp_pose.Pose(
                static_image_mode=True,
                model_complexity=1,
                enable_segmentation=False,
                min_detection_confidence=min_detection_confidence,
            )
            # A first run here, on a blank frame: the models load now (so the first photo's
            # time is the photo's), and their start-up chatter is kept off the terminal.
            with _quiet_native_stderr(), warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                graph.process(np.full((64, 64, 3), 127, np.uint8))
            return graph
        except Exception as e:  # a broken install fails in many ways (protobuf, missing .so)
            LOG.exception("could not start BlazePose")
            raise EstimatorUnavailable(
                f"The bundled pose estimator could not start ({type(e).__name__}: {e}). "
                "Reinstall with `make setup`, or place the joints by hand."
            ) from e

    @property
    def single_person(self) -> bool:
        """Whether only one person is looked for (BlazePose finds one per search; the others
        come from searching again with `max_people` > 1)."""
        return self.max_people == 1

    def close(self) -> None:
        with self._lock:
            if self._graph is not None:
                self._graph.close()
                self._graph = None

    def _landmarks(self, rgb: np.ndarray) -> np.ndarray | None:
        """(33, 3) [x, y, visibility] of the one person BlazePose finds, or None."""
        if self._graph is None:
            raise EstimatorUnavailable("The bundled pose estimator was closed.")
        with warnings.catch_warnings():
            # protobuf 5 deprecates a call mediapipe 0.10.14 makes on every photo.
            warnings.filterwarnings("ignore", message=".*GetPrototype.* is deprecated", category=UserWarning)
            result = self._graph.process(rgb)
        found = getattr(result, "pose_landmarks", None)
        if found is None:
            return None
        return np.array([(p.x, p.y, p.visibility) for p in found.landmark], np.float64)

    def _first_landmarks(self, rgb: np.ndarray) -> np.ndarray | None:
        """The first person, looked for again at half size when the photo itself shows none.

        BlazePose's detector misses people whose face fills much of the frame in some photos
        (the grey Grace Hopper portrait); at half size it finds them. Landmarks are in [0, 1]
        photo units, so they need no scaling back."""
        lm = self._landmarks(rgb)
        h, w = rgb.shape[:2]
        if lm is None and min(h, w) >= 2 * MIN_SIDE:
            half = cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
            lm = self._landmarks(np.ascontiguousarray(half))
        return lm

    def estimate(self, image_rgb_uint8: np.ndarray) -> list[Pose]:
        """The people in the photo, most prominent first, in its pixels (empty when none is found).

        Prominence is the joints' box area times the share of joints seen, so a whole person
        comes before a larger one cut by the photo's edge or seen from behind.
        """
        img = to_rgb8(image_rgb_uint8)
        h, w = img.shape[:2]
        if min(h, w) < MIN_SIDE:
            LOG.debug("photo of %d x %d pixels: too small to hold a person", w, h)
            return []
        scale = min(1.0, self.long_edge / max(h, w))
        work = img
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            work = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        work = np.ascontiguousarray(work)
        wh, ww = work.shape[:2]
        poses: list[Pose] = []
        boxes: list[tuple[int, int, int, int]] = []
        with self._lock:
            for k in range(self.max_people):
                lm = self._landmarks(work) if k else self._first_landmarks(work)
                if lm is None:
                    break
                pose = landmarks_to_pose(lm, (ww, wh), self.visibility)
                box = _box(pose, 0.12, (ww, wh))
                if box is None:
                    break
                # A later search that lands on an area already blanked found a ghost.
                if k > 0 and (
                    int(pose.visible.sum()) < MIN_JOINTS_FOR_MORE
                    or any(_overlap(box, b) > 0.5 for b in boxes)
                ):
                    break
                poses.append(pose)
                boxes.append(box)
                if k + 1 < self.max_people:
                    work = work.copy()
                    x0, y0, x1, y1 = box
                    # Mid grey, not black: a black hole with sharp edges draws the detector.
                    work[y0:y1, x0:x1] = 127
        out = [Pose(pose.xy / scale, pose.visible, (w, h)) for pose in poses]
        LOG.debug("BlazePose found %d people in a %d x %d photo", len(out), w, h)
        return sorted(out, key=prominence, reverse=True)


def create(**kwargs: Any) -> BlazePoseEstimator:
    """The bundled estimator; raises EstimatorUnavailable (a sentence for the user)."""
    return BlazePoseEstimator(**kwargs)
