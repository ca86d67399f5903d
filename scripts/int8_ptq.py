"""INT8 post-training quantization of the OpenVINO model with NNCF, measured (not shipped).

For each config x scale: the cached OpenVINO IR of the bundled weights is quantized by
``nncf.quantize`` (default preset: symmetric int8 weights and activations), calibrated on
``--samples`` LR luma patches (``--patch`` px) cut at random from the HR images of
``--train`` (T91), each downscaled by the scale with MATLAB bicubic like the training
pairs. Then, beside the f32 and bf16 compilations of the same graph: model-only seconds
of one window (``--tile`` LR + the receptive overlap each side, best of 3) and the
protocol PSNR (``dsrn bench``'s: Y, shaved, whole images) on Set5 and Set14.

    pip install nncf
    nice -n 10 python scripts/int8_ptq.py --configs lite:2 --json docs/results/int8_ptq.json
    python scripts/int8_ptq.py --render docs/results/int8_ptq.json
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DSRN_SHARED", ROOT / ".." / "shared")) / "data"


def calibration(scale: int, n: int, patch: int, folder: Path, seed: int = 0) -> list:
    """``n`` LR luma patches (1 x 1 x patch x patch float32 in [0, 1]) from ``folder``."""
    from dsrn_cli.files.imageio import list_images, read_rgb_uint8
    from dsrn_cli.pixels.color import rgb_to_y
    from dsrn_cli.pixels.resize import imresize, modcrop

    rng = np.random.default_rng(seed)
    paths = list_images(folder)
    if not paths:
        raise SystemExit(f"no training images in {folder} (set DSRN_SHARED)")
    out = []
    while len(out) < n:
        hr = modcrop(read_rgb_uint8(paths[rng.integers(len(paths))]), scale)
        lr = rgb_to_y(imresize(hr, 1 / scale)).astype(np.float32) / 255.0
        if min(lr.shape) < patch:
            continue
        y, x = (rng.integers(s - patch + 1) for s in lr.shape)
        out.append(np.ascontiguousarray(lr[y : y + patch, x : x + patch])[None, None])
    return out


def quantized(f32, samples: list):
    """An OpenVINO backend like ``f32`` running the NNCF int8 model."""
    import nncf
    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(f32.entry / "model.xml"))
    q = nncf.quantize(model, nncf.Dataset(samples), subset_size=len(samples))
    be = copy.copy(f32)
    be.compiled = core.compile_model(q, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    be.request = be.compiled.create_infer_request()
    be.name, be.precision = "openvino int8", "int8"
    return be


def window_seconds(be, tile: int, repeat: int = 3) -> float:
    side = tile + 2 * be.radius
    x = np.random.default_rng(0).random((side, side), dtype=np.float32)
    be.residual(x[:64, :64])
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        be.residual(x)
        best = min(best, time.perf_counter() - t0)
    return best


def measure(config: str, scale: int, a: argparse.Namespace) -> dict:
    from dsrn_cli.evaluation.bench import evaluate
    from dsrn_cli.files.imageio import list_images
    from dsrn_cli.runtime.selection import get_model, with_precision

    f32 = get_model(scale, config, device="cpu", backend="openvino")
    t0 = time.perf_counter()
    int8 = quantized(f32, calibration(scale, a.samples, a.patch, DATA / "train" / "T91"))
    row: dict = {"config": config, "scale": scale, "calibration_s": time.perf_counter() - t0,
                 "samples": a.samples, "patch": a.patch, "tile": a.tile}  # fmt: skip
    nets = {"f32": f32, "bf16": with_precision(f32, "bf16"), "int8": int8}
    for name, be in nets.items():
        row[f"{name}_s"] = window_seconds(be, a.tile)
    for dataset in a.sets.split(","):
        paths = list_images(DATA / "test" / dataset)
        for name in ("f32", "int8"):
            r = evaluate(paths, scale, "dsrn", nets[name], metrics=("psnr",))
            row[f"{dataset}_{name}"] = r["psnr"]
        row[f"{dataset}_change"] = row[f"{dataset}_int8"] - row[f"{dataset}_f32"]
    return row


def render(doc: dict) -> str:
    sets = doc["sets"].split(",")
    lines = [f"CPU: {doc['cpu']}", "",
             "| model | window s f32 / bf16 / int8 | int8 vs f32 | "
             + " | ".join(f"{s} f32 / int8 (change)" for s in sets) + " |",
             "|---|---|---|" + "---|" * len(sets)]  # fmt: skip
    for r in doc["rows"]:
        cells = [f"{r[f'{s}_f32']:.2f} / {r[f'{s}_int8']:.2f} ({r[f'{s}_change']:+.3f})"
                 for s in sets]  # fmt: skip
        lines.append(f"| {r['config']} x{r['scale']} | {r['f32_s']:.3f} / {r['bf16_s']:.3f} / "
                     f"{r['int8_s']:.3f} | {r['f32_s'] / r['int8_s']:.2f}x | "
                     + " | ".join(cells) + " |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="lite:2")
    ap.add_argument("--sets", default="Set5,Set14")
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--patch", type=int, default=96)
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--render", type=Path, default=None)
    a = ap.parse_args()
    if a.render:
        print(render(json.loads(a.render.read_text())))
        return
    sys.path.insert(0, str(ROOT))
    import openvino as ov

    core = ov.Core()
    doc = {"cpu": core.get_property("CPU", "FULL_DEVICE_NAME"), "sets": a.sets,
           "command": " ".join(sys.argv), "rows": []}  # fmt: skip
    for item in a.configs.split(","):
        config, scale = item.split(":")
        doc["rows"].append(measure(config, int(scale), a))
        print(render(doc), flush=True)
        if a.json:
            a.json.parent.mkdir(parents=True, exist_ok=True)
            a.json.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
