"""Time the assembly around the network (chroma/alpha resize, colour conversion,
rounding) with a network that costs nothing: a backend whose residual is zero.

    python scripts/bench_assemble.py --size 1000x750 --scale 2 [--alpha] [--check FILE]
    python scripts/bench_assemble.py --rows --size 1000x375 --scale 4 --repeat 5

Prints the seconds of ``assemble_array`` (best of ``--repeat``); ``--check`` writes the
output (.npy) or, when the file exists, compares against it (max |diff|), so two trees
can be compared on the same input with PYTHONPATH pointing at each. ``--rows``: the
chroma resize alone (``_resize_rows``, 2 channels, 64-row strips, then the float32 cast),
the column pass by slices against the former gather, interleaved in one process, with
the median ratio and a bit-for-bit check.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from dsrn_cli.model.config import DSRNConfig
from dsrn_cli.runtime import strips as asm
from dsrn_cli.runtime.backend import Backend
from dsrn_cli.runtime.strips import assemble_array


class ZeroResidual(Backend):
    """SR luma = the MATLAB bicubic base; no network."""

    name = "zero"

    def residual(self, lr: np.ndarray) -> np.ndarray:
        s = self.scale
        return np.zeros((lr.shape[0] * s, lr.shape[1] * s), dtype=np.float32)


def rows_ab(w: int, h: int, scale: int, repeat: int) -> None:
    """The chroma resize with the gather column pass (before) and the sliced one (now)."""
    sliced = asm._resize_columns

    def gather(rows, a: int, b: int) -> np.ndarray:
        """The same row pass, with the per-tap gather as its column pass."""
        asm._resize_columns = asm._resize_columns_gather
        try:
            return asm._resize_rows(rows, h, w, scale, a, b)
        finally:
            asm._resize_columns = sliced

    lr = np.random.default_rng(0).random((h, w, 2))
    rows = lambda lo, hi: lr[lo:hi]  # noqa: E731
    old, new = [], []
    for _ in range(repeat):
        t_old = t_new = 0.0
        for a in range(0, h * scale, asm.STRIP):
            b = min(a + asm.STRIP, h * scale)
            t = time.perf_counter()
            x = gather(rows, a, b).astype(np.float32)
            t_old += time.perf_counter() - t
            t = time.perf_counter()
            y = asm._resize_rows(rows, h, w, scale, a, b).astype(np.float32)
            t_new += time.perf_counter() - t
            assert np.array_equal(x, y), "not bit-identical"
        old.append(t_old)
        new.append(t_new)
    print(f"_resize_rows {w}x{h} x{scale}: gather {np.median(old):.2f} s, slices "
          f"{np.median(new):.2f} s, ratio {np.median(old) / np.median(new):.2f} (median of "
          f"{repeat}), identical")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1000x750", help="LR WIDTHxHEIGHT")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--alpha", action="store_true", help="RGBA with partial alpha")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--check", type=Path)
    ap.add_argument("--rows", action="store_true", help="the chroma resize alone, A/B")
    args = ap.parse_args()
    w, h = map(int, args.size.split("x"))
    if args.rows:
        rows_ab(w, h, args.scale, args.repeat)
        return
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (h, w, 4 if args.alpha else 3), dtype=np.uint8)
    be = ZeroResidual(DSRNConfig(scale=args.scale, c_lr=8, c_hr=8, c_first=8, steps=1))
    best = float("inf")
    for _ in range(args.repeat):
        t = time.perf_counter()
        out = assemble_array(be, arr, args.scale)
        best = min(best, time.perf_counter() - t)
    print(f"assemble_array {w}x{h} x{args.scale}: {best:.3f} s")
    if args.check is not None:
        if args.check.exists():
            ref = np.load(args.check)
            print("max |diff|:", int(np.abs(out.astype(int) - ref.astype(int)).max()))
        else:
            np.save(args.check, out)


if __name__ == "__main__":
    main()
