"""Pose files: OpenPose JSON, COCO keypoint JSON and the project's own pose file.

`read_poses` recognises the format and the coordinate convention (pixels or normalised to
[0, 1]) by itself, so files from other tools load without the user choosing a dialect.
Anything malformed raises `PoseFileError`, whose message names the file and the problem.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from vunet_studio.fileio import atomic_write_text
from vunet_studio.pose import Pose
from vunet_studio.skeleton import COCO17_NAMES, JOINT_INDEX, JOINT_NAMES, NUM_JOINTS
from vunet_studio.userfiles import UserFileError, read_user_file

FORMAT_NAME = "vunet-studio-pose"
FORMAT_VERSION = 1
#: Coordinates beyond this many image sizes (or this many pixels without a size) are absurd.
_MAX_ABS_PIXELS = 1e5
#: Pose files are a few kB per person; anything this large is not one (and would fill memory).
MAX_FILE_BYTES = 256_000_000

# OpenPose BODY_25 keypoint index for each of our joints (BODY_25 adds mid-hip and feet).
_BODY25_INDEX = {
    "cnose": 0, "cneck": 1, "rshoulder": 2, "relbow": 3, "rwrist": 4, "lshoulder": 5, "lelbow": 6,
    "lwrist": 7, "rhip": 9, "rknee": 10, "rankle": 11, "lhip": 12, "lknee": 13, "lankle": 14,
    "reye": 15, "leye": 16, "rear": 17, "lear": 18,
}  # fmt: skip


class PoseFileError(ValueError):
    """A pose file could not be read or written; the message names the file and why."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


# --- reading ----------------------------------------------------------------------
def read_poses(path: str | os.PathLike[str], image_size: tuple[int, int] | None = None) -> list[Pose]:
    """All people in a pose file, in pixels of the image they belong to.

    `image_size` (width, height) is needed only for files with normalised coordinates that
    do not state their canvas size themselves.
    """
    p = Path(path)
    try:
        text = read_user_file(p, MAX_FILE_BYTES).decode("utf-8")
    except UserFileError as e:
        raise PoseFileError(p, e.problem) from None
    except UnicodeDecodeError as e:
        raise PoseFileError(p, f"cannot read the file ({e})") from None
    return parse_poses(decode_json(text, lambda problem: PoseFileError(p, problem)), p, image_size)


