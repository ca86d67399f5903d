"""Run DSRN on a luma plane in overlapping tiles, so memory stays flat for any image size.

Each tile is cut with a margin of ``receptive_radius`` LR pixels on every side that lies
inside the image; only the tile's centre is kept. Every kept output pixel therefore sees
exactly the inputs it would see in a whole-image pass, and tiled == untiled up to float
rounding. The output is preallocated once, so peak memory is one tile's activations
plus the output plane.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from .model import DSRN, receptive_radius

MIN_TILE = 16


def default_tile(device: torch.device | str) -> int:
    """LR tile side: small on CPU (cache friendly, low RSS), larger on accelerators."""
    kind = torch.device(device).type
    return 512 if kind == "cuda" else 384 if kind == "mps" else 256


def _is_oom(e: BaseException) -> bool:
    oom = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom is not None and isinstance(e, oom):
        return True
    return isinstance(e, RuntimeError) and "out of memory" in str(e).lower()


def _run(model: DSRN, patch: np.ndarray, device: torch.device | str) -> np.ndarray:
    x = torch.from_numpy(np.ascontiguousarray(patch, dtype=np.float32))[None, None].to(device)
    with torch.no_grad():
        y = model(x)
    return y[0, 0].float().cpu().numpy()


def upscale_luma_tiled(
    model: DSRN,
    y: np.ndarray,
    scale: int,
    tile: int,
    device: torch.device | str,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Upscale ``y`` (H x W float32 in [0, 1]) tile by tile into ``out`` (sH x sW float32)."""
    h, w = y.shape
    s = scale
    if out is None:
        out = np.empty((h * s, w * s), dtype=np.float32)
    tile = max(1, int(tile))
    for top in range(0, h, tile):
        bottom = min(top + tile, h)
        _band(model, y, top, bottom, s, tile, device, out[top * s : bottom * s])
    return out


def _band(
    model: DSRN,
    y: np.ndarray,
    top: int,
    bottom: int,
    s: int,
    tile: int,
    device: torch.device | str,
    out: np.ndarray,
) -> np.ndarray:
    """Output rows ``[top * s, bottom * s)`` of ``y``, tile by tile, into ``out``."""
    h, w = y.shape
    r = receptive_radius(model.cfg)
    t0, b0 = max(top - r, 0), min(bottom + r, h)
    for left in range(0, w, tile):
        right = min(left + tile, w)
        l0, r0 = max(left - r, 0), min(right + r, w)
        res = _run(model, y[t0:b0, l0:r0], device)
        dy, dx = (top - t0) * s, (left - l0) * s
        out[:, left * s : right * s] = res[
            dy : dy + (bottom - top) * s, dx : dx + (right - left) * s
        ]
    return out


def iter_luma_rows(
    model: DSRN,
    y: np.ndarray,
    scale: int,
    device: torch.device | str,
    tile: int | None = None,
) -> Iterator[np.ndarray]:
    """Yield the upscaled ``y`` one tile row at a time, top to bottom, full width.

    Streaming consumers hold one row band (``tile * scale`` HR rows), never the whole
    plane. On CUDA OOM the tile is halved and the same band redone, so nothing is yielded
    twice.
    """
    tile = max(1, int(tile or default_tile(device)))
    h, w = y.shape
    top = 0
    while top < h:
        bottom = min(top + tile, h)
        band = np.empty(((bottom - top) * scale, w * scale), dtype=np.float32)
        try:
            _band(model, y, top, bottom, scale, tile, device, band)
        except (RuntimeError, MemoryError) as e:
            if not _is_oom(e) or tile <= MIN_TILE:
                raise
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            tile = max(MIN_TILE, tile // 2)
            continue
        yield band
        top = bottom


def upscale_luma(
    model: DSRN,
    y: np.ndarray,
    scale: int,
    device: torch.device | str,
    tile: int | None = None,
) -> np.ndarray:
    """Whole image when it fits in one tile, tiles otherwise; halve the tile on CUDA OOM."""
    out = np.empty((y.shape[0] * scale, y.shape[1] * scale), dtype=np.float32)
    row = 0
    for band in iter_luma_rows(model, y, scale, device, tile):
        out[row : row + band.shape[0]] = band
        row += band.shape[0]
    return out
