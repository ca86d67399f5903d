"""Bundle a JPEG fine-tune as ``weights/dsrn_<config>-jpeg_x<scale>.safetensors``.

``bundle_jpeg_weights.py TUNED.safetensors CLEAN.safetensors --alpha A [--out FOLDER]
[--eval SET5_DIR] [--quality 75 50]``

The bundled tensors are ``A * tuned + (1 - A) * clean`` (weight-space interpolation of
the fine-tune with the clean weights it started from: A = 1 is the fine-tune itself;
smaller A gives back clean-input quality for some of the JPEG gain). With ``--eval``
it only prints Set5 PSNR (clean and at each JPEG quality) for each A given, to choose
A on Set5; without it, it writes the file and its manifest entry (provenance from the
fine-tune's metadata).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

from dsrn_cli.evaluation.bench import evaluate
from dsrn_cli.files.imageio import list_images
from dsrn_cli.model.weights import file_name, load_model, read_metadata, record, save_weights


def blend(tuned: Path, clean: Path, alpha: float):
    model = load_model(tuned, verify=False)
    base = load_model(clean).state_dict()
    state = {k: alpha * v + (1 - alpha) * base[k] for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    return model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("tuned", type=Path)
    ap.add_argument("clean", type=Path)
    ap.add_argument("--alpha", type=float, nargs="+", default=[1.0])
    ap.add_argument("--out", type=Path, default=Path("weights"))
    ap.add_argument("--eval", type=Path)
    ap.add_argument("--quality", type=int, nargs="+", default=[75, 50])
    a = ap.parse_args()
    meta = read_metadata(a.tuned)
    scale = int(meta["scale"])
    if a.eval:
        images = list_images(a.eval)
        for alpha in a.alpha:
            model = blend(a.tuned, a.clean, alpha)
            row = {str(q or "clean"): evaluate(images, scale, "dsrn", model, jpeg=q,
                                                      metrics=("psnr",))["psnr"]
                   for q in [None, *a.quality]}
            text = ", ".join(f"{k} {v:.3f}" for k, v in row.items())
            print(f"alpha {alpha}: {text}", flush=True)
        return
    (alpha,) = a.alpha
    model = blend(a.tuned, a.clean, alpha)
    name = f"{meta['config_name']}-jpeg"
    path = a.out / file_name(name, scale)
    prov = {
        "config_name": name, "scale": scale, "date": dt.date.today().isoformat(),
        "init": a.clean.name, "jpeg": meta.get("jpeg", ""),
        "jpeg_clean_share": json.loads(meta.get("jpeg_clean_share", "null")),
        "train_steps": json.loads(meta["train_steps"]),
        "train_minutes": json.loads(meta["train_minutes"]),
        "batch": json.loads(meta["batch"]), "patch": json.loads(meta["patch"]),
        "optimizer": meta["optimizer"], "loss": meta["loss"], "device": meta["device"],
        "data": "T91+BSD200 (291 images), luma, aug factors 0.5-1.0, flips, rot90; LR patches "
                f"as grayscale JPEG at a uniform quality in {meta.get('jpeg')}, "
                f"{meta.get('jpeg_clean_share')} of them left clean",
        "blend": f"{alpha} * fine-tune + {round(1 - alpha, 4)} * {a.clean.name}",
    }
    digest = save_weights(model, path, prov)
    record(path, digest, prov)
    print(path, digest)


if __name__ == "__main__":
    main()
