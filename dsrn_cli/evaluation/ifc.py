"""IFC, the information fidelity criterion (Sheikh, Bovik, de Veciana, IEEE TIP 2005).

The third metric of SR papers' tables, computed as the authors' MATLAB ``ifcvec`` does
(the SelfExSR benchmark's numbers are matched image by image): an order-5 steerable
pyramid of height 4 with ``reflect1`` edges (pyrtools' ``SteerablePyramidSpace`` is
MATLAB's ``buildSpyr`` with ``sp5Filters``; only the eight subbands used are built), the
0 and 90 degree band of each level, a 3x3 vector GSM for the reference and a
gain-plus-noise channel for the distortion, summed over subbands, blocks and eigenvalues
and divided by the pixel count. Only the statistics are written here, vectorised.
"""

from __future__ import annotations

import numpy as np

M = 3  # side of the GSM vector neighbourhood and of the channel-estimation blocks
HEIGHT = 4  # pyramid levels
BANDS = (0, 3)  # orientations used at each level: 0 and 90 degrees (MATLAB's 1 and 4)
EPS_VAR = 1e-15  # variances below this count as zero
SIGMA_NSQ = 1e-10  # added to the channel noise in the score
MIN_SIDE = 72  # 4 levels of the 9x9 low-pass: the coarsest level keeps >= 9 px (MATLAB maxPyrHt)


def _block_sums(maps: np.ndarray, half: int, first: int, count: tuple[int, int]) -> np.ndarray:
    """Sums of each of ``maps`` (k, H, W) over (2*half+1)^2 windows on the kept blocks.

    Block ``i`` is centred on row/column ``1 + M*i`` (0-based); the kept blocks
    ``first .. first+count`` never reach past the subband (``M*first >= half``), so
    MATLAB's ``reflect1`` padding is never read and running sums suffice.
    """
    r = 1 + M * (first + np.arange(count[0]))
    c = 1 + M * (first + np.arange(count[1]))
    rows = maps.cumsum(1)
    rows = rows[:, r + half] - rows[:, r - half - 1]
    cols = rows.cumsum(2)
    return cols[:, :, c + half] - cols[:, :, c - half - 1]


def _channel(x: np.ndarray, y: np.ndarray, win: int, first: int,
             count: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Gain ``g`` and noise variance of ``y = g x + v`` per kept block (win x win window)."""
    n = win * win
    sx, sy, sxy, sxx, syy = _block_sums(np.stack([x, y, x * y, x * x, y * y]),
                                        (win - 1) // 2, first, count)
    mx, my = sx / n, sy / n
    cov = sxy - n * mx * my
    var_x = np.maximum(sxx - n * mx * mx, 0.0)
    var_y = np.maximum(syy - n * my * my, 0.0)
    g = cov / (var_x + EPS_VAR)
    vv = (var_y - g * cov) / n
    low_x = var_x < EPS_VAR
    g[low_x], vv[low_x] = 0.0, var_y[low_x]
    low_y = var_y < EPS_VAR
    g[low_y], vv[low_y] = 0.0, 0.0
    neg = g < 0
    vv[neg], g[neg] = var_y[neg], 0.0
    vv[vv <= EPS_VAR] = EPS_VAR
    return g, vv


def _gsm(x: np.ndarray, first: int, count: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The reference's GSM multiplier s^2 per kept block and the eigenvalues of C_U."""
    # All overlapping MxM neighbourhoods as rows of M*M shifted copies, column by column
    # (MATLAB's order); C_U is their covariance.
    h, w = x.shape[0] - M + 1, x.shape[1] - M + 1
    nb = np.stack([x[r:r + h, c:c + w].ravel() for c in range(M) for r in range(M)])
    nb -= nb.mean(1, keepdims=True)
    cu = nb @ nb.T / nb.shape[1]
    a, b = x.shape[0] // M, x.shape[1] // M
    u = x.reshape(a, M, b, M).transpose(0, 2, 3, 1).reshape(a, b, M * M)
    u = u[first:first + count[0], first:first + count[1]]
    try:
        inv = np.linalg.inv(cu)
    except np.linalg.LinAlgError:  # a flat subband: no information, s^2 = 0
        inv = np.linalg.pinv(cu)
    ss = ((u @ inv) * u).sum(-1) / (M * M)
    return ss, np.linalg.eigvalsh(cu)


def _ifc_subband(x: np.ndarray, y: np.ndarray, level: int) -> float:
    """Sum of the IFC terms of one subband; ``level`` 0 is the finest of the pyramid."""
    win = 2 ** (HEIGHT - level) + 1  # MATLAB: 2^lev + 1 with lev 1 the coarsest
    a, b = x.shape[0] // M, x.shape[1] // M
    x, y = x[: a * M, : b * M], y[: a * M, : b * M]
    first = -(-((win - 1) // 2) // M)  # ceil(half / M) border blocks dropped on each side
    count = (a - 2 * first, b - 2 * first)
    if min(count) <= 0:
        return 0.0
    g, vv = _channel(x, y, win, first, count)
    ss, lam = _gsm(x, first, count)
    snr = (g * g * ss / (vv + SIGMA_NSQ))[..., None] * lam
    return float(np.log2(1.0 + snr).sum())


def subbands(img: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
    """The eight subbands IFC reads, keyed (level, orientation) as pyrtools keys them.

    The same coefficients as ``SteerablePyramidSpace(img, height=4, order=5,
    edge_type='reflect1')`` (pyrtools' own filters and C correlation), without the four
    unused orientations per level and the high-pass residual: about a third of the
    work (``scripts/bench_metrics.py`` times both).
    """
    from pyrtools.pyramids.c.wrapper import corrDn
    from pyrtools.pyramids.filters import parse_filter

    f = parse_filter("sp5_filters", normalize=False)
    side = int(round(np.sqrt(f["bfilts"].shape[0])))
    lo = corrDn(img, f["lo0filt"], edge_type="reflect1")
    out = {}
    for level in range(HEIGHT):
        for b in BANDS:
            band = f["bfilts"][:, b].reshape(side, side).T  # MATLAB's column-major reshape
            out[level, b] = corrDn(lo, band, edge_type="reflect1")
        if level < HEIGHT - 1:
            lo = corrDn(lo, f["lofilt"], edge_type="reflect1", step=(2, 2))
    return out


def ifc(ref_y: np.ndarray, dist_y: np.ndarray, shave: int = 0) -> float:
    """IFC of ``dist_y`` against the reference ``ref_y`` (the order matters): luma on
    0..255, ``shave`` pixels cut from each border first (0: already shaved).

    Higher is better; 0 when nothing of the reference survives. The sum over subbands
    is divided by the pixel count, as the SR benchmarks report it.
    """
    ref = np.asarray(ref_y, dtype=np.float64)
    dist = np.asarray(dist_y, dtype=np.float64)
    if ref.shape != dist.shape or ref.ndim != 2:
        raise ValueError(f"ifc needs two 2-D images of one size, got {ref.shape} and {dist.shape}")
    if shave > 0:
        ref, dist = ref[shave:-shave, shave:-shave], dist[shave:-shave, shave:-shave]
    if min(ref.shape) < MIN_SIDE:
        raise ValueError(f"ifc needs at least {MIN_SIDE} px a side, got {ref.shape[1]}x"
                         f"{ref.shape[0]}")
    px, py = subbands(ref), subbands(dist)
    return sum(_ifc_subband(px[k], py[k], k[0]) for k in px) / ref.size
