"""How far OpenVINO's bf16 path is from f32: whole Set5/Set14 images, every bundled model.

For each config x scale and each HR image of the sets (the bench protocol: HR
mod-cropped, LR = MATLAB bicubic): the protocol luma (``bench.sr_luma``, uint8) and the
8-bit RGB output of the real pipeline (``pipeline.upscale_array``, tiled as ``upscale``
tiles) with the f32 and the bf16 OpenVINO backends; max and mean |diff| of both, and the
protocol PSNR (Y, ``scale`` px shaved) of each. A model/scale passes when the set's mean
PSNR changes by at most ``--bound`` dB (what ``--precision auto`` allows).

    nice -n 10 python scripts/precision_error.py --configs lite:2,lite:3,lite:4 \\
        --json docs/results/precision_error_lite.json
    python scripts/precision_error.py --render docs/results/precision_error_lite.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TEST = Path(os.environ.get("DSRN_SHARED", ROOT / ".." / "shared")) / "data" / "test"


def cpu_name() -> str:
    import openvino as ov

    core = ov.Core()
    caps = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return f"{core.get_property('CPU', 'FULL_DEVICE_NAME')} (OpenVINO caps: {', '.join(caps)})"


def measure(config: str, scale: int, dataset: str, bound: float) -> dict:
    """One config x scale on one set: per-image diffs and PSNRs, and the set's summary."""
    from dsrn_cli.evaluation.bench import sr_luma
    from dsrn_cli.evaluation.metrics import psnr
    from dsrn_cli.files.imageio import list_images, read_rgb_uint8
    from dsrn_cli.pixels.color import y_uint8
    from dsrn_cli.pixels.resize import imresize, modcrop
    from dsrn_cli.runtime.render import upscale_array
    from dsrn_cli.runtime.selection import get_model

    f32 = get_model(scale, config, device="cpu", backend="openvino")
    bf16 = f32.bf16()
    images = []
    paths = list_images(TEST / dataset)
    if not paths:
        raise SystemExit(f"no images in {TEST / dataset} (set DSRN_SHARED to the shared folder)")
    for path in paths:
        hr = modcrop(read_rgb_uint8(path), scale)
        lr = imresize(hr, 1 / scale)
        y_hr = y_uint8(hr)
        ya, yb = sr_luma(f32, lr), sr_luma(bf16, lr)
        ra = upscale_array(lr, scale, f32).astype(np.int16)
        rb = upscale_array(lr, scale, bf16).astype(np.int16)
        dy = np.abs(ya.astype(np.int16) - yb)
        drgb = np.abs(ra - rb)
        pa, pb = psnr(ya, y_hr, scale), psnr(yb, y_hr, scale)
        images.append({"name": path.stem, "psnr_f32": pa, "psnr_bf16": pb, "dpsnr": pb - pa,
                       "max_y": int(dy.max()), "mean_y": float(dy.mean()),
                       "max_rgb": int(drgb.max()), "mean_rgb": float(drgb.mean()),
                       "changed_rgb": float((drgb > 0).mean())})  # fmt: skip
    mean = {k: float(np.mean([i[k] for i in images])) for k in ("psnr_f32", "psnr_bf16")}
    d = mean["psnr_bf16"] - mean["psnr_f32"]
    return {
        "config": config, "scale": scale, "dataset": dataset, "images": images,
        **mean, "dpsnr": d, "worst_image_dpsnr": min(i["dpsnr"] for i in images),
        "max_y": max(i["max_y"] for i in images),
        "mean_y": float(np.mean([i["mean_y"] for i in images])),
        "max_rgb": max(i["max_rgb"] for i in images),
        "mean_rgb": float(np.mean([i["mean_rgb"] for i in images])),
        "changed_rgb": float(np.mean([i["changed_rgb"] for i in images])),
        "passes": abs(d) <= bound,
    }  # fmt: skip


def render(doc: dict) -> str:
    lines = [f"CPU: {doc['cpu']}; bound: |mean PSNR change| <= {doc['bound']} dB", "",
             "| model | set | PSNR f32 | PSNR bf16 | change dB | worst image dB | max / mean "
             "\\|diff\\| Y | max / mean \\|diff\\| RGB | RGB values changed | within bound |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in doc["rows"]:
        lines.append(
            f"| {r['config']} x{r['scale']} | {r['dataset']} | {r['psnr_f32']:.3f} | "
            f"{r['psnr_bf16']:.3f} | {r['dpsnr']:+.4f} | {r['worst_image_dpsnr']:+.4f} | "
            f"{r['max_y']} / {r['mean_y']:.3f} | {r['max_rgb']} / {r['mean_rgb']:.3f} | "
            f"{100 * r['changed_rgb']:.1f}% | {'yes' if r['passes'] else 'NO'} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="lite:2,lite:3,lite:4,paper:2,paper:3,paper:4")
    ap.add_argument("--sets", default="Set5,Set14")
    ap.add_argument("--bound", type=float, default=0.02)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--render", type=Path, default=None, help="print a --json file as a table")
    a = ap.parse_args()
    if a.render:
        print(render(json.loads(a.render.read_text())))
        return
    sys.path.insert(0, str(ROOT))
    doc = {"cpu": cpu_name(), "bound": a.bound, "command": " ".join(sys.argv), "rows": []}
    for item in a.configs.split(","):
        config, scale = item.split(":")
        for dataset in a.sets.split(","):
            t0 = time.perf_counter()
            r = measure(config, int(scale), dataset, a.bound)
            doc["rows"].append(r)
            print(
                f"{config} x{scale} {dataset}: {r['dpsnr']:+.4f} dB (worst image "
                f"{r['worst_image_dpsnr']:+.4f}), max Y {r['max_y']}, max RGB {r['max_rgb']}"
                f", {time.perf_counter() - t0:.0f} s",
                flush=True,
            )
            if a.json:
                a.json.parent.mkdir(parents=True, exist_ok=True)
                a.json.write_text(json.dumps(doc, indent=1) + "\n")
    print(render(doc))


if __name__ == "__main__":
    main()
