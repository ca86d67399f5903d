"""Assemble the upscaled image strip by strip, directly in its final dtype.

The network's luma arrives one tile row at a time (``tiling.iter_rows``); chroma and
alpha get MATLAB bicubic for just the rows of each strip (a strip's taps reach a few LR
rows beyond it, which stay in memory as the LR planes), then YCbCr -> RGB, the single
rounding and clip. So no full-size float plane ever exists: memory is the LR planes, one
tile row of luma, one strip of temporaries and the uint8/uint16 result.

On the CPU the numbers are the numpy float64 pipeline's, element for element (strips of
``STRIP`` rows at the same boundaries as the whole-image code had); on an accelerator the
same steps run in torch float32 on the device (within one grey level), and only the final
integers travel back.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import torch

from .backends import Backend, as_backend
from .color import rgb_to_ycbcr, rgb_to_ycbcr_torch, ycbcr_to_rgb, ycbcr_to_rgb_torch
from .model import DSRN
from .resize import contributions
from .tiling import iter_rows

STRIP = 256  # output rows per strip (bounds the float temporaries to STRIP full rows)


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


def _resize_rows(lr: np.ndarray, scale: int, a: int, b: int) -> np.ndarray:
    """Rows ``[a, b)`` of ``resize.imresize(lr, scale=scale)`` for float64 ``H x W x C``.

    The same taps, weights and summation order as the whole-image resize (rows first,
    then columns), so every value is bit-identical to it.
    """
    h, w = lr.shape[:2]
    idx, wt = contributions(h, h * scale, float(scale))
    idx, wt = idx[a:b], wt[a:b]
    acc = np.zeros((b - a,) + lr.shape[1:], dtype=np.float64)
    for k in range(idx.shape[1]):
        acc += wt[:, k, None, None] * lr[idx[:, k]]
    idx, wt = contributions(w, w * scale, float(scale))
    src = np.moveaxis(acc, 1, 0)
    out = np.zeros((w * scale,) + src.shape[1:], dtype=np.float64)
    for k in range(idx.shape[1]):
        out += wt[:, k, None, None] * src[idx[:, k]]
    return np.moveaxis(out, 0, 1)


def _finish(x: np.ndarray, peak: float, dtype: np.dtype) -> np.ndarray:
    """The single rounding (half up, as MATLAB) and clip of the pipeline, in place."""
    x = np.asarray(x, dtype=np.float32)
    if peak != 255.0:
        x *= np.float32(peak / 255.0)
    x += np.float32(0.5)
    np.floor(x, out=x)
    np.clip(x, 0, peak, out=x)
    return x.astype(dtype)


def _split(x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Colour (``H x W`` luma or ``H x W x 3``) and alpha (``H x W x 1``, or None)."""
    if x.ndim == 2:
        return x, None
    color, alpha = (x[..., :3], x[..., 3:]) if x.shape[2] >= 3 else (x[..., :1], x[..., 1:])
    if color.shape[2] == 1:
        color = color[..., 0]
    return color, (alpha if alpha.shape[2] else None)


def iter_strips(
    net: Backend | DSRN, arr: np.ndarray, scale: int, tile: int | None = None
) -> Iterator[np.ndarray]:
    """Yield the upscaled ``arr`` (uint8/uint16, any layout ``upscale_array`` takes) as
    consecutive strips of ``STRIP`` output rows, each already in ``arr``'s dtype.

    The per-pixel work runs where the backend runs: numpy on a CPU, torch on a GPU."""
    be = as_backend(net)
    if be.scale != scale:
        raise ValueError(f"the model is x{be.scale}, but x{scale} was asked for")
    peak = 255.0 if arr.dtype == np.uint8 else 65535.0
    if be.device.type == "cpu":
        return _strips_numpy(be, arr, scale, tile, peak)
    return _strips_torch(be, arr, scale, tile, peak, be.device)


def _luma_bands(be: Backend, y255: np.ndarray, tile: int | None) -> Iterator[np.ndarray]:
    """The network's luma on 0..255 (float32, unrounded), one tile row at a time."""
    y = (np.asarray(y255, dtype=np.float32) / 255.0).astype(np.float32)
    for _, _, band in iter_rows(be, y, tile):
        band *= np.float32(255.0)
        yield band


def _strips_numpy(
    net: Backend, arr: np.ndarray, scale: int, tile: int | None, peak: float
) -> Iterator[np.ndarray]:
    x = arr.astype(np.float32) * np.float32(255.0 / peak)  # work on the 0..255 scale
    color, alpha = _split(x)
    squeeze = arr.ndim == 2
    chroma = None
    if color.ndim == 3:
        ycc = rgb_to_ycbcr(color)
        luma, chroma = ycc[..., 0].astype(np.float32), np.ascontiguousarray(ycc[..., 1:])
        del ycc
    else:
        luma = color
    alpha64 = None if alpha is None else alpha.astype(np.float64)
    del x, color, alpha
    row = 0
    for y in _rechunk(_luma_bands(net, luma, tile), STRIP):
        a, b = row, row + y.shape[0]
        row = b
        if chroma is not None:
            c = _resize_rows(chroma, scale, a, b).astype(np.float32)
            up = np.empty(y.shape + (3,), dtype=np.float32)
            up[...] = ycbcr_to_rgb(np.concatenate([y[:, :, None], c], axis=2))
        else:
            up = y if squeeze else y[:, :, None]
        if alpha64 is not None:
            up = np.concatenate([up, _resize_rows(alpha64, scale, a, b).astype(np.float32)], 2)
        yield _finish(up, peak, arr.dtype)


# ----------------------------------------------------------------- on the accelerator


def _resize_rows_torch(lr: torch.Tensor, scale: int, a: int, b: int) -> torch.Tensor:
    """Rows ``[a, b)`` of the MATLAB bicubic of ``C x H x W`` ``lr``, on its device."""
    h, w = lr.shape[-2:]
    out = lr
    for dim, n, lo, hi in ((1, h, a, b), (2, w, 0, w * scale)):
        idx, wt = contributions(n, n * scale, float(scale))
        idx_t = torch.as_tensor(idx[lo:hi], device=lr.device)
        wt_t = torch.as_tensor(wt[lo:hi], device=lr.device, dtype=lr.dtype)
        shape = [1, 1, 1]
        shape[dim] = hi - lo
        acc = None
        for k in range(idx.shape[1]):
            term = out.index_select(dim, idx_t[:, k]) * wt_t[:, k].reshape(shape)
            acc = term if acc is None else acc + term
        out = acc
    return out


def _strips_torch(
    net: Backend,
    arr: np.ndarray,
    scale: int,
    tile: int | None,
    peak: float,
    device: torch.device,
) -> Iterator[np.ndarray]:
    """The same steps in torch float32 where the model runs; only integers come back."""
    a3 = arr if arr.ndim == 3 else arr[:, :, None]
    src = torch.from_numpy(np.ascontiguousarray(a3).astype(np.float32)).to(device)
    x = src.permute(2, 0, 1) * (255.0 / peak)  # C x H x W on 0..255
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
    out_dtype = torch.uint8 if arr.dtype == np.uint8 else torch.int32
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
        if peak != 255.0:
            up = up * (peak / 255.0)
        up = torch.floor(up + 0.5).clamp_(0, peak).to(out_dtype)
        strip = up.permute(1, 2, 0).cpu().numpy()
        strip = strip.astype(arr.dtype, copy=False)
        yield strip[..., 0] if arr.ndim == 2 else strip


def assemble(
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
