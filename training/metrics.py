"""Image-quality metrics for evaluation: SSIM, PSNR and L1 on uint8 RGB images, optionally in a mask.

SSIM follows Wang et al. (2004) as commonly reported for pose transfer: an 11x11 Gaussian
window with sigma 1.5 on the 0-255 scale, K1 = 0.01, K2 = 0.03, computed per channel and
averaged. The window is applied "valid" (no padding), so the SSIM map is 10 pixels smaller
per side pair; the mask is cropped the same way for the masked mean.

Detail (patterns, folds, faces) inside the person, which SSIM and L1 reward little: the
luminance minus its Gaussian blur (sigma 2) inside the mask eroded by 3 px (so the outline
does not count), compared by
  detail_corr_mask   Pearson correlation with the truth's: are the stripes where they belong,
  detail_ratio_mask  standard deviation over the truth's: how much detail there is at all
                     (a flat mean colour gives about 0, the right amount 1).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

_WIN = 11
_SIGMA = 1.5
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2


def _gaussian_window() -> np.ndarray:
    x = np.arange(_WIN, dtype=np.float64) - (_WIN - 1) / 2
    g = np.exp(-(x**2) / (2 * _SIGMA**2))
    return g / g.sum()  # (11,): the window is its outer product with itself


_WINDOW = _gaussian_window()


def _blur_valid(x: np.ndarray) -> np.ndarray:
    """The window's weighted mean around each pixel whose window fits inside (H, W, 3) float64."""
    # Separable, in OpenCV: torch's float64 conv2d takes a slow path, ~0.3 s per 128x128 map,
    # which made the SSIMs most of `vunet-eval`'s time. The border rule does not matter:
    # the pixels it touches are cropped off.
    r = _WIN // 2
    return cv2.sepFilter2D(x, cv2.CV_64F, _WINDOW, _WINDOW, borderType=cv2.BORDER_REFLECT)[r:-r, r:-r]


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM averaged over channels: (H, W, 3) uint8 x2 -> (H-10, W-10) float64."""
    x = np.asarray(a, np.float64)
    y = np.asarray(b, np.float64)
    mx, my = _blur_valid(x), _blur_valid(y)  # (H-10, W-10, 3)
    sxx = _blur_valid(x * x) - mx * mx
    syy = _blur_valid(y * y) - my * my
    sxy = _blur_valid(x * y) - mx * my
    s = ((2 * mx * my + _C1) * (2 * sxy + _C2)) / ((mx * mx + my * my + _C1) * (sxx + syy + _C2))
    return np.asarray(s.mean(axis=2), np.float64)  # (H-10, W-10)


def _crop_mask(mask: np.ndarray) -> np.ndarray:
    r = _WIN // 2
    return mask[r:-r, r:-r]


def ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    m = ssim_map(a, b)
    if mask is None:
        return float(m.mean())
    mk = _crop_mask(np.asarray(mask, bool))
    return float(m[mk].mean()) if mk.any() else float("nan")


def _diff(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)  # (H, W, 3)
    return d if mask is None else d[np.asarray(mask, bool)]  # (N, 3) inside the mask


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    d = _diff(a, b, mask)
    if d.size == 0:
        return float("nan")
    mse = float(np.mean(d**2))
    return float("inf") if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def l1(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean absolute difference on the 0-255 scale."""
    d = _diff(a, b, mask)
    return float(np.mean(np.abs(d))) if d.size else float("nan")


_DETAIL_SIGMA = 2.0
_DETAIL_ERODE = 3


def _detail(img: np.ndarray) -> np.ndarray:
    lum = np.asarray(img, np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)  # (H, W)
    return lum - cv2.GaussianBlur(lum, (0, 0), _DETAIL_SIGMA)


def detail(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(detail_corr_mask, detail_ratio_mask); NaN where the eroded mask is empty or flat."""
    k = 2 * _DETAIL_ERODE + 1
    inner = cv2.erode(np.asarray(mask, np.uint8), np.ones((k, k), np.uint8)).astype(bool)
    if inner.sum() < 2:
        return float("nan"), float("nan")
    p, t = _detail(pred)[inner], _detail(target)[inner]
    sp, st = float(p.std()), float(t.std())
    if st == 0.0:
        return float("nan"), float("nan")
    corr = float(np.mean((p - p.mean()) * (t - t.mean())) / (sp * st)) if sp > 0 else 0.0
    return corr, sp / st


def all_metrics(pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None) -> dict[str, float]:
    out = {"ssim": ssim(pred, target), "psnr": psnr(pred, target), "l1": l1(pred, target)}
    if mask is not None:
        out.update(
            {
                "ssim_mask": ssim(pred, target, mask),
                "psnr_mask": psnr(pred, target, mask),
                "l1_mask": l1(pred, target, mask),
            }
        )
        out["detail_corr_mask"], out["detail_ratio_mask"] = detail(pred, target, mask)
    return out
