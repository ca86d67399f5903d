"""Replace a bundled weight file by a fine-tune of it, keeping its provenance.

``bundle_finetune.py TUNED.safetensors weights/dsrn_lite_x2.safetensors --why TEXT``
``bundle_finetune.py --results docs/results weights/dsrn_*.safetensors``

The first form writes TUNED's tensors over the bundled file and its manifest entry: the
earlier entry's fields, a new stage (TUNED's schedule, batch, patch, context, device and
steps) appended to ``stages``, the step and minute totals grown, and the measured
results dropped (they belonged to the earlier tensors). The second form fills
``results`` from ``scripts/eval_weights.py``'s JSON files (``<stem>_<Set>.json``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

from dsrn_cli.model.weights import (
    load_model,
    read_manifest,
    read_metadata,
    record,
    save_weights,
    sha256,
)

STALE = ("results", "results_ensemble", "psnr_jpeg")  # measured on the earlier tensors


def bundle(tuned: Path, target: Path, why: str, lr: float | None) -> str:
    meta = read_metadata(tuned)
    old = read_manifest(target.parent)[target.name]
    stage = {
        "init": f"the bundled {target.name} (sha256 {old['sha256'][:12]}...)",
        "why": why, "lr": lr,
        "steps": int(meta["train_steps"]), "minutes": float(meta["train_minutes"]),
        "schedule": "cosine", "batch": int(meta["batch"]), "patch": int(meta["patch"]),
        "context": int(meta.get("context", 0)), "device": meta["device"],
        **({"jpeg": meta["jpeg"], "jpeg_clean_share": float(meta["jpeg_clean_share"])}
           if "jpeg" in meta else {}),
    }
    prov = {k: v for k, v in old.items() if k not in STALE and k != "sha256"}
    prov.update(
        date=dt.date.today().isoformat(), context=stage["context"],
        stages=[*old.get("stages", []), stage],
        train_steps=int(old.get("train_steps", 0)) + stage["steps"],
        train_minutes=round(float(old.get("train_minutes", 0)) + stage["minutes"], 2),
        val_psnr=float(meta["val_psnr"]), val_ssim=float(meta["val_ssim"]),
    )
    model = load_model(tuned, verify=False)
    digest = save_weights(model, target, prov)
    record(target, digest, prov)
    return digest


def fill_results(results: Path, targets: list[Path]) -> None:
    for target in targets:
        entry = read_manifest(target.parent)[target.name]
        if sha256(target) != entry["sha256"]:
            raise SystemExit(f"{target}: sha256 differs from the manifest")
        found = {}
        for f in sorted(results.glob(f"{target.stem}_*.json")):
            r = json.loads(f.read_text())
            if r.get("ensemble") or r.get("jpeg") or r.get("weights") != target.name:
                continue
            found[r["dataset"]] = {"psnr": round(r["psnr"], 4), "ssim": round(r["ssim"], 4)}
        if found:
            record(target, entry["sha256"], {**{k: v for k, v in entry.items()
                                                if k != "sha256"}, "results": found})
            print(target.name, found)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", type=Path, nargs="+")
    ap.add_argument("--why", default="")
    ap.add_argument("--lr", type=float, help="the fine-tune's base learning rate")
    ap.add_argument("--results", type=Path)
    a = ap.parse_args()
    if a.results:
        fill_results(a.results, a.files)
        return
    tuned, target = a.files
    print(target, bundle(tuned, target, a.why, a.lr))


if __name__ == "__main__":
    main()
