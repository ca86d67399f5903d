"""Score a JPEG training run's checkpoints on Set5, clean and with JPEG LR inputs.

``eval_jpeg_ckpts.py RUN_DIR SET5_DIR [--quality 75 50] [--new-only]``

The trainer validates on clean Set5 only; weights meant for JPEG inputs are chosen
here on Set5 at JPEG qualities too (never on a test set other than Set5/Set14).
Checkpoints are the ``snap-*.pt`` copies of ``ckpt.pt`` plus best/last.safetensors.
Results are appended to RUN_DIR/jpeg_eval.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from dsrn_cli.evaluation.bench import evaluate
from dsrn_cli.files.imageio import list_images
from dsrn_cli.model.config import get_config
from dsrn_cli.model.network import DSRN
from dsrn_cli.model.weights import load_model


def load(path: Path, config: str, scale: int) -> tuple[DSRN, int]:
    if path.suffix == ".safetensors":
        return load_model(path), -1
    ck = torch.load(path, map_location="cpu", weights_only=False)
    model = DSRN(get_config(config, scale))
    model.load_state_dict(ck["model"])
    return model.eval(), ck["step"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("val", type=Path)
    ap.add_argument("--quality", type=int, nargs="+", default=[75, 50])
    ap.add_argument("--new-only", action="store_true")
    a = ap.parse_args()
    args = json.loads((a.run / "args.json").read_text())
    out = a.run / "jpeg_eval.json"
    done = json.loads(out.read_text()) if out.exists() else {}
    paths = sorted(a.run.glob("snap-*.pt")) + [a.run / "best.safetensors",
                                               a.run / "last.safetensors"]
    images = list_images(a.val)
    for p in paths:
        if not p.exists() or (a.new_only and p.name in done):
            continue
        model, step = load(p, args["config"], args["scale"])
        row = {"step": step}
        for q in [None, *a.quality]:
            r = evaluate(images, args["scale"], "dsrn", model, "cpu", jpeg=q,
                         metrics=("psnr", "ssim"))
            row["clean" if q is None else f"q{q}"] = round(r["psnr"], 3)
        done[p.name] = row
        out.write_text(json.dumps(done, indent=1))
        print(p.name, row, flush=True)


if __name__ == "__main__":
    main()
