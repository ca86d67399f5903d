"""Self-ensemble: upscale the eight flips/rotations of an image and average them back.

SR networks are not exactly equivariant to flips and 90-degree rotations, so averaging
the eight dihedral views cancels part of their error (typically +0.1-0.2 dB) for 8x the
work. It wraps any function from an LR luma plane to its HR plane (whole image, tiled,
any backend), so it knows nothing about models, and it averages before any rounding.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .backend import Backend

# (quarter turns counter-clockwise, then flip left-right): the eight symmetries of a square.
VIEWS: tuple[tuple[int, bool], ...] = tuple((k, f) for f in (False, True) for k in range(4))


def forward(x: np.ndarray, k: int, flip: bool) -> np.ndarray:
    """View ``(k, flip)`` of a 2-D plane."""
    x = np.rot90(x, k)
    return np.fliplr(x) if flip else x


def backward(x: np.ndarray, k: int, flip: bool) -> np.ndarray:
    """Undo :func:`forward` (on the upscaled plane: the symmetries commute with scaling)."""
    if flip:
        x = np.fliplr(x)
    return np.rot90(x, -k)


def self_ensemble(fn: Callable[[np.ndarray], np.ndarray], y: np.ndarray) -> np.ndarray:
    """The mean of ``backward(fn(forward(y)))`` over the eight views, as float32.

    ``fn`` maps an H x W plane to its sH x sW plane; it is called eight times on
    contiguous copies (rotated views swap H and W). Only one extra output plane is held.
    """
    acc: np.ndarray | None = None
    for k, flip in VIEWS:
        out = backward(np.asarray(fn(np.ascontiguousarray(forward(y, k, flip)))), k, flip)
        if acc is None:
            acc = out.astype(np.float32, copy=True)
        else:
            acc += out
    assert acc is not None
    acc /= np.float32(len(VIEWS))
    return acc


class _Ensemble(Backend):
    """A backend that runs its inner one on the eight flips/rotations of every tile and
    averages them (8x the time). Per tile is the same as per image: each tile carries
    its receptive-field margin, and flips/rotations map margins onto margins."""

    def __init__(self, inner: Backend) -> None:
        super().__init__(inner.cfg)
        self.inner = inner
        self.device, self.default_tile = inner.device, inner.default_tile
        self.name, self.precision = f"{inner.name} ensemble", inner.precision

    def residual(self, lr: np.ndarray) -> np.ndarray:
        return self_ensemble(self.inner.residual, lr)

    def sr(self, lr: np.ndarray) -> np.ndarray:
        return self_ensemble(self.inner.sr, lr)


def with_ensemble(backend: Backend, ensemble: bool = True) -> Backend:
    """``backend`` itself, or one averaging the eight dihedral views of every tile."""
    return _Ensemble(backend) if ensemble else backend
