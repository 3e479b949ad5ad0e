"""Loading user photos: any common format, EXIF orientation honoured, a clear error otherwise.

Qt-free (PIL first, cv2 as a fallback for formats PIL lacks). Photos are returned as RGB
uint8 arrays in their upright orientation, so pose coordinates always refer to the pixels
the user sees.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vunet_studio.userfiles import UserFileError, read_user_file

log = logging.getLogger(__name__)

#: Extensions offered in open dialogs and accepted from drag and drop.
IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm",
)  # fmt: skip

#: Photos up to this many pixels load (a 20000 x 20000 scan); PIL's default guard is lower
#: and would reject legitimate large camera images as "decompression bombs".
MAX_PIXELS = 400_000_000


class ImageLoadError(ValueError):
    """A photo could not be loaded; the message names the file and says why, for the user."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path.name}: {problem}")


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Accept grey, RGB and RGBA uint8 images; return a contiguous (H, W, 3) uint8 array.

    Raises ValueError (with the offending dtype or shape) for anything else.
    """
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise ValueError(f"expected an 8-bit image, got {img.dtype} pixels")
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]  # drop alpha
    elif img.ndim == 3 and img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {np.asarray(image).shape}")
    return np.ascontiguousarray(img)


def grey_rgb(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB made grey, still three equal channels: what a grey photo gets of
    anything laid into it (a render, a borrowed head or body)."""
    import cv2  # as in `_load_cv2`: not on the window's start-up path

    g = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    return cv2.merge([g, g, g])


def is_grey(image: np.ndarray) -> bool:
    """True for a grey image: 2-D, or (H, W, C) whose first three channels are all equal (a grey
    photo stored as RGB; its re-posed person must stay grey, and its empty scene too)."""
    if image.ndim == 2 or image.shape[2] < 3:
        return True
    # Strided check first: most colour photos fail it on the first rows.
    sample = image[::7, ::7]
    if not (np.array_equal(sample[..., 0], sample[..., 1]) and np.array_equal(sample[..., 0], sample[..., 2])):
        return False
    return bool(np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 0], image[..., 2]))


def is_image_path(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """(H, W, 3) uint8 RGB of the photo at `path`, rotated upright per its EXIF orientation."""
    p = Path(path)
    try:
        # Read once, from a checked regular file: a FIFO or device named as a photo would
        # otherwise block the GUI thread for ever inside the decoder's open().
        data = read_user_file(p)
    except UserFileError as e:
        raise ImageLoadError(p, e.problem) from None
    try:
        return _load_pil(p, data)
    except ImageLoadError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        log.debug("PIL could not read %s (%s); trying OpenCV", p, e)
        arr = _load_cv2(data)
        if arr is not None:
            return arr
        if isinstance(e, UnidentifiedImageError):
            raise ImageLoadError(p, "not an image, or a format this app cannot read") from None
        raise ImageLoadError(p, f"the image is corrupt or truncated ({e})") from None


def _load_pil(p: Path, data: bytes) -> np.ndarray:
    old_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        im: Image.Image  # opened as an ImageFile, then transposed / converted to plain Images
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise ImageLoadError(p, f"too large ({im.width} x {im.height} pixels)")
                im.load()  # decode now, so truncated files fail here and not later
                im = ImageOps.exif_transpose(im) or im
                if im.mode.startswith("I;16") or im.mode == "I":
                    return _grey_16bit(im)
                if im.mode != "RGB":
                    im = _flatten_alpha(im) if "A" in im.getbands() or im.mode == "P" else im.convert("RGB")
                return np.asarray(im, np.uint8).copy()
    except Image.DecompressionBombError:
        raise ImageLoadError(p, "too large to open") from None
    finally:
        Image.MAX_IMAGE_PIXELS = old_limit


def _grey_16bit(im: Image.Image) -> np.ndarray:
    # PIL's convert("RGB") clips 16-bit grey at 255, which turns the photo white; scale instead.
    # Mode "I" (32-bit) also holds 16-bit PNGs; one whose values stay below 256 is 8-bit data.
    a = np.asarray(im).astype(np.float64)
    top = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
    grey = np.clip(a * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def _flatten_alpha(im: Image.Image) -> Image.Image:
    # Transparent areas become white, as a photo viewer shows them, not black.
    rgba = im.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _load_cv2(data: bytes) -> np.ndarray | None:
    try:
        import cv2
    except ImportError:  # pragma: no cover - cv2 is a dependency
        return None
    buf = np.frombuffer(data, np.uint8)  # decoding from memory also sidesteps non-ASCII paths
    if buf.size == 0:
        return None
    bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)  # honours EXIF orientation by default
    if bgr is None:
        return None
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
