"""Run DSRN on a luma plane in overlapping tiles, so memory stays flat for any image size.

Each axis is split into equal spans of at most ``tile`` LR pixels (:func:`spans`); a span
is computed from a window that reaches ``backend.radius`` LR pixels past it on each side,
or to the image border, and only the span is kept. Every kept output pixel therefore sees
exactly the inputs it would see in a whole-image pass, and tiled == untiled up to float
rounding. Tiles are never padded (the network zero-pads each layer at the border).

All windows of an image have one shape: an edge span's window reaches further inwards
instead of being narrower. The extra work is a few percent, and in exchange the runtimes
allocate their buffers once per image rather than at each new shape (OpenVINO re-faults
~1 GB of activations whenever a tile grows), and no thin leftover tile pays a full overlap.

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


def spans(n: int, tile: int, radius: int, start: int = 0) -> list[tuple[int, int, int, int]]:
    """Split ``range(start, n)`` into kept spans ``[a, b)`` of (nearly) equal length <=
    ``tile``, each with the window ``[lo, hi)`` of ``range(n)`` to compute it from: the
    same length for every span, reaching ``radius`` past the span on each side or to the
    border."""
    count = -(-(n - start) // max(1, tile))
    size = -(-(n - start) // count)
    window = min(size + 2 * radius, n)
    out = []
    for a in range(start, n, size):
        lo = min(max(a - radius, 0), n - window)
        out.append((a, min(a + size, n), lo, lo + window))
    return out


def _tile_row(
    backend: Backend, y: np.ndarray, row: tuple[int, int, int, int], tile: int
) -> np.ndarray:
    """SR luma of the kept LR rows ``row[0]:row[1]`` (``(b - a) * s x w * s`` float32)."""
    s = backend.scale
    top, bottom, t0, b0 = row
    rows = np.empty(((bottom - top) * s, y.shape[1] * s), dtype=np.float32)
    dy = (top - t0) * s
    for left, right, l0, r0 in spans(y.shape[1], tile, backend.radius):
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
    h, s, r = y.shape[0], be.scale, be.radius
    rows, i = spans(h, tile, r), 0
    while i < len(rows):
        try:
            band = _tile_row(be, y, rows[i], tile)
        except (RuntimeError, MemoryError) as e:
            if not _is_oom(e) or tile <= MIN_TILE:
                raise
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            tile = max(MIN_TILE, tile // 2)
            rows, i = spans(h, tile, r, start=rows[i][0]), 0  # the rest, in smaller tiles
            continue
        yield rows[i][0] * s, rows[i][1] * s, band
        i += 1


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
