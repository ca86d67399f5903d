"""Assemble the upscaled image strip by strip, directly in its final dtype.

The network's luma arrives one tile row at a time (``tiling.iter_rows``); chroma and
alpha get MATLAB bicubic for just the rows of each strip (computed from the LR rows its
taps reach, ``resize.contributions``), then YCbCr -> RGB, the single rounding and clip.
No full-size float plane ever exists: memory is the input, the LR luma, one tile row of
luma, one strip of temporaries and the uint8/uint16 result.

On the CPU the numbers are the numpy float64 pipeline's, element for element (every step
is per pixel or per image row, so how rows are grouped does not change a value); on an
accelerator the same steps run in torch float32 on the device (within one grey level),
and only the final integers travel back.

float32 images (0..1, a little outside allowed) map exactly as uint8 0..255 would (peak
1.0) and come back float32, neither rounded nor clipped.

Partial alpha: colour is resampled premultiplied by alpha and divided by the
resampled alpha, so fully transparent pixels (whatever colour they hide) never bleed into
visible ones. The network adds its detail (the residual) computed from the straight luma
with fully transparent pixels filled from the nearest visible one: premultiplied luma
through the network would sharpen the alpha edge in the colour but not in the bicubic
alpha, and dividing the two gives the edge pixels anything from 0 to 255. Images whose
alpha is opaque everywhere take the plain path (the same pixels as without alpha).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch
from scipy import ndimage

from ..files.picture import peak, quantize
from ..model.network import DSRN
from ..pixels.color import (
    LUMA_TO_RGB,
    rgb_to_ycbcr,
    rgb_to_ycbcr_torch,
    ycbcr_to_rgb,
    ycbcr_to_rgb_torch,
)
from ..pixels.resize import (
    contributions,
    imresize,
    mirror,
    raw_contributions,
    resize_pass_torch,
)
from .backend import Backend, pick_tile
from .selection import as_backend
from .tiling import iter_rows

STRIP = 64  # output rows per strip (bounds the float temporaries to STRIP full rows)


def _rechunk(bands: Iterable[np.ndarray], n: int) -> Iterator[np.ndarray]:
    """Regroup row bands of any height into strips of ``n`` rows (the last may be short)."""
    buf: list[np.ndarray] = []
    have = 0
    for band in bands:
        buf.append(band)
        have += band.shape[0]
        while have >= n:
            cat = np.concatenate(buf) if len(buf) > 1 else buf[0]
            yield cat[:n]
            rest = cat[n:]
            buf, have = ([rest] if len(rest) else []), len(rest)
    if have:
        yield np.concatenate(buf) if len(buf) > 1 else buf[0]


def _resize_rows(
    rows: Callable[[int, int], np.ndarray], h: int, w: int, scale: int, a: int, b: int
) -> np.ndarray:
    """Rows ``[a, b)`` of ``resize.imresize(lr, scale=scale)`` for a float64 ``h x w x C``
    image whose LR rows ``[lo, hi)`` ``rows(lo, hi)`` returns (only those the taps reach).

    The same taps, weights and summation order as the whole-image resize (rows first,
    then columns), so every value is bit-identical to it.
    """
    idx, wt = contributions(h, h * scale, float(scale))
    idx, wt = idx[a:b], wt[a:b]
    lo = int(idx.min())
    lr = rows(lo, int(idx.max()) + 1)
    acc = np.zeros((b - a,) + lr.shape[1:], dtype=np.float64)
    for k in range(idx.shape[1]):
        acc += wt[:, k, None, None] * lr[idx[:, k] - lo]
    return _resize_columns(acc, scale)


def _resize_columns(acc: np.ndarray, scale: int) -> np.ndarray:
    """``imresize``'s column pass of ``rows x w x C`` float64 by the integer ``scale``.

    Output column ``j * scale + p`` reads input columns ``j + c[p, k]`` (``c`` fixed per
    phase ``p``), so each phase is a sum of a few contiguous slices of the mirror-extended
    rows instead of a gather per tap (the chroma resize ~1.6x faster at x2, 1.8-2x at x4:
    ``scripts/bench_assemble.py --rows``), and still
    ``0 + w0 x0 + w1 x1 + ...`` with the same weights in the same order per value, i.e.
    bit-identical.
    """
    w = acc.shape[1]
    raw, wt = raw_contributions(w, w * scale, float(scale))
    for p in range(scale):
        first = raw[p::scale] - np.arange(len(raw[p::scale]))[:, None]
        if not np.all(first == first[0]):  # not one slice per tap (never seen): a gather
            return imresize(acc, scale=(1.0, float(scale)))
    lo = int(raw.min())
    ext = acc[:, mirror(np.arange(lo, int(raw.max()) + 1), w)]
    out = np.empty((acc.shape[0], w, scale) + acc.shape[2:], dtype=np.float64)
    term = np.empty(acc.shape, dtype=np.float64)
    for p in range(scale):  # each phase summed contiguously, then interleaved once
        phase = np.zeros(acc.shape, dtype=np.float64)
        for k in range(raw.shape[1]):
            start = int(raw[p, k]) - lo
            np.multiply(wt[p::scale, k, None], ext[:, start : start + w], out=term)
            phase += term
        out[:, :, p] = phase
    return out.reshape((acc.shape[0], w * scale) + acc.shape[2:])


def _finish(x: np.ndarray, full: float, dtype: np.dtype) -> np.ndarray:
    """The single rounding (half up, as MATLAB) and clip of the pipeline; float32 out:
    only scaled to 0..1, neither rounded nor clipped."""
    x = np.asarray(x, dtype=np.float32)
    if full != 255.0:
        x *= np.float32(full / 255.0)
    return x if np.dtype(dtype) == np.float32 else quantize(x, dtype)


def iter_strips(
    net: Backend | DSRN, arr: np.ndarray, scale: int, tile: int | None = None
) -> Iterator[np.ndarray]:
    """Yield the upscaled ``arr`` (uint8/uint16/float32, any layout ``upscale_array``
    takes) as consecutive strips of ``STRIP`` output rows, each already in ``arr``'s dtype.

    The per-pixel work runs where the backend runs: numpy on a CPU, torch on a GPU;
    partial alpha always takes the numpy path (the network still runs on the backend)."""
    be = as_backend(net)
    if be.scale != scale:
        raise ValueError(f"the model is x{be.scale}, but x{scale} was asked for")
    full = peak(arr.dtype)
    if arr.ndim == 3 and arr.shape[2] in (2, 4) and not np.all(arr[..., -1] == full):
        return _strips_alpha(be, arr, scale, tile, full)
    if be.device.type == "cpu":
        return _strips_numpy(be, arr, scale, tile, full)
    return _strips_torch(be, arr, scale, tile, full, be.device)


def _luma_bands(
    be: Backend, y255: np.ndarray, tile: int | None, residual: bool = False
) -> Iterator[np.ndarray]:
    """The network's luma (or its residual) on 0..255 (float32, unrounded), one tile row
    at a time."""
    y = (np.asarray(y255, dtype=np.float32) / 255.0).astype(np.float32)
    for _, _, band in iter_rows(be, y, pick_tile(be, tile), residual):
        band *= np.float32(255.0)
        yield band


def _strips_numpy(
    net: Backend, arr: np.ndarray, scale: int, tile: int | None, full: float
) -> Iterator[np.ndarray]:
    """Only ``arr`` and the LR luma stay whole; every other plane is made per strip from
    the LR rows it needs (per-row arithmetic, so the values are the whole image's)."""
    h, w = arr.shape[:2]
    a3 = arr if arr.ndim == 3 else arr[:, :, None]
    n = a3.shape[2]
    colors = 3 if n >= 3 else 1

    def lr(lo: int, hi: int, c0: int, c1: int) -> np.ndarray:
        return a3[lo:hi, :, c0:c1].astype(np.float32) * np.float32(255.0 / full)  # 0..255

    def chroma(lo: int, hi: int) -> np.ndarray:
        return rgb_to_ycbcr(lr(lo, hi, 0, 3))[..., 1:]

    def alpha(lo: int, hi: int) -> np.ndarray:
        return lr(lo, hi, colors, n).astype(np.float64)

    if colors == 3:
        luma = np.empty((h, w), dtype=np.float32)
        for r in range(0, h, STRIP):
            luma[r : r + STRIP] = rgb_to_ycbcr(lr(r, r + STRIP, 0, 3))[..., 0]
    else:
        luma = lr(0, h, 0, 1)[..., 0]
    row = 0
    for y in _rechunk(_luma_bands(net, luma, tile), STRIP):
        a, b = row, row + y.shape[0]
        row = b
        if colors == 3:
            c = _resize_rows(chroma, h, w, scale, a, b).astype(np.float32)
            up = np.empty(y.shape + (3,), dtype=np.float32)
            up[...] = ycbcr_to_rgb(np.concatenate([y[:, :, None], c], axis=2))
        else:
            up = y if arr.ndim == 2 else y[:, :, None]
        if n > colors:
            up = np.concatenate([up, _resize_rows(alpha, h, w, scale, a, b).astype(np.float32)], 2)
        yield _finish(up, full, arr.dtype)


def _nearest_visible(plane: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``plane`` with every pixel of alpha 0 replaced by the nearest pixel of alpha > 0
    (Euclidean; scipy's exact distance transform); unchanged without such pixels."""
    hidden = alpha == 0
    if not hidden.any() or hidden.all():
        return plane
    iy, ix = ndimage.distance_transform_edt(hidden, return_distances=False, return_indices=True)
    return plane[iy, ix]


def _strips_alpha(
    net: Backend, arr: np.ndarray, scale: int, tile: int | None, full: float
) -> Iterator[np.ndarray]:
    """Grey or RGB with partial alpha (``H x W x 2`` or ``x 4``), premultiplied.

    Colour = bicubic(colour x alpha) / bicubic(alpha) + the network's residual of the
    straight luma (fully transparent pixels filled by :func:`_nearest_visible`); where
    the upscaled alpha is under half a level (of 65535 for float32), colour 0. Alpha is
    clipped to its range also for float32 (the bicubic rings past it at sharp edges).
    """
    h, w = arr.shape[:2]
    colors = arr.shape[2] - 1
    unit = np.float32(255.0 / full)
    least = 0.5 * 255.0 / (65535.0 if full == 1.0 else full)  # half a level, on 0..255

    def premultiplied(lo: int, hi: int) -> np.ndarray:  # colour x alpha, alpha; 0..255
        x = arr[lo:hi].astype(np.float32) * unit
        x[..., :colors] *= x[..., colors:] / np.float32(255.0)
        return x.astype(np.float64)

    if colors == 3:
        luma = np.empty((h, w), dtype=np.float32)
        for r in range(0, h, STRIP):
            rgb = arr[r : r + STRIP, :, :3].astype(np.float32) * unit
            luma[r : r + STRIP] = rgb_to_ycbcr(rgb)[..., 0]
    else:
        luma = arr[..., 0].astype(np.float32) * unit
    luma = _nearest_visible(luma, arr[..., colors])
    row = 0
    for detail in _rechunk(_luma_bands(net, luma, tile, residual=True), STRIP):
        a, b = row, row + detail.shape[0]
        row = b
        up = _resize_rows(premultiplied, h, w, scale, a, b)
        alpha = up[..., colors]
        seen = alpha >= least
        inv = np.divide(255.0, alpha, out=np.zeros_like(alpha), where=seen)
        color = up[..., :colors] * inv[..., None]
        color += detail[..., None] * (LUMA_TO_RGB if colors == 3 else 1.0)
        color[~seen] = 0.0
        alpha = np.clip(alpha, 0.0, 255.0)[..., None]  # float32 out too: no alpha past 0..1
        yield _finish(np.concatenate([color, alpha], axis=2), full, arr.dtype)


# ----------------------------------------------------------------- on the accelerator


def _resize_rows_torch(lr: torch.Tensor, scale: int, a: int, b: int) -> torch.Tensor:
    """Rows ``[a, b)`` of the MATLAB bicubic of ``C x H x W`` ``lr``, on its device."""
    h, w = lr.shape[-2:]
    out = lr
    for dim, n, lo, hi in ((1, h, a, b), (2, w, 0, w * scale)):
        idx, wt = contributions(n, n * scale, float(scale))
        out = resize_pass_torch(out, dim, idx[lo:hi], wt[lo:hi])
    return out


def _strips_torch(
    net: Backend,
    arr: np.ndarray,
    scale: int,
    tile: int | None,
    full: float,
    device: torch.device,
) -> Iterator[np.ndarray]:
    """The same steps in torch float32 where the model runs; only integers come back."""
    a3 = arr if arr.ndim == 3 else arr[:, :, None]
    is_float = arr.dtype == np.float32
    ints = a3 if a3.dtype in (np.uint8, np.float32) else a3.astype(np.int32)  # no uint16 ops
    src = torch.from_numpy(np.ascontiguousarray(ints)).to(device)  # integers travel
    x = src.permute(2, 0, 1).float() * (255.0 / full)  # C x H x W on 0..255
    n = x.shape[0]
    color, alpha = (x[:3], x[3:]) if n >= 3 else (x[:1], x[1:])
    chroma = None
    if color.shape[0] == 3:
        ycc = rgb_to_ycbcr_torch(color)
        luma, chroma = ycc[0], ycc[1:].contiguous()
    else:
        luma = color[0]
    alpha = alpha.contiguous() if alpha.shape[0] else None
    luma_np = luma.cpu().numpy()
    del src, x, color, luma
    out_dtype = {np.uint8: torch.uint8, np.float32: torch.float32}.get(arr.dtype.type, torch.int32)
    row = 0
    for y in _rechunk(_luma_bands(net, luma_np, tile), STRIP):
        a, b = row, row + y.shape[0]
        row = b
        yt = torch.from_numpy(y).to(device)[None]
        if chroma is not None:
            up = ycbcr_to_rgb_torch(torch.cat([yt, _resize_rows_torch(chroma, scale, a, b)]))
        else:
            up = yt
        if alpha is not None:
            up = torch.cat([up, _resize_rows_torch(alpha, scale, a, b)])
        if full != 255.0:
            up = up * (full / 255.0)
        if not is_float:
            up = torch.floor(up + 0.5).clamp_(0, full).to(out_dtype)
        strip = up.permute(1, 2, 0).contiguous().cpu().numpy()
        strip = strip.astype(arr.dtype, copy=False)
        yield strip[..., 0] if arr.ndim == 2 else strip


def assemble_array(
    net: Backend | DSRN, arr: np.ndarray, scale: int, tile: int | None = None
) -> np.ndarray:
    """The whole upscaled array, filled strip by strip (the array API's path)."""
    h, w = arr.shape[:2]
    out = np.empty((h * scale, w * scale) + arr.shape[2:], dtype=arr.dtype)
    row = 0
    for strip in iter_strips(net, arr, scale, tile):
        out[row : row + strip.shape[0]] = strip
        row += strip.shape[0]
    return out
