"""Camera effects on a finished synthetic image: exposure, white balance, low light, blur,
sensor noise, grayscale, JPEG. They change pixels only, never the person's mask.

`Camera` holds the parameters (drawn once per sample, so both images of a re-posing pair
come from the same camera); `apply` is deterministic given them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


@dataclass(frozen=True)
class Camera:
    exposure: float = 1.0  # gain on linear-ish pixel values
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)  # per-channel gains
    low_light: float = 0.0  # 0 off; else the light level (0.3 .. 0.6): dark, flat, noisy
    blur: float = 0.0  # Gaussian sigma in pixels (focus, motion, a soft lens)
    noise: float = 0.0  # sensor noise sigma on the 0..255 scale
    grayscale: bool = False
    jpeg: int = 0  # JPEG quality, 0 = no compression
    seed: int = 0  # noise pattern

    @property
    def is_identity(self) -> bool:
        return self == Camera(seed=self.seed)


def apply(img: np.ndarray, cam: Camera) -> np.ndarray:
    """`img` (H, W, 3) uint8 RGB seen through `cam`; uint8 RGB of the same size."""
    if cam.is_identity:
        return img
    x: np.ndarray = img.astype(np.float32)
    gain = np.asarray(cam.white_balance, np.float32) * cam.exposure
    noise = cam.noise
    if cam.low_light > 0:
        # Dim light: the sensor gets less signal, gamma lifts the shadows, the noise grows.
        gain = gain * cam.low_light
        noise = max(noise, 4.0) * (1.0 + 1.5 * (1.0 - cam.low_light))
    x *= gain
    if cam.low_light > 0:
        x = 255.0 * np.power(np.clip(x, 0, 255) / 255.0, 0.85)
    if cam.blur > 0:
        x = cv2.GaussianBlur(x, (0, 0), cam.blur)
    if noise > 0:
        rng = np.random.default_rng([cam.seed, 0xCA3])
        h, w = x.shape[:2]
        # Luma noise plus weaker chroma noise, as phone sensors show it.
        n = rng.normal(0, noise, (h, w, 1)).astype(np.float32) + rng.normal(0, noise * 0.4, (h, w, 3)).astype(
            np.float32
        )
        x += n
    if cam.grayscale:
        x = np.repeat((x @ _LUMA)[..., None], 3, axis=2)
    out: np.ndarray = np.clip(x + 0.5, 0, 255).astype(np.uint8)
    if cam.jpeg:
        ok, buf = cv2.imencode(
            ".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, cam.jpeg]
        )
        if ok:
            decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
            assert decoded is not None  # a buffer imencode just wrote decodes
            out = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
            if cam.grayscale:  # JPEG's chroma rounding must not tint a grayscale photo
                out = np.repeat(out[..., 1:2], 3, axis=2)
    return out


def shade(img: np.ndarray, direction: float, strength: float, vignette: float) -> np.ndarray:
    """Light falling across the whole frame (scene and person alike) plus lens vignetting."""
    h, w = img.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    xs = xs / max(w - 1, 1) * 2 - 1
    ys = ys / max(h - 1, 1) * 2 - 1
    along = xs * np.cos(direction) + ys * np.sin(direction)
    g = 1.0 + strength * along - vignette * (xs * xs + ys * ys) * 0.5
    return np.clip(img.astype(np.float32) * g[..., None] + 0.5, 0, 255).astype(np.uint8)
