"""RGB <-> YCbCr exactly as MATLAB's ``rgb2ycbcr`` / ``ycbcr2rgb`` (BT.601, studio range).

SR papers measure on the luma of MATLAB's conversion, so the model is trained and
evaluated on that Y. Values are floats on the 0..255 scale; the functions accept numpy
arrays or torch tensors with channels last (``H x W x 3``) for numpy and channels first
(``... x 3 x H x W``) for torch, the natural layouts of each library.
"""

from __future__ import annotations

import numpy as np
import torch

from ..files.picture import quantize

# MATLAB rgb2ycbcr for inputs in [0, 1]: offset + M @ rgb; on the 0..255 scale M / 255.
_OFFSET = np.array([16.0, 128.0, 128.0])
_M = np.array(
    [
        [65.481, 128.553, 24.966],
        [-37.797, -74.203, 112.0],
        [112.0, -93.786, -18.214],
    ]
)
_M_INV = np.linalg.inv(_M)
# RGB change (0..255) per unit of Y with Cb, Cr fixed: the first column of ycbcr2rgb's
# matrix, 255 / 219 for each channel (a luma detail added to an RGB image).
LUMA_TO_RGB = _M_INV[:, 0] * 255.0


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """``H x W x 3`` RGB on 0..255 -> float64 YCbCr on 0..255 (unrounded)."""
    rgb = np.asarray(rgb, dtype=np.float64)
    return rgb @ (_M.T / 255.0) + _OFFSET


def ycbcr_to_rgb(ycc: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycbcr`; float64, unclipped."""
    ycc = np.asarray(ycc, dtype=np.float64)
    return (ycc - _OFFSET) @ (_M_INV.T * 255.0)


def rgb_to_y(rgb: np.ndarray) -> np.ndarray:
    """Luma only, float64 on 0..255 (``16 + (65.481 R + 128.553 G + 24.966 B) / 255``).

    A 2-D array is a grayscale image and is treated as R = G = B.
    """
    rgb = np.asarray(rgb, dtype=np.float64)
    if rgb.ndim == 2:
        return 16.0 + rgb * (_M[0].sum() / 255.0)
    return rgb @ (_M[0] / 255.0) + 16.0


def y_uint8(rgb: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2ycbcr`` on a uint8 image returns uint8: the luma rounded, as papers use."""
    return quantize(rgb_to_y(rgb), np.uint8)


def rgb_to_ycbcr_torch(rgb: torch.Tensor) -> torch.Tensor:
    """``... x 3 x H x W`` tensor on 0..255 -> YCbCr on 0..255, same dtype."""
    m = torch.as_tensor(_M / 255.0, dtype=rgb.dtype, device=rgb.device)
    off = torch.as_tensor(_OFFSET, dtype=rgb.dtype, device=rgb.device)
    return torch.einsum("ij,...jhw->...ihw", m, rgb) + off[:, None, None]


def ycbcr_to_rgb_torch(ycc: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_ycbcr_torch`; unclipped."""
    m = torch.as_tensor(_M_INV * 255.0, dtype=ycc.dtype, device=ycc.device)
    off = torch.as_tensor(_OFFSET, dtype=ycc.dtype, device=ycc.device)
    return torch.einsum("ij,...jhw->...ihw", m, ycc - off[:, None, None])
