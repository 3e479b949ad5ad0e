"""The pose-estimator interface: what the app and the tools call to find people in a photo.

Qt-free and torch-free. A backend (openpifpaf, or the bundled BlazePose) turns an RGB photo into `Pose`
objects in that photo's pixels; everything else in the project sees only this interface, so
a backend can be replaced without touching the GUI or the dataset tools.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

import numpy as np

from vunet_studio.pose import Pose

#: Joint confidence above which a detected joint counts as visible. openpifpaf's decoder
#: completes every skeleton with low-confidence guesses; below ~0.2 those guesses are more
#: often wrong than right, and a missing joint is easier to fix by hand than a wrong one.
DEFAULT_THRESHOLD = 0.2


class EstimatorUnavailable(Exception):
    """No pose estimator can be built. The message is a user-facing sentence saying why and
    what to do about it; callers fall back to a template pose and show it."""


@runtime_checkable
class PoseEstimator(Protocol):
    """Finds all people in a photo."""

    def estimate(self, image_rgb_uint8: np.ndarray) -> list[Pose]:
        """All people in an (H, W, 3) uint8 RGB image, largest (bounding-box area) first,
        in pixels of that image, each with `image_size` = (W, H). May be empty. A backend may
        weigh the area by how much of the person it sees (the first is the one to edit)."""
        ...


def _area(pose: Pose) -> float:
    box = pose.bbox()
    return 0.0 if box is None else (box[2] - box[0]) * (box[3] - box[1])


def largest_first(poses: Iterable[Pose]) -> list[Pose]:
    """People sorted by the area of their joints' bounding box, largest first (stable)."""
    return sorted(poses, key=_area, reverse=True)


def poses_from_coco17(
    keypoints: Iterable[np.ndarray],
    threshold: float = DEFAULT_THRESHOLD,
    image_size: tuple[int, int] | None = None,
) -> list[Pose]:
    """COCO-17 (17, 3) [x, y, confidence] arrays -> 18-joint poses, largest first.

    A joint is visible when its confidence exceeds `threshold`; the neck is derived from the
    shoulders. People left with no visible joint are dropped.
    """
    poses = [Pose.from_coco17(kp, threshold=threshold, image_size=image_size) for kp in keypoints]
    return largest_first(p for p in poses if p.visible.any())
