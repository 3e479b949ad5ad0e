"""Writing what the user exports: renders, poses and animations. Every write is atomic and
every failure raises `ExportError` with a message for the user (exports never fail silently).

Qt-free on purpose so the same writers serve tests and the command line.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from vunet_studio.fileio import atomic_write_with
from vunet_studio.pose import Pose
from vunet_studio.pose_io import PoseFileError, write_coco, write_openpose, write_pose_file

log = logging.getLogger(__name__)

RENDER_FILTERS = "PNG image (*.png);;JPEG image (*.jpg *.jpeg)"
POSE_FILTERS = "OpenPose JSON (*.json);;COCO keypoints JSON (*.coco.json);;VUNet Studio pose (*.pose.json)"
ANIMATION_FILTERS = "Animated GIF (*.gif);;MP4 video (*.mp4)"


class ExportError(RuntimeError):
    pass


def _upscaled(rgb: np.ndarray, min_side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    if max(h, w) >= min_side:
        return rgb
    s = min_side / max(h, w)
    return np.asarray(Image.fromarray(rgb).resize((round(w * s), round(h * s)), Image.Resampling.LANCZOS))


def write_render(path: str | os.PathLike[str], rgb: np.ndarray) -> None:
    p = Path(path)
    fmt = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}.get(p.suffix.lower())
    if fmt is None:
        raise ExportError(f"{p.name}: choose a .png or .jpg file name")
    image = Image.fromarray(np.ascontiguousarray(rgb, np.uint8), "RGB")
    try:
        atomic_write_with(p, lambda tmp: image.save(tmp, fmt, **({"quality": 95} if fmt == "JPEG" else {})))
    except OSError as e:
        raise ExportError(f"{p.name}: cannot write the file ({e.strerror or e})") from None


def pose_format_for(path: Path, selected_filter: str = "") -> str:
    name = path.name.lower()
    if name.endswith(".coco.json") or "COCO" in selected_filter:
        return "coco"
    if name.endswith(".pose.json") or "VUNet" in selected_filter:
        return "own"
    return "openpose"


def write_pose(
    path: str | os.PathLike[str], pose: Pose, image_size: tuple[int, int], fmt: str, file_name: str = ""
) -> None:
    try:
        if fmt == "coco":
            write_coco(path, [pose], image_size, file_name)
        elif fmt == "own":
            write_pose_file(path, [pose], image_size)
        else:
            write_openpose(path, [pose], image_size)
    except PoseFileError as e:
        raise ExportError(str(e)) from None


def write_animation(path: str | os.PathLike[str], frames: Sequence[np.ndarray], fps: float) -> None:
    p = Path(path)
    if len(frames) < 2:
        raise ExportError("an animation needs at least two frames")
    suffix = p.suffix.lower()
    if suffix == ".gif":
        images = [Image.fromarray(np.ascontiguousarray(f, np.uint8)) for f in frames]
        duration = max(20, round(1000 / fps))

        def gif(tmp: Path) -> None:
            images[0].save(tmp, "GIF", save_all=True, append_images=images[1:], duration=duration, loop=0)

        try:
            atomic_write_with(p, gif)
        except OSError as e:
            raise ExportError(f"{p.name}: cannot write the file ({e.strerror or e})") from None
    elif suffix == ".mp4":
        atomic_write_with(p, lambda tmp: _write_mp4(tmp, frames, fps))
    else:
        raise ExportError(f"{p.name}: choose a .gif or .mp4 file name")


def _write_mp4(path: Path, frames: Sequence[np.ndarray], fps: float) -> None:
    import cv2

    # Codecs want even sizes of at least a few hundred pixels to look right in players.
    frames = [_upscaled(f, 256) for f in frames]
    h, w = frames[0].shape[:2]
    w2, h2 = w - w % 2, h - h % 2
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w2, h2))
    if not writer.isOpened():
        raise ExportError(
            "MP4 export is not available here (OpenCV has no MP4 encoder); export a GIF instead"
        )
    try:
        for f in frames:
            writer.write(cv2.cvtColor(np.ascontiguousarray(f[:h2, :w2]), cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    if not path.exists() or path.stat().st_size == 0:
        raise ExportError("the MP4 encoder wrote nothing; export a GIF instead")
