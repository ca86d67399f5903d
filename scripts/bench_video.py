"""Video measurements (issue 20): the Y-plane path against the RGB path, and frames/s.

    # Y plane straight to the network vs YUV -> RGB -> still pipeline -> YUV, on panning
    # clips cut from Set14 (HR crops; LR = MATLAB bicubic /2; both encoded losslessly):
    # Y-PSNR and RGB-PSNR against the HR frames, and how far apart the two outputs are
    python scripts/bench_video.py --paths [--frames 6]

    # frames per second, 480p -> x2 (854x480 in, 1708x960 out), end to end
    python scripts/bench_video.py --fps --model lite [--precision bf16] [--frames 6]

Numbers are printed as Markdown tables; nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dsrn_cli.model.weights import load_model, resolve  # noqa: E402
from dsrn_cli.pixels.color import rgb_to_y  # noqa: E402
from dsrn_cli.pixels.resize import imresize  # noqa: E402
from dsrn_cli.run.video import upscale_video  # noqa: E402
from dsrn_cli.runtime.selection import pick_backend  # noqa: E402

SHARED = Path(os.environ.get("DSRN_SHARED", ROOT / ".." / "shared"))
SET14 = SHARED / "data" / "test" / "Set14"


def make_clip(path: Path, frames: list[np.ndarray], fps: int = 10, crf: int = 0) -> None:
    """RGB frames -> H.264 yuv420p (crf 0: lossless after the RGB -> YUV step)."""
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=fps, options={"crf": str(crf)})
        v.height, v.width = frames[0].shape[:2]
        v.pix_fmt = "yuv420p"
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            vf.pts, vf.time_base = i, Fraction(1, fps)
            out.mux(v.encode(vf))
        out.mux(v.encode(None))


def decode(path: Path, fmt: str) -> list[np.ndarray]:
    """Every frame as ``fmt`` (swscale), or "y": the Y plane's codes as stored."""

    def y(f: av.VideoFrame) -> np.ndarray:
        p = f.planes[0]
        return np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width]

    with av.open(str(path)) as c:
        return [y(f) if fmt == "y" else f.to_ndarray(format=fmt) for f in c.decode(video=0)]


def psnr(a: np.ndarray, b: np.ndarray, shave: int) -> float:
    d = (a.astype(np.float64) - b.astype(np.float64))[shave:-shave, shave:-shave]
    return float(10 * np.log10(255.0**2 / np.mean(d**2)))


def paths(n_frames: int, net, scale: int = 2) -> None:
    print("| image | LR | Y-PSNR bicubic | Y-PSNR Y-plane | Y-PSNR RGB path | "
          "RGB-PSNR Y-plane | RGB-PSNR RGB path | Y max/mean abs diff |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    tot = np.zeros(5)
    names = sorted(p for p in SET14.glob("*.png"))
    diffs = []
    for p in names:
        hr_img = np.asarray(Image.open(p).convert("RGB"))
        h, w = (hr_img.shape[0] - 24) // 4 * 4, (hr_img.shape[1] - 24) // 4 * 4
        h, w = min(h, 240), min(w, 320)
        hr = [hr_img[2 * i : 2 * i + h, 3 * i : 3 * i + w] for i in range(n_frames)]
        lr = [imresize(f, 1 / scale) for f in hr]
        with tempfile.TemporaryDirectory() as d:
            src = Path(d) / "in.mp4"
            make_clip(src, lr)
            outs = {}
            for via in (False, True):
                dst = Path(d) / f"out_{via}.mp4"
                upscale_video(src, dst, scale, net, crf=0, via_rgb=via)
                outs[via] = (decode(dst, "y"), decode(dst, "rgb24"))
            lr_y = decode(src, "y")
        hr_y = [rgb_to_y(f) for f in hr]
        bic = [imresize(y, scale) for y in lr_y]
        row = [
            np.mean([psnr(b, t, scale) for b, t in zip(bic, hr_y, strict=True)]),
            np.mean([psnr(o, t, scale) for o, t in zip(outs[False][0], hr_y, strict=True)]),
            np.mean([psnr(o, t, scale) for o, t in zip(outs[True][0], hr_y, strict=True)]),
            np.mean([psnr(o, t, scale) for o, t in zip(outs[False][1], hr, strict=True)]),
            np.mean([psnr(o, t, scale) for o, t in zip(outs[True][1], hr, strict=True)]),
        ]
        tot += row
        d = np.abs(np.stack(outs[False][0]).astype(int) - np.stack(outs[True][0]).astype(int))
        diffs.append(d.ravel())
        print(f"| {p.stem} | {w // scale}x{h // scale} | "
              + " | ".join(f"{v:.2f}" for v in row)
              + f" | {d.max()} / {d.mean():.3f} |")  # fmt: skip
    allv = np.concatenate(diffs)
    print("| **mean** | | " + " | ".join(f"**{v / len(names):.2f}**" for v in tot)
          + f" | {allv.max()} / {allv.mean():.3f} |")  # fmt: skip
    print(f"\nY levels equal in {np.mean(allv == 0):.1%} of pixels, within 1 in "
          f"{np.mean(allv <= 1):.1%}; {n_frames} frames per image, Y shaved {scale} px.")


def fps(n_frames: int, model: str, precision: str, backend: str) -> None:
    img = np.asarray(Image.open(SET14 / "barbara.png").convert("RGB"))  # 720x576
    big = imresize(img, 1.5)  # 1080x864: room to pan an 854x480 window
    frames = [big[8 * i : 8 * i + 480, 6 * i : 6 * i + 854] for i in range(n_frames)]
    net = load_model(resolve(2, model), "cpu")
    be = pick_backend(backend, net, "cpu")
    if precision == "bf16":
        be = be.bf16()
    with tempfile.TemporaryDirectory() as d:
        src, warm = Path(d) / "in.mp4", Path(d) / "warm.mp4"
        make_clip(src, frames, fps=30, crf=18)
        make_clip(warm, frames[:1], fps=30, crf=18)
        upscale_video(warm, Path(d) / "warm_x2.mp4", 2, be)  # conversion, compiled blobs
        load0 = os.getloadavg()[0]
        stamps: list[float] = []
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        rec = upscale_video(src, Path(d) / "out.mp4", 2, be,
                            progress=lambda k, n: stamps.append(time.perf_counter()))  # fmt: skip
        total = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    steady = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else float("nan")
    print(f"| {model} | {be.name} | {precision} | 854x480 -> 1708x960 | {rec['frames']} | "
          f"{rec['frames'] / total:.3f} | {steady:.3f} | {cpu / rec['frames']:.2f} | "
          f"{load0:.2f} / {os.getloadavg()[0]:.2f} |")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", action="store_true")
    ap.add_argument("--fps", action="store_true")
    ap.add_argument("--frames", type=int, default=None)
    ap.add_argument("--model", default="lite")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--backend", default="auto")
    args = ap.parse_args()
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.paths:
        paths(args.frames or 6, load_model(resolve(2, args.model), "cpu"))
    if args.fps:
        print("| model | backend | precision | clip | frames | fps end to end | "
              "fps after frame 1 | CPU s per frame | load avg before / after |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|---|")
        fps(args.frames or 6, args.model, args.precision, args.backend)


if __name__ == "__main__":
    main()
