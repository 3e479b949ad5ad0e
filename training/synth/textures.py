"""Photographs (or photo-like procedural stand-ins) for backgrounds and clothing fabric.

A texture is named by a string: a file path (a photo from the texture folder) or
"proc:<n>" (procedural, generated from n). Names go into the frozen appearance dataclasses,
so a re-posing pair draws the same texture in both images. The folder is, in order:
`Realism.texture_dir`, the environment variable VUNET_TEXTURES, `data/textures/` (filled by
`scripts/fetch_textures.py`). Without any photos the procedural textures stand in, so the
data (and the tests) work on a fresh clone; that is logged once per folder.
"""

from __future__ import annotations

import logging
import os
import zlib
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from vunet_studio.imageio import ImageLoadError, is_image_path, load_image

logger = logging.getLogger(__name__)

ENV_VAR = "VUNET_TEXTURES"
DEFAULT_DIR = Path("data/textures")
#: Longest side a photo is kept at in memory: backgrounds are cropped from it at 128-256 px.
MAX_SIDE = 512
#: Distinct procedural textures: few enough that the cache below serves most requests.
PROC_COUNT = 64
PROC_SIZE = 256


def resolve_dir(texture_dir: str | None) -> Path | None:
    """The texture folder to use (see the module docstring), or None."""
    for cand in (texture_dir, os.environ.get(ENV_VAR), str(DEFAULT_DIR)):
        if cand:
            p = Path(cand).expanduser()
            if p.is_dir():
                return p.resolve()
            if cand is texture_dir:
                logger.warning("texture folder %s does not exist; looking elsewhere", p)
    return None


@lru_cache(maxsize=16)
def photos(folder: str | None) -> tuple[str, ...]:
    """The photo files of the texture folder (`resolve_dir`), sorted; logged once per folder."""
    root = resolve_dir(folder)
    files: tuple[str, ...] = ()
    if root is not None:
        files = tuple(sorted(str(p) for p in root.rglob("*") if is_image_path(p) and p.is_file()))
    if files:
        logger.info("synthetic textures: %d photos from %s", len(files), root)
    else:
        logger.info(
            "synthetic textures: no photos (texture_dir, $%s or %s; see scripts/fetch_textures.py), "
            "using procedural textures",
            ENV_VAR,
            DEFAULT_DIR,
        )
    return files


def pick(rng: np.random.Generator, texture_dir: str | None) -> str:
    """A texture name drawn with `rng` (always exactly one draw, photos or not)."""
    files = photos(texture_dir)
    u = rng.random()
    if files:
        return files[int(u * len(files)) % len(files)]
    return f"proc:{int(u * PROC_COUNT) % PROC_COUNT}"


#: Photos (~1.7 MB each at MAX_SIDE), procedural textures (0.8 MB) and their pyramid levels:
#: the cache holds a 60-photo folder with its levels, a few hundred MB per worker at most.
@lru_cache(maxsize=256)
def texture(name: str) -> np.ndarray:
    """The texture as float32 RGB (H, W, 3) in 0..255, read-only. Cached per process.

    "<name>#<k>" is the texture halved k times (a pyramid level, for minification).
    """
    base, sep, level = name.rpartition("#")
    if sep and level.isdigit():
        img = texture(base)
        for _ in range(int(level)):
            if min(img.shape[:2]) < 16:
                break
            img = cv2.pyrDown(img)
        img = img.copy()
    elif name.startswith("proc:"):
        img = procedural(int(name[5:]))
    else:
        img = _read(name)
    img.setflags(write=False)
    return img


def _read(path: str) -> np.ndarray:
    try:
        rgb = load_image(path)
    except ImageLoadError as exc:
        # One bad file must not stop training: stand in a procedural texture, say so once.
        logger.warning("unreadable texture %s (%s): using a procedural one instead", path, exc.problem)
        return procedural(zlib.crc32(path.encode()) % PROC_COUNT)
    h, w = rgb.shape[:2]
    f = MAX_SIDE / max(h, w)
    if f < 1:
        rgb = cv2.resize(rgb, (max(int(w * f), 1), max(int(h * f), 1)), interpolation=cv2.INTER_AREA)
    return rgb.astype(np.float32)


def procedural(n: int, size: int = PROC_SIZE) -> np.ndarray:
    """A photo-like stand-in: colour fields at several scales, soft edges, grain (float32 RGB).

    Not a photograph, but it has what the flat procedural scenes lack: detail at every
    scale, several colours, and straight edges such as walls and windows make.
    """
    rng = np.random.default_rng([n, 0x7E57])
    base = rng.uniform(40, 220, 3).astype(np.float32)
    img: np.ndarray = np.broadcast_to(base, (size, size, 3)).astype(np.float32)
    for cells, amp in ((2, 60.0), (5, 35.0), (13, 18.0), (40, 9.0)):
        low = rng.normal(0, 1, (cells, cells, 3)).astype(np.float32)
        # Correlated channels: real scenes vary mostly in brightness, less in hue.
        low = 0.7 * low.mean(axis=2, keepdims=True) + 0.3 * low
        img += amp * cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(0, 5))):  # rectangles: windows, doors, furniture
        x0, y0 = rng.integers(0, size, 2)
        w, h = rng.integers(size // 10, size // 2, 2)
        shade = rng.uniform(0.6, 1.4)
        img[y0 : y0 + h, x0 : x0 + w] *= shade
    img += rng.normal(0, 4, (size, size, 1)).astype(np.float32)
    img = cv2.GaussianBlur(img, (0, 0), 0.7)
    return np.clip(img, 0, 255).astype(np.float32)


def crop(name: str, size: int, x: float, y: float, zoom: float, flip: bool) -> np.ndarray:
    """A size x size float32 crop: `zoom` in (0, 1] of the texture's short side, at (x, y) in [0, 1]."""
    tex = texture(name)
    h, w = tex.shape[:2]
    side = max(int(min(h, w) * zoom), 8)
    x0 = int((w - side) * x)
    y0 = int((h - side) * y)
    patch = tex[y0 : y0 + side, x0 : x0 + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    out = cv2.resize(patch, (size, size), interpolation=interp)
    return out[:, ::-1].copy() if flip else out


def sample_at(name: str, tx: np.ndarray, ty: np.ndarray) -> np.ndarray:
    """The texture at float pixel coordinates (tx, ty), wrapping around (for fabric)."""
    tex = texture(name)
    return cv2.remap(
        tex,
        np.ascontiguousarray(tx, np.float32),
        np.ascontiguousarray(ty, np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_WRAP,
    )


@lru_cache(maxsize=256)
def mean_luma(name: str) -> float:
    t = texture(name)
    return float(max((t @ np.array([0.299, 0.587, 0.114], np.float32)).mean(), 1.0))
