"""Run DSRN on a luma plane in overlapping tiles, so memory stays flat for any image size.

Each tile is cut with a margin of ``backend.radius`` LR pixels on every side that lies
inside the image; only the tile's centre is kept. Every kept output pixel therefore sees
exactly the inputs it would see in a whole-image pass, and tiled == untiled up to float
rounding. Tiles are never padded (the network zero-pads each layer at the border).

:func:`iter_rows` yields the output one row of tiles at a time, so a caller can convert
and write each strip before the next is computed; :func:`upscale_luma` collects them.
Any :class:`~dsrn_cli.backends.Backend` runs the tiles; a plain :class:`DSRN` is run with
the ``auto`` backend on its own device.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from .backends import Backend, as_backend
from .model import DSRN

MIN_TILE = 16


def _is_oom(e: BaseException) -> bool:
    oom = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom is not None and isinstance(e, oom):
        return True
    return isinstance(e, RuntimeError | MemoryError) and "out of memory" in str(e).lower()


def _tile_row(backend: Backend, y: np.ndarray, top: int, bottom: int, tile: int) -> np.ndarray:
    """SR luma of LR rows ``top:bottom`` (``(bottom - top) * s x w * s`` float32)."""
    h, w = y.shape
    s, r = backend.scale, backend.radius
    rows = np.empty(((bottom - top) * s, w * s), dtype=np.float32)
    t0, b0 = max(top - r, 0), min(bottom + r, h)
    dy = (top - t0) * s
    for left in range(0, w, tile):
        right = min(left + tile, w)
        l0, r0 = max(left - r, 0), min(right + r, w)
        sr = backend.sr(y[t0:b0, l0:r0])
        dx = (left - l0) * s
        rows[:, left * s : right * s] = sr[dy : dy + (bottom - top) * s,
                                           dx : dx + (right - left) * s]  # fmt: skip
    return rows


def iter_rows(
    backend: Backend | DSRN, y: np.ndarray, tile: int | None = None
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(row0, row1, sr_rows)``: HR rows ``row0:row1`` of the SR luma of ``y``.

    ``y`` is ``H x W`` float32 in [0, 1]; strips come top to bottom and cover the output
    once. ``tile`` (LR pixels; default: the backend's) is halved on out-of-memory and the
    strip recomputed, down to ``MIN_TILE``.
    """
    be = as_backend(backend)
    tile = max(1, int(tile or be.default_tile))
    h = y.shape[0]
    s = be.scale
    top = 0
    while top < h:
        bottom = min(top + tile, h)
        try:
            rows = _tile_row(be, y, top, bottom, tile)
        except (RuntimeError, MemoryError) as e:
            if not _is_oom(e) or tile <= MIN_TILE:
                raise
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            tile = max(MIN_TILE, tile // 2)
            continue
        yield top * s, bottom * s, rows
        top = bottom


def upscale_luma(
    backend: Backend | DSRN,
    y: np.ndarray,
    tile: int | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Upscale ``y`` (H x W float32 in [0, 1]) into ``out`` (sH x sW float32), tile by tile."""
    be = as_backend(backend)
    s = be.scale
    if out is None:
        out = np.empty((y.shape[0] * s, y.shape[1] * s), dtype=np.float32)
    for r0, r1, rows in iter_rows(be, y, tile):
        out[r0:r1] = rows
    return out
