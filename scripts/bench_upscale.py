"""Benchmark ``dsrn_cli.upscale`` on a synthetic RGB image: peak RSS and output MP/s.

Each configuration runs in its own subprocess so peak RSS (``getrusage`` high-water
mark, which never goes down) is measured per configuration. Not a test: on a laptop CPU
a 2000x1500 x2 image with the paper model takes minutes.

    python scripts/bench_upscale.py                      # lite and paper, 2000x1500, x2
    python scripts/bench_upscale.py --configs lite --size 400x300 --tile 128
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child(config: str, w: int, h: int, scale: int, tile: int | None, device: str) -> dict:
    """One measurement, in this process."""
    import numpy as np
    import torch

    from dsrn_cli.upscale import get_model, upscale

    net = get_model(scale, config, device=device)
    rng = np.random.default_rng(0)
    # Smooth gradients plus noise: a stand-in for a photo (content does not change speed).
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255.0 / w, yy * 255.0 / h, (xx + yy) * 127.0 / (w + h)], axis=2)
    img = np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
    del base, xx, yy
    rss_before = _rss_mib()
    t0 = time.perf_counter()
    out = upscale(img, scale, model=net, tile=tile)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    sec = time.perf_counter() - t0
    mp_out = out.shape[0] * out.shape[1] / 1e6
    return {
        "config": config,
        "size_in": f"{w}x{h}",
        "scale": scale,
        "tile": tile,
        "device": str(next(net.parameters()).device),
        "threads": torch.get_num_threads(),
        "seconds": round(sec, 2),
        "mp_out_per_s": round(mp_out / sec, 4),
        "rss_before_mib": round(rss_before),
        "peak_rss_mib": round(_rss_mib()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="lite,paper")
    ap.add_argument("--size", default="2000x1500", help="input WxH")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--tile", type=int, default=None, help="LR tile side (default: auto)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    w, h = (int(v) for v in a.size.lower().split("x"))
    if a.child:
        print(json.dumps(child(a.child, w, h, a.scale, a.tile, a.device)))
        return
    for config in a.configs.split(","):
        cmd = [sys.executable, __file__, "--child", config, "--size", a.size,
               "--scale", str(a.scale), "--device", a.device]  # fmt: skip
        if a.tile:
            cmd += ["--tile", str(a.tile)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode:
            print(f"{config}: failed\n{res.stderr.strip()}", file=sys.stderr)
            continue
        r = json.loads(res.stdout.strip().splitlines()[-1])
        print(
            f"{r['config']:6s} {r['size_in']} x{r['scale']} on {r['device']} "
            f"({r['threads']} threads, tile {r['tile'] or 'auto'}): {r['seconds']} s, "
            f"{r['mp_out_per_s']} MP/s out, peak RSS {r['peak_rss_mib']} MiB "
            f"(before upscale {r['rss_before_mib']} MiB)"
        )


if __name__ == "__main__":
    main()
