"""Seconds per megapixel of PSNR, SSIM and IFC on real benchmark images (one process).

Times each metric on the bicubic luma of every image of a folder against its HR luma
(the bench's inputs), and the steerable pyramid alone (pyrtools' full one against
the eight subbands IFC builds), after one warm-up call so that pyrtools' import (about 1.5 s of
CPU, once per process) is not counted. Wall and CPU time both, since a busy machine
inflates the first. Not a test: it takes a few seconds per scale.

    python scripts/bench_metrics.py ../shared/data/test/Set14 --scale 2 --repeat 3
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from dsrn_cli.evaluation.metrics import ifc, psnr, ssim
from dsrn_cli.files.imageio import list_images, read_rgb_uint8
from dsrn_cli.pixels.color import y_uint8
from dsrn_cli.pixels.resize import imresize, modcrop


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    s = args.scale
    pairs = []
    for path in list_images(args.folder):
        hr = modcrop(read_rgb_uint8(path), s)
        pairs.append((y_uint8(hr), y_uint8(imresize(imresize(hr, 1 / s), s))))
    mp = sum(h[s:-s, s:-s].size for h, _ in pairs) / 1e6
    ifc(pairs[0][0], pairs[0][1], s)  # warm-up: imports pyrtools
    print(f"{len(pairs)} images, {mp:.3f} MP after the shave, x{s}, best of {args.repeat}")
    for name, fn in (("psnr", lambda h, y: psnr(y, h, s)), ("ssim", lambda h, y: ssim(y, h, s)),
                     ("ifc", lambda h, y: ifc(h, y, s))):
        best, cpu = float("inf"), float("inf")
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            for h, y in pairs:
                fn(h, y)
            best = min(best, time.perf_counter() - t0)
            cpu = min(cpu, time.process_time() - c0)
        print(f"{name:5s} {best:7.3f} s  {best / mp:6.3f} s/MP  (CPU {cpu / mp:6.3f} s/MP)")
    # The pyramid alone: pyrtools' full one against the eight subbands IFC builds.
    from pyrtools.pyramids import SteerablePyramidSpace

    from dsrn_cli.evaluation.ifc import subbands

    for name, fn in (("full pyramid", lambda h: SteerablePyramidSpace(
            h[s:-s, s:-s].astype(float), height=4, order=5, edge_type="reflect1")),
            ("8 subbands", lambda h: subbands(h[s:-s, s:-s].astype(float)))):
        best, cpu = float("inf"), float("inf")
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            for h, _y in pairs:
                fn(h)
            best = min(best, time.perf_counter() - t0)
            cpu = min(cpu, time.process_time() - c0)
        print(f"{name:12s} {best:7.3f} s  {best / mp:6.3f} s/MP  (CPU {cpu / mp:6.3f} s/MP; "
              "one image)")


if __name__ == "__main__":
    main()
