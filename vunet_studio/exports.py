"""Writing images, poses and animations: the app's exports, `vunet-studio render`'s outputs and
the dataset tools' PNGs all go through here. Every write is atomic (`vunet_studio.fileio`)
and every failure raises `ExportError` with a message for the user (exports never fail
silently). The `*_FILTERS` are the app's save dialogs' file types, in Qt's filter syntax.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from vunet_studio.fileio import atomic_write_with
from vunet_studio.pose import Pose
from vunet_studio.pose_io import PoseFileError, write_coco, write_openpose, write_pose_file
from vunet_studio.workspace import interpolate_poses

log = logging.getLogger(__name__)

#: What `write_image` writes, by suffix (PIL's format names).
IMAGE_FORMATS: dict[str, str] = {
    ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF",
}  # fmt: skip
RENDER_FILTERS = "PNG image (*.png);;JPEG image (*.jpg *.jpeg)"
POSE_FILTERS = "OpenPose JSON (*.json);;COCO keypoints JSON (*.coco.json);;VUNet Studio pose (*.pose.json)"
ANIMATION_FILTERS = "Animated GIF (*.gif);;MP4 video (*.mp4)"


class ExportError(RuntimeError):
    """A file could not be written; the message names it and says why, for the user."""


def _upscaled(rgb: np.ndarray, min_side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    if max(h, w) >= min_side:
        return rgb
    s = min_side / max(h, w)
    return np.asarray(Image.fromarray(rgb).resize((round(w * s), round(h * s)), Image.Resampling.LANCZOS))


def image_format(path: str | os.PathLike[str]) -> str:
    """The image format `write_image` writes for `path` (PIL's name, "PNG" or "JPEG" ...);
    ExportError for another suffix. Callers check before a slow render, so a typo is said at once."""
    p = Path(path)
    fmt = IMAGE_FORMATS.get(p.suffix.lower())
    if fmt is None:
        others = ", ".join(s for s in IMAGE_FORMATS if s not in (".png", ".jpg"))
        raise ExportError(f"{p.name}: choose a .png or .jpg file name ({others} work too)")
    return fmt


def write_image(
    path: str | os.PathLike[str], pixels: np.ndarray, *, compress_level: int | None = None, grey: bool = False
) -> None:
    """Write RGB (H, W, 3) or grey (H, W) uint8 `pixels` in the format of `path`'s suffix
    (JPEG at quality 95). `compress_level` (PNG's zlib level, 0-9; by default PIL's) trades
    size for speed: low for datasets, 9 for the pictures in docs/.

    grey: the pixels are a grey photo's, re-posed (three equal channels): the file is a grey
    one, as the photo was, not RGB (a third of the size, and image viewers call it grey)."""
    p = Path(path)
    fmt = image_format(p)
    if grey and pixels.ndim == 3:
        pixels = pixels[..., 0]
    image = Image.fromarray(np.ascontiguousarray(pixels, np.uint8))
    options: dict[str, int] = {"quality": 95} if fmt == "JPEG" else {}
    if fmt == "PNG" and compress_level is not None:
        options["compress_level"] = compress_level
    try:
        atomic_write_with(p, lambda tmp: image.save(tmp, fmt, **options))
    except OSError as e:
        raise ExportError(_cannot_write(p, e)) from None


def _cannot_write(p: Path, e: OSError) -> str:
    return f"{p.name}: cannot write the file ({e.strerror or e})"


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


def check_fps(fps: float) -> None:
    """Raise `ExportError` unless `fps` is a usable animation speed (checked before rendering
    too, so a bad setting fails at once and not after every frame is rendered)."""
    if isinstance(fps, bool) or not (isinstance(fps, int | float) and math.isfinite(fps) and fps > 0):
        # 0 divided by zero in the GIF writer; NaN or Infinity made a broken file.
        raise ExportError(f"{fps} frames per second is not a speed; choose one in Preferences")


def animation_frames(keys: Sequence[Pose], frames_between: int, loop: bool) -> list[Pose]:
    """The poses of every frame: `keys` with `frames_between` in-between poses; a loop also
    goes from the last key back to the first and leaves out the repeated first frame, so it
    cycles without a stutter."""
    keys = list(keys)
    if loop and len(keys) >= 2:
        return interpolate_poses([*keys, keys[0]], frames_between)[:-1]
    return interpolate_poses(keys, frames_between)


def write_animation(
    path: str | os.PathLike[str], frames: Sequence[np.ndarray], fps: float, *, loop: bool = True
) -> str:
    """Write a GIF or an MP4; returns a note for the user ("" when all went as asked)."""
    p = Path(path)
    if len(frames) < 2:
        raise ExportError("an animation needs at least two frames")
    check_fps(fps)
    suffix = p.suffix.lower()
    if suffix == ".gif":
        images = [Image.fromarray(np.ascontiguousarray(f, np.uint8)) for f in frames]
        duration = max(20, round(1000 / fps))
        # Without a loop count a GIF plays once; 0 repeats it forever.
        repeat = {"loop": 0} if loop else {}

        def gif(tmp: Path) -> None:
            images[0].save(tmp, "GIF", save_all=True, append_images=images[1:], duration=duration, **repeat)

        try:
            atomic_write_with(p, gif)
        except OSError as e:
            raise ExportError(_cannot_write(p, e)) from None
        return ""
    if suffix == ".mp4":
        prepared = _even_sized(frames)
        try:
            atomic_write_with(p, lambda tmp: _write_h264(tmp, prepared, fps))
            return ""
        except _NoH264 as e:
            reason = str(e)
            log.warning("H.264 encoding failed (%s); writing mp4v", reason)
        except OSError as e:  # a full disk (fileio.DiskFullError) or an unwritable folder
            raise ExportError(_cannot_write(p, e)) from None
        try:
            atomic_write_with(p, lambda tmp: _write_mp4v(tmp, prepared, fps))
        except OSError as e:
            raise ExportError(_cannot_write(p, e)) from None
        return (
            f"{p.name} was written as MPEG-4 Part 2 (mp4v), which web browsers do not play: "
            f"the H.264 encoder is not available ({reason}). Export a GIF to share it on the web."
        )
    raise ExportError(f"{p.name}: choose a .gif or .mp4 file name")


class _NoH264(RuntimeError):
    pass


def _even_sized(frames: Sequence[np.ndarray]) -> list[np.ndarray]:
    # Codecs want even sizes (4:2:0 chroma) of at least a few hundred pixels to look right.
    frames = [_upscaled(np.ascontiguousarray(f, np.uint8), 256) for f in frames]
    h, w = frames[0].shape[:2]
    w2, h2 = w - w % 2, h - h % 2
    return [np.ascontiguousarray(f[:h2, :w2]) for f in frames]


def _write_h264(path: Path, frames: list[np.ndarray], fps: float) -> None:
    """H.264 in yuv420p with the index up front: what browsers play. imageio-ffmpeg's wheel
    brings an ffmpeg built with libx264, so no system ffmpeg is needed."""
    try:
        import imageio_ffmpeg
    except ImportError as e:
        raise _NoH264("imageio-ffmpeg is not installed") from e
    h, w = frames[0].shape[:2]
    try:
        writer = imageio_ffmpeg.write_frames(
            str(path),
            (w, h),
            fps=float(fps),
            codec="libx264",
            pix_fmt_in="rgb24",
            pix_fmt_out="yuv420p",
            macro_block_size=1,  # sizes are even already; don't let it rescale
            quality=None,
            # The temporary file has no .mp4 suffix, so name the container.
            output_params=["-crf", "18", "-movflags", "+faststart", "-f", "mp4"],
            ffmpeg_log_level="error",
        )
        writer.send(None)  # start ffmpeg
        for f in frames:
            writer.send(f)
        writer.close()
    except (OSError, RuntimeError) as e:
        raise _NoH264(str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__) from e
    if not path.exists() or path.stat().st_size == 0:
        raise _NoH264("ffmpeg wrote nothing")


def _write_mp4v(path: Path, frames: list[np.ndarray], fps: float) -> None:
    import cv2

    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), float(fps), (w, h))
    if not writer.isOpened():
        raise ExportError(
            "MP4 export is not available here (OpenCV has no MP4 encoder); export a GIF instead"
        )
    try:
        for f in frames:
            writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    if not path.exists() or path.stat().st_size == 0:
        raise ExportError("the MP4 encoder wrote nothing; export a GIF instead")
