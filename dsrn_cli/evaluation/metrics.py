"""PSNR and SSIM on the luma channel, as SR papers compute them (on Y,
the borders shaved by the scale, peak 255);
IFC, the third metric of their tables, lives in ``ifc.py`` and is re-exported here.

Both take two Y images on the 0..255 scale (uint8 luma, as MATLAB's rgb2ycbcr gives
it), shave ``shave`` pixels from each border, and use peak 255. SSIM is Wang et al.'s
reference: 11x11 Gaussian window with sigma 1.5, K = (0.01, 0.03), 'valid' filtering.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .ifc import ifc

__all__ = ["ifc", "psnr", "ssim"]


def _shave(img: np.ndarray, shave: int) -> np.ndarray:
    img = np.asarray(img, dtype=np.float64)
    return img[shave:-shave, shave:-shave] if shave > 0 else img


def psnr(y_sr: np.ndarray, y_hr: np.ndarray, shave: int = 0) -> float:
    """Peak signal-to-noise ratio in dB, peak 255."""
    a, b = _shave(y_sr, shave), _shave(y_hr, shave)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a.shape} vs {b.shape}")
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def _gaussian(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _filter_valid(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation with the 1-D kernel ``g`` along both axes."""
    rows = sliding_window_view(img, len(g), axis=0) @ g
    return sliding_window_view(rows, len(g), axis=1) @ g


def ssim(y_sr: np.ndarray, y_hr: np.ndarray, shave: int = 0) -> float:
    """Mean structural similarity (Wang et al. 2004), L = 255."""
    a, b = _shave(y_sr, shave), _shave(y_hr, shave)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a.shape} vs {b.shape}")
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    g = _gaussian()
    mu_a, mu_b = _filter_valid(a, g), _filter_valid(b, g)
    s_aa = _filter_valid(a * a, g) - mu_a**2
    s_bb = _filter_valid(b * b, g) - mu_b**2
    s_ab = _filter_valid(a * b, g) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * s_ab + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (s_aa + s_bb + c2)
    return float(np.mean(num / den))
