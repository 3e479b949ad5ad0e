"""Pose estimation: find people's joints in a photo.

Importing this package is cheap: it needs neither torch, openpifpaf nor mediapipe.
`create_chain` is what the app and the tools use: a pose file beside the photo, else
openpifpaf when its checkpoint is here, else the bundled BlazePose, else the template
(`chain.py`). `create_estimator` builds openpifpaf alone. Backends are imported when first
used (seconds: torch and openpifpaf's C++ ops, or mediapipe), so call them off the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable

from vunet_studio.estimation.base import (
    DEFAULT_THRESHOLD,
    EstimatorUnavailable,
    PoseEstimator,
    largest_first,
    poses_from_coco17,
)
from vunet_studio.estimation.chain import (
    AUTO,
    BUNDLED,
    ESTIMATOR_CHOICES,
    ESTIMATOR_LABELS,
    OPENPIFPAF,
    Estimation,
    EstimatorChain,
    build_tool_chain,
    create_chain,
    find_people,
    sidecar_pose_path,
    template_pose,
)
from vunet_studio.imageio import as_rgb_uint8

#: openpifpaf's default checkpoint name (kept here too so callers need not import the backend).
DEFAULT_CHECKPOINT = "shufflenetv2k16"

__all__ = [
    "AUTO",
    "BUNDLED",
    "DEFAULT_CHECKPOINT",
    "DEFAULT_THRESHOLD",
    "ESTIMATOR_CHOICES",
    "ESTIMATOR_LABELS",
    "OPENPIFPAF",
    "Estimation",
    "EstimatorChain",
    "EstimatorUnavailable",
    "PoseEstimator",
    "as_rgb_uint8",
    "build_tool_chain",
    "create_chain",
    "create_estimator",
    "find_people",
    "largest_first",
    "poses_from_coco17",
    "sidecar_pose_path",
    "template_pose",
]


def create_estimator(
    checkpoint: str | None = None,
    device: str = "auto",
    *,
    threshold: float = DEFAULT_THRESHOLD,
    allow_download: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> PoseEstimator:
    """The pose estimator, ready to call.

    checkpoint: None (openpifpaf's default, `DEFAULT_CHECKPOINT`), an openpifpaf checkpoint
        name (downloaded once into the torch hub cache; the cache is checked first and a
        download gives up after a timeout), or the path of a checkpoint file the user chose.
    device: "auto" (a CUDA GPU when there is one, else the CPU), "cpu", "cuda", "cuda:1", ...
    threshold: joint confidence above which a detected joint counts as visible.
    allow_download: False never touches the network (a name not yet cached is then unavailable).
    progress: called as progress(bytes_done, bytes_total_or_0) while downloading.

    Raises EstimatorUnavailable, whose message is a sentence to show the user (openpifpaf
    not installed, checkpoint not downloaded and offline, unreadable file, no such GPU).
    """
    from vunet_studio.estimation import openpifpaf_backend

    return openpifpaf_backend.create(
        checkpoint,
        device,
        threshold=threshold,
        allow_download=allow_download,
        progress=progress,
    )
