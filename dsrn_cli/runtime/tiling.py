"""Run DSRN on a luma plane in overlapping tiles, so memory stays flat for any image size.

Each axis is split into equal spans of at most ``tile`` LR pixels (:func:`spans`); a span
is computed from a window that reaches ``backend.radius`` LR pixels past it on each side,
and only the span is kept. Every kept output pixel therefore sees exactly the inputs it
would see in a whole-image pass, and tiled == untiled up to float rounding.

At the image border the window reaches past the image: those pixels are the image
mirrored at its border (:data:`PAD`, numpy's ``symmetric``: ``x[-1] = x[0]``,
``x[-2] = x[1]``, the boundary rule of MATLAB's ``imresize``, so the bicubic base is
unchanged). Without it the network's own zero padding at the border invents texture
(a one-colour 3x3 image came out with 14 grey levels of it); with it a flat
image stays flat. The protocol's PSNR (borders shaved) does not move; the unshaved
whole-image PSNR is in docs/performance.md. Images smaller than a tile cost
``(n + 2 radius)^2 / n^2`` the network work of an unpadded pass.

All windows of an image have one shape (``span + 2 radius``), so the runtimes allocate
their buffers once per image rather than at each new shape (OpenVINO re-faults ~1 GB of
activations whenever a tile grows), and no thin leftover tile pays a full overlap.

:func:`iter_rows` yields the output one row of tiles at a time, so a caller can convert
and write each strip before the next is computed; :func:`upscale_luma` collects them.
Any :class:`~dsrn_cli.runtime.backend.Backend` runs the tiles; a plain :class:`DSRN` is run
with the ``auto`` backend on its own device.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from ..model.network import DSRN
from .backend import Backend
from .selection import as_backend

MIN_TILE = 16
PAD = "symmetric"  # np.pad mode of the context past the image border ("edge", "reflect")


def _is_oom(e: BaseException) -> bool:
    oom = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom is not None and isinstance(e, oom):
        return True
    return isinstance(e, RuntimeError | MemoryError) and "out of memory" in str(e).lower()


def spans(n: int, tile: int, radius: int, start: int = 0) -> list[tuple[int, int, int, int]]:
    """Split ``range(start, n)`` into kept spans ``[a, b)`` of (nearly) equal length <=
    ``tile``, each with the window ``[lo, hi)`` to compute it from: ``[a - radius, a + size
    + radius)``, the same length for every span. ``lo`` may be negative and ``hi`` past
    ``n``: :func:`window` fills those pixels by mirroring."""
    count = -(-(n - start) // max(1, tile))
    size = -(-(n - start) // count)
    return [(a, min(a + size, n), a - radius, a + size + radius) for a in range(start, n, size)]


def _index(lo: int, hi: int, n: int) -> np.ndarray | slice:
    """Indices ``lo..hi-1`` of an axis of length ``n``, mapped into it by :data:`PAD`."""
    if 0 <= lo and hi <= n:
        return slice(lo, hi)
    i = np.arange(lo, hi)
    if PAD == "edge" or n == 1:
        return np.clip(i, 0, n - 1)
    if PAD == "reflect":  # x[-1] = x[1]: period 2n - 2
        i = np.mod(i, 2 * n - 2)
        return np.where(i < n, i, 2 * n - 2 - i)
    i = np.mod(i, 2 * n)  # symmetric: period 2n, the second half reversed
    return np.where(i < n, i, 2 * n - 1 - i)


def window(y: np.ndarray, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
    """``y[r0:r1, c0:c1]`` of ``y`` padded without end by :data:`PAD` (a view inside)."""
    ri, ci = _index(*rows, y.shape[0]), _index(*cols, y.shape[1])
    every = slice(None)
    y = y[ri if isinstance(ri, slice) else every, ci if isinstance(ci, slice) else every]
    if not isinstance(ri, slice):
        y = y[ri]
    if not isinstance(ci, slice):
        y = y[:, ci]
    return y


def _tile_row(
    backend: Backend, y: np.ndarray, row: tuple[int, int, int, int], tile: int, residual: bool
) -> np.ndarray:
    """SR luma (or only the residual) of the kept LR rows ``row[0]:row[1]``
    (``(b - a) * s x w * s`` float32)."""
    run = backend.residual if residual else backend.sr
    s = backend.scale
    top, bottom, t0, b0 = row
    rows = np.empty(((bottom - top) * s, y.shape[1] * s), dtype=np.float32)
    dy = (top - t0) * s
    for left, right, l0, r0 in spans(y.shape[1], tile, backend.radius):
        sr = run(window(y, (t0, b0), (l0, r0)))
        dx = (left - l0) * s
        rows[:, left * s : right * s] = sr[dy : dy + (bottom - top) * s,
                                           dx : dx + (right - left) * s]  # fmt: skip
    return rows


def iter_rows(
    backend: Backend | DSRN, y: np.ndarray, tile: int | None = None, residual: bool = False
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(row0, row1, sr_rows)``: HR rows ``row0:row1`` of the SR luma of ``y``
    (``residual``: of the network's residual only, without the bicubic base).

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
            band = _tile_row(be, y, rows[i], tile, residual)
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
