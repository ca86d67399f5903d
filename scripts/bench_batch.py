"""Benchmarks of the batch path (issue 8): a folder end to end, peak memory, PNG levels.

    # a whole folder end to end: output MP/s, peak RSS, per-stage seconds, and the
    # model-only throughput of the same run (output pixels / seconds inside the network)
    python scripts/bench_batch.py --batch DIR -s 4 --model lite [--serial]
    python scripts/bench_batch.py --batch DIR -s 4 --model paper --precision bf16  # GPU

    # peak RSS of the whole process for one WxH photo -> xS (a fresh `dsrn upscale`
    # process per size; the photo is a real one resized to WxH)
    python scripts/bench_batch.py --memory 600x400 2400x1600 -s 4 --model lite

    # PNG zlib level vs encode speed and size, on upscaled photos (e.g. Set5/Set14 outputs)
    python scripts/bench_batch.py --png DIR

Numbers are printed as Markdown tables; nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import io
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dsrn_cli.api import upscale_file  # noqa: E402
from dsrn_cli.files.imageio import list_images  # noqa: E402
from dsrn_cli.run.batch import Options, run_jobs  # noqa: E402
from dsrn_cli.run.plan import plan  # noqa: E402
from dsrn_cli.runtime.selection import get_model, with_precision  # noqa: E402

PHOTO = ROOT / ".." / "shared" / "data" / "test" / "Set14" / "baboon.png"


def peak_rss_mb() -> float:
    """Peak resident set of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_batch(folder: Path, args: argparse.Namespace) -> None:
    be = get_model(args.scale, args.model, None, args.device, backend=args.backend)
    be = with_precision(be, args.precision)
    inner, model_s = be.sr, [0.0]

    def timed_sr(lr: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        try:
            return inner(lr)
        finally:
            model_s[0] += time.perf_counter() - t0

    be.sr = timed_sr  # the network's own seconds inside the same run
    with tempfile.TemporaryDirectory() as tmp:
        jobs = plan([folder], Path(tmp), args.scale, args.format, False).jobs[: args.limit]
        opts = Options(args.scale, args.tile, args.format, None, args.png_compression)
        t0 = time.perf_counter()
        records, stages, _ = run_jobs(jobs, list(range(len(jobs))), be, opts, Console())
        wall = time.perf_counter() - t0
        net_s = model_s[0]
        serial = None
        if args.serial:  # the one-file-at-a-time path on the same files, for the ratio
            t1 = time.perf_counter()
            for j in jobs:
                upscale_file(j.src, Path(tmp) / "serial" / j.src.name, args.scale, be,
                             tile=args.tile, png_level=args.png_compression)  # fmt: skip
            serial = time.perf_counter() - t1
    done = [r for r in records.values() if r["status"] == "done"]
    mp = sum(r["size_out"][0] * r["size_out"][1] for r in done) / 1e6
    if serial is not None:
        print(f"\none file at a time: {serial:.1f} s ({mp / serial:.3f} MP/s); "
              f"pipeline: {wall:.1f} s; speed-up {serial / wall:.2f}x")
    print(f"\n{len(done)} of {len(jobs)} files from {folder}, x{args.scale}, {be!r}, "
          f"{opts.writers} writer threads\n")
    print("| end to end MP/s | model-only MP/s | wall s | output MP | peak RSS MB "
          "| read s | upscale s (model s) | write s |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {mp / wall:.3f} | {mp / max(net_s, 1e-9):.3f} | {wall:.1f} | {mp:.1f} "
          f"| {peak_rss_mb():.0f} | {stages['read']:.1f} | {stages['upscale']:.1f} "
          f"({net_s:.1f}) | {stages['write']:.1f} |")


def one_image(src: Path, args: argparse.Namespace) -> None:
    """Child process: one `dsrn upscale` in this process, then its peak RSS."""
    from dsrn_cli.cli.app import app

    out = src.with_name("out.png")
    cmd = ["upscale", str(src), "-o", str(out), "-s", str(args.scale), "--device", args.device,
           "--backend", args.backend, "-q"]  # fmt: skip
    if args.model:
        cmd += ["--model", args.model]
    t0 = time.perf_counter()
    try:
        app(cmd)
    except SystemExit as e:
        code = e.code
    print(f"RESULT {peak_rss_mb():.0f} {time.perf_counter() - t0:.1f} {code}")


def bench_memory(sizes: list[str], args: argparse.Namespace) -> None:
    print(f"\nx{args.scale}, model {args.model or 'default'}, backend {args.backend}, "
          f"input: {args.photo.name} resized\n")
    print("| input | output MP | peak RSS MB | seconds | exit |")
    print("|---|---|---|---|---|")
    for size in sizes:
        w, h = (int(v) for v in size.lower().split("x"))
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "in.png"
            with Image.open(args.photo) as im:
                im.convert("RGB").resize((w, h), Image.Resampling.BICUBIC).save(src)
            cmd = [sys.executable, __file__, "--one-image", str(src), "-s", str(args.scale),
                   "--device", args.device, "--backend", args.backend]  # fmt: skip
            if args.model:
                cmd += ["--model", args.model]
            p = subprocess.run(cmd, capture_output=True, text=True)
            line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT")]
            if not line:
                print(p.stdout + p.stderr)
                continue
            _, rss, secs, code = line[-1].split()
            print(f"| {w}x{h} | {w * h * args.scale**2 / 1e6:.1f} | {rss} | {secs} | {code} |")


def bench_png(folder: Path, levels: list[int]) -> None:
    images = []
    for p in list_images(folder):
        with Image.open(p) as im:
            im.load()
            images.append(im.copy())
    mp = sum(im.width * im.height for im in images) / 1e6
    print(f"\n{len(images)} images, {mp:.1f} MP, from {folder}\n")
    # CPU seconds of this (single-threaded) encoder: on a shared machine wall time mostly
    # measures the neighbours.
    print("| level | encode CPU s | MP/s per core | total MB | size vs level 6 |")
    print("|---|---|---|---|---|")
    rows = []
    for level in levels:
        t0, size = time.process_time(), 0
        for im in images:
            buf = io.BytesIO()
            im.save(buf, format="PNG", compress_level=level)
            size += buf.tell()
        rows.append((level, time.process_time() - t0, size))
    ref = dict((lv, sz) for lv, _, sz in rows).get(6, rows[-1][2])
    for level, secs, size in rows:
        print(f"| {level} | {secs:.2f} | {mp / secs:.1f} | {size / 1e6:.1f} "
              f"| {size / ref - 1:+.1%} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--batch", type=Path, help="time this folder end to end")
    mode.add_argument("--memory", nargs="+", metavar="WxH", help="peak RSS per input size")
    mode.add_argument("--png", type=Path, help="PNG levels on the images in this folder")
    mode.add_argument("--one-image", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("-s", "--scale", type=int, default=4)
    ap.add_argument("--model", default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--tile", type=int, default=None)
    ap.add_argument("--precision", default="fp32", help="--batch on CUDA: fp32, fp16, bf16")
    ap.add_argument("--format", default="png")
    ap.add_argument("--png-compression", type=int, default=None)
    ap.add_argument("--limit", type=int, default=None, help="only the first N files")
    ap.add_argument("--serial", action="store_true", help="--batch: also time one by one")
    ap.add_argument("--levels", type=int, nargs="+", default=list(range(10)))
    ap.add_argument("--photo", type=Path, default=PHOTO, help="the photo --memory resizes")
    args = ap.parse_args()
    if args.png_compression is None:
        from dsrn_cli.files.imageio import DEFAULT_PNG_LEVEL

        args.png_compression = DEFAULT_PNG_LEVEL
    if args.batch:
        bench_batch(args.batch, args)
    elif args.memory:
        bench_memory(args.memory, args)
    elif args.png:
        bench_png(args.png, args.levels)
    else:
        one_image(args.one_image, args)


if __name__ == "__main__":
    main()
