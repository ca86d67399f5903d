"""MATLAB ``imresize(..., 'bicubic')``, vectorised, in numpy and torch.

Every SR benchmark's LR images come from MATLAB's resize; anything else (PIL, OpenCV,
torch's bicubic) shifts PSNR by tenths of a dB. The rules, from MATLAB's source:

* output length ``ceil(n * scale)``; sample ``u = i / scale + 0.5 (1 - 1 / scale)``;
* cubic kernel with ``a = -0.5``, widened by ``1 / scale`` when shrinking (antialiasing);
* symmetric (mirror) boundary; weights normalised to sum to one;
* the dimension with the smaller scale first, rows first on a tie;
* uint8 images are rounded and clipped back to uint8 after *each* pass.

A pass is a sum over a handful of taps of gathered rows, so it costs
``O(out * taps * other_side)`` and never builds a dense matrix.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from ..files.picture import round_half_up as round_half_up  # MATLAB uint8()


def cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    ax2, ax3 = ax**2, ax**3
    return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) + (
        -0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2
    ) * ((ax > 1) & (ax <= 2))


@lru_cache(maxsize=256)
def raw_contributions(in_len: int, out_len: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Tap indices (0-based, *not* mirrored: may be < 0 or >= ``in_len``) and weights,
    each ``out_len x taps``; :func:`contributions` maps the indices into range."""
    width = 4.0
    if scale < 1:
        kernel = lambda x: scale * cubic(scale * x)  # noqa: E731
        width /= scale
    else:
        kernel = cubic
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]  # 1-based
    w = kernel(u[:, None] - idx)
    w /= w.sum(axis=1, keepdims=True)
    keep = np.any(w != 0, axis=0)
    raw = (idx - 1).astype(np.int64)
    return np.ascontiguousarray(raw[:, keep]), np.ascontiguousarray(w[:, keep])


def mirror(idx: np.ndarray, in_len: int) -> np.ndarray:
    """Indices mapped into ``range(in_len)`` by MATLAB's symmetric boundary
    (``x[-1] = x[0]``, ``x[n] = x[n - 1]``)."""
    m = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    return m[np.mod(idx, 2 * in_len)]


@lru_cache(maxsize=256)
def contributions(in_len: int, out_len: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Tap indices (0-based, mirrored into range) and weights, each ``out_len x taps``."""
    raw, w = raw_contributions(in_len, out_len, scale)
    return np.ascontiguousarray(mirror(raw, in_len)), w


def _out_len(n: int, scale: float) -> int:
    return int(math.ceil(n * scale - 1e-9))


def _plan(shape: tuple[int, int], scale: float | tuple[float, float], size):
    """Per-axis scale factors and output lengths, and the order MATLAB applies them in."""
    h, w = shape
    if size is not None:
        oh, ow = size
        sh, sw = oh / h, ow / w
    else:
        sh, sw = (scale, scale) if np.isscalar(scale) else scale
        oh, ow = _out_len(h, sh), _out_len(w, sw)
    order = [0, 1] if sh <= sw else [1, 0]
    return {0: (sh, oh), 1: (sw, ow)}, order


def imresize(
    img: np.ndarray,
    scale: float | tuple[float, float] | None = None,
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Resize ``H x W`` or ``H x W x C`` like MATLAB; uint8 in gives uint8 out."""
    if (scale is None) == (size is None):
        raise ValueError("give exactly one of scale or size")
    is_uint8 = img.dtype == np.uint8
    out = np.asarray(img, dtype=np.float64)
    axes, order = _plan(img.shape[:2], scale, size)
    for axis in order:
        s, n_out = axes[axis]
        if n_out == out.shape[axis] and s == 1:
            continue
        idx, w = contributions(out.shape[axis], n_out, float(s))
        src = np.moveaxis(out, axis, 0)
        acc = np.zeros((n_out,) + src.shape[1:], dtype=np.float64)
        extra = (None,) * (src.ndim - 1)
        for k in range(idx.shape[1]):
            acc += w[(slice(None), k) + extra] * src[idx[:, k]]
        out = np.moveaxis(acc, 0, axis)
        if is_uint8:
            out = round_half_up(out)
    return out.astype(np.uint8) if is_uint8 else out


def resize_pass_torch(x: torch.Tensor, dim: int, idx: np.ndarray, wt: np.ndarray) -> torch.Tensor:
    """One separable pass along ``dim``: the sum over taps ``k`` of the rows ``idx[:, k]``
    weighted by ``wt[:, k]`` (tap tables from :func:`contributions`, or a slice of them)."""
    idx_t = torch.as_tensor(idx, device=x.device)
    wt_t = torch.as_tensor(wt, device=x.device, dtype=x.dtype)
    shape = [1] * x.dim()
    shape[dim] = idx.shape[0]
    acc = None
    for k in range(idx.shape[1]):
        term = x.index_select(dim, idx_t[:, k]) * wt_t[:, k].reshape(shape)
        acc = term if acc is None else acc + term
    return acc


def imresize_torch(x: torch.Tensor, scale: float) -> torch.Tensor:
    """MATLAB bicubic resize of the last two dims of a float tensor (no rounding).

    Used for the model's residual base (``bicubic(LR)``) and the chroma upscale, on
    whatever device and dtype ``x`` lives.
    """
    h, w = x.shape[-2:]
    axes, order = _plan((h, w), scale, None)
    for axis in order:
        s, n_out = axes[axis]
        dim = x.dim() - 2 + axis
        idx, wt = contributions(x.shape[dim], n_out, float(s))
        x = resize_pass_torch(x, dim, idx, wt)
    return x


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop so both sides are multiples of ``scale`` (step 1 of the protocol)."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]
