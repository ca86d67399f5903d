"""What mirroring the image past its border (tiling.PAD, issue 16) does to PSNR.

For each test set and scale: the protocol's PSNR (luma, ``scale`` pixels shaved, as
``dsrn bench``) and the whole-image PSNR (nothing shaved), for an old tree (no padding:
the network zero-pads at the border) and this tree. Each tree runs in its own process
with PYTHONPATH pointing at it, through the same ``bench`` functions ``dsrn bench`` uses.

    python scripts/border_psnr.py --old /path/to/old/tree --model lite --scales 2 3 4
    python scripts/border_psnr.py --old ... --pad edge    # this tree with edge padding
    python scripts/border_psnr.py --old ... --border 8    # mirror only 8 px, zeros beyond
    python scripts/border_psnr.py --old ... --weights 'runs/ctx_lite_x{scale}/best.safetensors'
                                                          # other weights in this tree

The data is ../shared/data/test next to the repository, or $DSRN_SHARED/data/test.

Prints a markdown table (mean over each set) and, with ``--json``, the per-image values.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DSRN_SHARED", ROOT / ".." / "shared")) / "data" / "test"


def _limit_border(tiling, m: int) -> None:
    """Mirror only ``m`` LR pixels past the border (the network zero-pads beyond): the
    windows are clipped to ``[-m, n + m)`` and shifted inwards to keep one shape."""

    def spans(n: int, tile: int, radius: int, start: int = 0) -> list:
        count = -(-(n - start) // max(1, tile))
        size = -(-(n - start) // count)
        window = min(size + 2 * radius, n + 2 * m)
        out = []
        for a in range(start, n, size):
            lo = min(max(a - radius, -m), n + m - window)
            out.append((a, min(a + size, n), lo, lo + window))
        return out

    tiling.spans = spans


def _emit(
    model: str, scales: list[int], sets: list[str], pad: str | None, border: int | None,
    weights: str | None = None,
) -> None:
    """Worker: one JSON line per image, computed by the tree on PYTHONPATH."""

    from dsrn_cli.evaluation.bench import sr_luma
    from dsrn_cli.evaluation.metrics import psnr
    from dsrn_cli.files.imageio import read_rgb_uint8
    from dsrn_cli.pixels.color import y_uint8
    from dsrn_cli.pixels.resize import imresize, modcrop
    from dsrn_cli.runtime import tiling
    from dsrn_cli.runtime.selection import get_model

    if pad is not None:
        tiling.PAD = pad
    if border is not None:
        _limit_border(tiling, border)
    for scale in scales:
        path = weights.format(scale=scale) if weights else None
        net = get_model(scale, model, weights=path, device="cpu", backend="auto")
        for name in sets:
            for path in sorted((DATA / name).glob("*.png")):
                hr = modcrop(read_rgb_uint8(path), scale)
                y_sr = sr_luma(net, imresize(hr, 1 / scale))
                y_hr = y_uint8(hr)
                rec = {"set": name, "scale": scale, "image": path.stem,
                       "shaved": psnr(y_sr, y_hr, scale), "whole": psnr(y_sr, y_hr, 0)}  # fmt: skip
                print(json.dumps(rec), flush=True)


def _run(tree: Path, args: argparse.Namespace, new: bool) -> list[dict]:
    cmd = [sys.executable, __file__, "--emit", "--model", args.model,
           "--scales", *map(str, args.scales), "--sets", *args.sets]  # fmt: skip
    if new and args.pad:
        cmd += ["--pad", args.pad]
    if new and args.border is not None:
        cmd += ["--border", str(args.border)]
    if new and args.weights:
        cmd += ["--weights", args.weights]
    env = {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", type=Path, help="tree without border padding (e.g. 88a8697)")
    ap.add_argument("--model", default="lite")
    ap.add_argument("--scales", type=int, nargs="+", default=[2, 3, 4])
    ap.add_argument("--sets", nargs="+", default=["Set5", "Set14"])
    ap.add_argument("--pad", choices=["symmetric", "edge", "reflect"], help="tiling.PAD here")
    ap.add_argument("--border", type=int, help="mirror only this many LR pixels here")
    ap.add_argument("--weights", help="weights file here instead of the bundled one; "
                    "{scale} is replaced by the scale")
    ap.add_argument("--json", type=Path, help="write the per-image values here")
    ap.add_argument("--emit", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.emit:
        _emit(args.model, args.scales, args.sets, args.pad, args.border, args.weights)
        return
    import numpy as np

    new = _run(ROOT, args, True)
    old = _run(args.old, args, False) if args.old else []
    if args.json:
        args.json.write_text(json.dumps({"old": old, "new": new}, indent=1) + "\n")
    print("| set | scale | shaved old | shaved new | diff | whole old | whole new | diff |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.sets:
        for scale in args.scales:
            def mean(rows: list[dict], key: str) -> float:
                vals = [r[key] for r in rows if r["set"] == name and r["scale"] == scale]
                return float(np.mean(vals)) if vals else float("nan")

            so, sn, wo, wn = (mean(old, "shaved"), mean(new, "shaved"),
                              mean(old, "whole"), mean(new, "whole"))  # fmt: skip
            print(f"| {name} | x{scale} | {so:.3f} | {sn:.3f} | {sn - so:+.3f} "
                  f"| {wo:.3f} | {wn:.3f} | {wn - wo:+.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
