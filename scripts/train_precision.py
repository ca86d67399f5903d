"""``dsrn train`` at fp32 and under bf16 autocast, side by side on the same batches.

Two copies of the same starting weights (``--init``) train on the same LR/HR patch batches
(random crops of ``--data``, LR by MATLAB bicubic), one step each in turn (so a busy
machine slows both alike): f32, and the forward pass under bf16 autocast (f32 weights,
optimizer and loss, as ``dsrn train --precision bf16``). Prints per step the wall and the
process CPU milliseconds of each, the losses, and at the end (and every ``--val-every``
steps) both copies' Set5 PSNR (the bench protocol, evaluated at fp32).

    nice -n 10 python scripts/train_precision.py --steps 20 --json docs/results/train_bf16.json
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
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DSRN_SHARED", ROOT / ".." / "shared")) / "data"


def batches(folder: Path, scale: int, batch: int, patch: int, seed: int = 0):
    """Endless (lr, hr) float32 luma batches: ``batch x 1 x patch/scale`` and ``x patch``."""
    from dsrn_cli.files.imageio import list_images, read_rgb_uint8
    from dsrn_cli.pixels.color import rgb_to_y
    from dsrn_cli.pixels.resize import imresize

    rng = np.random.default_rng(seed)
    hrs = [read_rgb_uint8(p) for p in list_images(folder)]
    hrs = [h for h in hrs if min(h.shape[:2]) >= patch]
    while True:
        lr_b, hr_b = [], []
        for _ in range(batch):
            h = hrs[rng.integers(len(hrs))]
            y, x = (rng.integers(s - patch + 1) for s in h.shape[:2])
            crop = h[y : y + patch, x : x + patch]
            hr_b.append(rgb_to_y(crop) / 255.0)
            lr_b.append(rgb_to_y(imresize(crop, 1 / scale)) / 255.0)
        yield (torch.from_numpy(np.stack(lr_b)[:, None].astype(np.float32)),
               torch.from_numpy(np.stack(hr_b)[:, None].astype(np.float32)))  # fmt: skip


def set5_psnr(model: nn.Module, scale: int) -> float:
    from dsrn_cli.evaluation.bench import evaluate
    from dsrn_cli.files.imageio import list_images
    from dsrn_cli.runtime.engines import TorchBackend

    r = evaluate(list_images(DATA / "test" / "Set5"), scale, "dsrn", TorchBackend(model),
                 metrics=("psnr",))  # fmt: skip
    return r["psnr"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--init", default=str(ROOT / "weights" / "dsrn_lite_x2.safetensors"))
    ap.add_argument("--data", type=Path, default=DATA / "train" / "T91")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--patch", type=int, default=96)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--val-every", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from dsrn_cli.model.weights import load_model

    torch.manual_seed(0)
    base = load_model(a.init, "cpu").train()
    scale = base.cfg.scale
    runs = {"fp32": base, "bf16": copy.deepcopy(base)}
    opts = {k: torch.optim.Adam(m.parameters(), lr=a.lr) for k, m in runs.items()}
    crit = nn.L1Loss()
    doc: dict = {"command": " ".join(sys.argv), "init": Path(a.init).name, "batch": a.batch,
                 "patch": a.patch, "threads": torch.get_num_threads(), "steps": [],
                 "val": [], "load_before": os.getloadavg()}  # fmt: skip

    def val(step: int) -> None:
        row = {"step": step}
        for k, m in runs.items():
            m.eval()
            row[k] = set5_psnr(m, scale)
            m.train()
        doc["val"].append(row)
        print(f"val step {step}: Set5 fp32 {row['fp32']:.4f}, bf16 {row['bf16']:.4f}", flush=True)

    val(0)
    data = batches(a.data, scale, a.batch, a.patch)
    for step in range(1, a.steps + 1):
        lr_b, hr_b = next(data)
        row: dict = {"step": step}
        for k, m in runs.items():
            w0, c0 = time.perf_counter(), time.process_time()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=k == "bf16"):
                pred = m(lr_b)
            loss = crit(pred.float(), hr_b)
            opts[k].zero_grad(set_to_none=True)
            loss.backward()
            opts[k].step()
            row[f"{k}_wall_ms"] = 1000 * (time.perf_counter() - w0)
            row[f"{k}_cpu_ms"] = 1000 * (time.process_time() - c0)
            row[f"{k}_loss"] = loss.item()
        doc["steps"].append(row)
        print(" ".join(f"{k} {v:.4g}" for k, v in row.items()), flush=True)
        if a.val_every and step % a.val_every == 0 and step != a.steps:
            val(step)
    val(a.steps)
    doc["load_after"] = os.getloadavg()
    timed = doc["steps"][1:] or doc["steps"]  # the first step warms oneDNN up
    for k in runs:
        for what in ("wall", "cpu"):
            doc[f"{k}_{what}_ms_median"] = float(np.median([r[f"{k}_{what}_ms"] for r in timed]))
    doc["cpu_speedup"] = doc["fp32_cpu_ms_median"] / doc["bf16_cpu_ms_median"]
    doc["wall_speedup"] = doc["fp32_wall_ms_median"] / doc["bf16_wall_ms_median"]
    print(f"median ms/step fp32 {doc['fp32_wall_ms_median']:.0f} wall "
          f"{doc['fp32_cpu_ms_median']:.0f} CPU; bf16 {doc['bf16_wall_ms_median']:.0f} wall "
          f"{doc['bf16_cpu_ms_median']:.0f} CPU; speed-up {doc['wall_speedup']:.2f}x wall, "
          f"{doc['cpu_speedup']:.2f}x CPU")  # fmt: skip
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
