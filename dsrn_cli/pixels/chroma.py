"""A video's chroma planes upscaled by MATLAB bicubic on their own sampling grid.

4:2:0/4:2:2 chroma of MPEG-family codecs is co-sited with the even luma columns
("left", what FFmpeg and players assume when unsigned): the horizontal upscale samples
at those positions, so colour stays on its edges. Centre-sited chroma (JPEG range,
MJPEG) takes MATLAB's own centred grid. Kernel, mirror boundary and normalisation are
:mod:`dsrn_cli.pixels.resize`'s; only the sample positions differ.
"""

from __future__ import annotations

import numpy as np

from ..files.picture import round_half_up
from .resize import contributions, cubic, mirror


def _chroma_taps(n: int, out: int, scale: int, cosited: bool) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB bicubic taps from ``n`` chroma samples to ``out``. ``cosited``: the chroma
    samples sit on even luma samples (``u = (x - 1) / s + 1``, 1-based) instead of at
    the centre of their pairs (MATLAB's ``u = x / s + (1 - 1 / s) / 2``): the same cubic
    kernel, mirror boundary and normalisation on a grid shifted by ``(1 - 1 / s) / 2``."""
    idx, wt = contributions(n, out, float(scale))
    if not cosited:
        return idx, wt
    x = np.arange(1, out + 1, dtype=np.float64)
    u = (x - 1) / scale + 1
    left = np.floor(u - 2)
    taps = left[:, None] + np.arange(6)[None, :]
    w = cubic(u[:, None] - taps)
    w /= w.sum(axis=1, keepdims=True)
    return mirror((taps - 1).astype(np.int64), n), w


def upscale_chroma(
    c: np.ndarray, scale: int, size: tuple[int, int], cosited: tuple[bool, bool], peak: int
) -> np.ndarray:
    """One ``h x w`` chroma plane (uint8/uint16 codes, ``0..peak``) -> ``size`` (rows,
    columns), MATLAB bicubic x``scale`` (rows first, float64, one half-up rounding and
    clip to ``0..peak`` at the end, as the still pipeline's chroma), in ``c``'s dtype.
    ``cosited`` per axis (rows, columns): see :func:`_chroma_taps`. ``size`` may be a
    row/column smaller than ``scale`` times the plane (odd luma sizes round the chroma
    size up)."""
    out = np.asarray(c, dtype=np.float64)
    for axis, (n_out, co) in enumerate(zip(size, cosited, strict=True)):
        n = out.shape[axis]
        idx, wt = _chroma_taps(n, n * scale, scale, co)
        idx, wt = idx[:n_out], wt[:n_out]
        src = np.moveaxis(out, axis, 0)
        acc = np.zeros((n_out,) + src.shape[1:], dtype=np.float64)
        for k in range(idx.shape[1]):
            acc += wt[:, k, None] * src[idx[:, k]]
        out = np.moveaxis(acc, 0, axis)
    return round_half_up(out, 0, peak).astype(c.dtype)