def decode_json(text: str, error: Callable[[str], Exception]) -> Any:
    """`json.loads(text)`, with every way it can fail raised as `error(one line)`.

    Beyond malformed text: nesting thousands deep raises RecursionError, and an integer of
    more than 4300 digits a plain ValueError; neither may escape as a traceback.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise error(f"not valid JSON ({e.msg} at line {e.lineno})") from None
    except RecursionError:
        raise error("cannot be read: the JSON is nested too deeply") from None
    except ValueError as e:
        long_number = "digits" in str(e)  # Python's own hint (set_int_max_str_digits) is no help here
        raise error(
            "not valid JSON (a number in it is thousands of digits long)"
            if long_number
            else f"not valid JSON ({e})"
        ) from None


def parse_poses(
    doc: Any, path: str | os.PathLike[str] = "<pose>", image_size: tuple[int, int] | None = None
) -> list[Pose]:
    """Like `read_poses` on an already-decoded JSON document."""
    p = Path(path)
    if isinstance(doc, dict) and doc.get("format") == FORMAT_NAME:
        return _parse_own(doc, p)
    if isinstance(doc, dict) and "people" in doc:
        return _parse_openpose(doc, p, image_size)
    if (isinstance(doc, dict) and ("annotations" in doc or "keypoints" in doc)) or isinstance(doc, list):
        return _parse_coco(doc, p, image_size)
    raise PoseFileError(
        p,
        "not a pose file: expected OpenPose JSON ('people'), COCO keypoints ('annotations' or 'keypoints') "
        f"or a {FORMAT_NAME} file",
    )


def _numbers(values: Any, path: Path, what: str) -> np.ndarray:
    if not isinstance(values, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    ):
        raise PoseFileError(path, f"{what} must be a list of numbers")
    try:
        arr = np.asarray(values, np.float64)
    except OverflowError:  # an integer beyond float range, e.g. 400 digits long
        raise PoseFileError(path, f"{what} contains numbers too large to be coordinates") from None
    if not np.all(np.isfinite(arr)):
        raise PoseFileError(path, f"{what} contains NaN or infinite values")
    return arr


def _is_side(v: object) -> TypeGuard[int | float]:
    """A plausible image side: a positive finite number (not a bool) below a million."""
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and 0 < v < 1e6


def _size_from(doc: dict[str, Any], keys: tuple[str, str], path: Path) -> tuple[int, int] | None:
    if keys[0] not in doc and keys[1] not in doc:
        return None
    w, h = doc.get(keys[0]), doc.get(keys[1])
    if not (_is_side(w) and _is_side(h)):
        raise PoseFileError(path, f"'{keys[0]}'/'{keys[1]}' must be positive numbers")
    return int(w), int(h)


def _finish(xy: np.ndarray, visible: np.ndarray, path: Path, size: tuple[int, int] | None, who: str) -> Pose:
    """Recognise normalised coordinates, scale them, and reject absurd values."""
    pts = xy[visible]
    if len(pts) and pts.min() >= 0.0 and pts.max() <= 1.0 and not (size is None and pts.max() == 0):
        # Every visible coordinate in [0, 1]: a normalised file (a real pixel pose this small is
        # one pixel wide, not a person).
        if size is None:
            raise PoseFileError(
                path, f"{who}: coordinates are normalised to [0, 1] but the image size is unknown"
            )
        xy = xy * np.asarray(size, np.float64)
    limit = _MAX_ABS_PIXELS if size is None else 10.0 * max(size)
    if len(pts) and np.abs(xy[visible]).max() > limit:
        raise PoseFileError(
            path, f"{who}: coordinates up to {np.abs(xy[visible]).max():.0f} are far outside the image"
        )
    xy = np.where(visible[:, None], xy, 0.0)
    return Pose(xy.astype(np.float32), visible, size)


def _parse_openpose(doc: dict[str, Any], path: Path, image_size: tuple[int, int] | None) -> list[Pose]:
    people = doc["people"]
    if not isinstance(people, list):
        raise PoseFileError(path, "'people' must be a list")
    size = _size_from(doc, ("canvas_width", "canvas_height"), path) or image_size
    poses = []
    for i, person in enumerate(people):
        who = f"person {i + 1}"
        if not isinstance(person, dict) or "pose_keypoints_2d" not in person:
            raise PoseFileError(path, f"{who} has no 'pose_keypoints_2d'")
        kp = _numbers(person["pose_keypoints_2d"], path, f"{who}'s pose_keypoints_2d")
        n = len(kp) // 3
        if len(kp) % 3 or n not in (18, 25):
            raise PoseFileError(
                path,
                f"{who}'s pose_keypoints_2d has {len(kp)} numbers; expected 54 (18 joints) or 75 (BODY_25) as x, y, confidence",
            )
        kp = kp.reshape(n, 3)
        if n == 25:
            kp = kp[[_BODY25_INDEX[name] for name in JOINT_NAMES]]
        # OpenPose writes 0, 0, 0 for a joint it did not find.
        visible = kp[:, 2] > 0
        poses.append(_finish(kp[:, :2], visible, path, size, who))
    return poses


def _parse_coco(doc: Any, path: Path, image_size: tuple[int, int] | None) -> list[Pose]:
    size = image_size
    if isinstance(doc, dict) and "annotations" in doc:
        anns = doc["annotations"]
        images = doc.get("images")
        if isinstance(images, list) and len(images) == 1 and isinstance(images[0], dict):
            size = _size_from(images[0], ("width", "height"), path) or size
    elif isinstance(doc, dict):
        anns = [doc]
    else:
        anns = doc
    if not isinstance(anns, list):
        raise PoseFileError(path, "'annotations' must be a list")
    poses = []
    for i, ann in enumerate(anns):
        who = f"person {i + 1}"
        if not isinstance(ann, dict) or "keypoints" not in ann:
            raise PoseFileError(path, f"{who} has no 'keypoints'")
        kp = _numbers(ann["keypoints"], path, f"{who}'s keypoints")
        if len(kp) != 3 * len(COCO17_NAMES):
            raise PoseFileError(
                path, f"{who}'s keypoints has {len(kp)} numbers; expected 51 (17 joints as x, y, v)"
            )
        kp = kp.reshape(len(COCO17_NAMES), 3)
        pose = Pose.from_coco17(kp, threshold=0.0)  # v = 1 (occluded, position known) counts as present
        # Scaling is linear, so the neck derived here stays the shoulders' midpoint after _finish.
        poses.append(_finish(pose.xy.astype(np.float64), pose.visible, path, size, who))
    return poses


def _short(value: Any) -> str:
    # repr() of an arbitrary JSON value can be huge, or recurse past the limit when nested
    # thousands deep; a message shows only simple values.
    if value is None or isinstance(value, bool | int | float) or (isinstance(value, str) and len(value) < 40):
        text = repr(value)
        return text if len(text) < 40 else text[:37] + "..."
    return f"({type(value).__name__})"


def _parse_own(doc: dict[str, Any], path: Path) -> list[Pose]:
    version = doc.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise PoseFileError(
            path,
            f"unsupported {FORMAT_NAME} version {_short(version)}; this app reads up to {FORMAT_VERSION}",
        )
    order = doc.get("joint_order")
    if order != list(JOINT_NAMES):
        raise PoseFileError(path, "'joint_order' is missing or differs from the 18-joint COCO-18 order")
    size_list = doc.get("image_size")
    size = None
    if size_list is not None:
        if not isinstance(size_list, list) or len(size_list) != 2:
            raise PoseFileError(path, "'image_size' must be [width, height]")
        size = _size_from({"w": size_list[0], "h": size_list[1]}, ("w", "h"), path)
    people = doc.get("people")
    if not isinstance(people, list):
        raise PoseFileError(path, "'people' is missing or not a list")
    poses = []
    for i, person in enumerate(people):
        who = f"person {i + 1}"
        if not isinstance(person, dict) or "joints" not in person or "visible" not in person:
            raise PoseFileError(path, f"{who} needs 'joints' and 'visible'")
        joints, vis = person["joints"], person["visible"]
        if (
            not isinstance(joints, list)
            or len(joints) != NUM_JOINTS
            or not all(isinstance(j, list) and len(j) == 2 for j in joints)
        ):
            raise PoseFileError(path, f"{who}'s 'joints' must be {NUM_JOINTS} [x, y] pairs")
        xy = _numbers([c for j in joints for c in j], path, f"{who}'s joints").reshape(NUM_JOINTS, 2)
        if not isinstance(vis, list) or len(vis) != NUM_JOINTS or not all(isinstance(v, bool) for v in vis):
            raise PoseFileError(path, f"{who}'s 'visible' must be {NUM_JOINTS} true/false values")
        visible = np.asarray(vis, bool)
        limit = _MAX_ABS_PIXELS if size is None else 10.0 * max(size)
        if np.abs(xy).max(initial=0) > limit:
            raise PoseFileError(path, f"{who}: coordinates are far outside the image")
        poses.append(Pose(xy.astype(np.float32), visible, size))
    return poses


# --- writing ----------------------------------------------------------------------
def _size_of(poses: list[Pose], image_size: tuple[int, int] | None) -> tuple[int, int] | None:
    return image_size or next((p.image_size for p in poses if p.image_size), None)


def openpose_document(poses: list[Pose], image_size: tuple[int, int] | None = None) -> dict[str, Any]:
    people = []
    for pose in poses:
        kp = np.zeros((NUM_JOINTS, 3), np.float64)
        kp[pose.visible, :2] = pose.xy[pose.visible]
        kp[pose.visible, 2] = 1.0
        people.append({"pose_keypoints_2d": [round(float(v), 3) for v in kp.ravel()]})
    doc: dict[str, Any] = {"version": 1.3, "people": people}
    size = _size_of(poses, image_size)
    if size:
        doc["canvas_width"], doc["canvas_height"] = int(size[0]), int(size[1])
    return doc


def coco_document(
    poses: list[Pose], image_size: tuple[int, int] | None = None, file_name: str = ""
) -> dict[str, Any]:
    size = _size_of(poses, image_size)
    anns = []
    for i, pose in enumerate(poses):
        kp = pose.to_coco17()
        bbox = pose.bbox() or (0.0, 0.0, 0.0, 0.0)
        anns.append({
            "id": i + 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
            "keypoints": [round(float(v), 3) for v in kp.ravel()],
            "num_keypoints": int((kp[:, 2] > 0).sum()),
            "bbox": [round(bbox[0], 3), round(bbox[1], 3), round(bbox[2] - bbox[0], 3), round(bbox[3] - bbox[1], 3)],
        })  # fmt: skip
    image: dict[str, Any] = {"id": 1, "file_name": file_name}
    if size:
        image["width"], image["height"] = int(size[0]), int(size[1])
    return {
        "images": [image],
        "annotations": anns,
        "categories": [{"id": 1, "name": "person", "keypoints": [n for n in COCO17_NAMES]}],
    }


def pose_document(poses: list[Pose], image_size: tuple[int, int] | None = None) -> dict[str, Any]:
    size = _size_of(poses, image_size)
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "joint_order": list(JOINT_NAMES),
        "image_size": list(size) if size else None,
        "people": [
            {
                "joints": [[round(float(x), 3), round(float(y), 3)] for x, y in p.xy],
                "visible": [bool(v) for v in p.visible],
            }
            for p in poses
        ],
    }


def _write(path: str | os.PathLike[str], doc: dict[str, Any]) -> None:
    try:
        atomic_write_text(path, json.dumps(doc, indent=1, allow_nan=False))
    except OSError as e:
        raise PoseFileError(path, f"cannot write the file ({e.strerror or e})") from None


def write_openpose(
    path: str | os.PathLike[str], poses: list[Pose], image_size: tuple[int, int] | None = None
) -> None:
    """OpenPose JSON, 18 joints (COCO-18 with neck), pixels, confidence 1 / 0 for missing."""
    _write(path, openpose_document(poses, image_size))


def write_coco(
    path: str | os.PathLike[str],
    poses: list[Pose],
    image_size: tuple[int, int] | None = None,
    file_name: str = "",
) -> None:
    """COCO keypoint JSON (17 joints, [x, y, v], v = 2 visible / 0 missing; no neck)."""
    _write(path, coco_document(poses, image_size, file_name))


def write_pose_file(
    path: str | os.PathLike[str], poses: list[Pose], image_size: tuple[int, int] | None = None
) -> None:
    """The project's own file: 18 joints with visibility kept separately from coordinates,
    so a hidden joint keeps its place."""
    _write(path, pose_document(poses, image_size))


assert JOINT_INDEX["cneck"] == 1  # OpenPose COCO-18 files put the neck second; our order matches.
