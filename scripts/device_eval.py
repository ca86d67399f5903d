"""Set5/Set14 scores of weight files on a GPU, many evaluations at once (one process each).

    python scripts/device_eval.py DATA_DIR OUT.jsonl FILE.safetensors [...] [--ensemble]
        [--jpeg 75 50] [--tf32-check]

Each job (file x set x {plain, ensemble, jpeg q}) prints one JSON line, also appended to
OUT.jsonl as it finishes, so a run stopped early keeps what it measured. The network
runs in fp32 on CUDA with TF32 off (PyTorch lets cuDNN use TF32 for fp32 convolutions by
default, which is not fp32); ``--tf32-check`` adds the first file on Set5 with TF32 on,
to measure what that default costs.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
from pathlib import Path


def _job(job: dict) -> dict:
    import torch

    from dsrn_cli.evaluation.bench import evaluate
    from dsrn_cli.files.imageio import list_images
    from dsrn_cli.model.weights import load_model, read_metadata

    torch.set_num_threads(1)
    torch.backends.cudnn.allow_tf32 = job["tf32"]
    torch.backends.cuda.matmul.allow_tf32 = job["tf32"]
    t = time.time()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = load_model(job["file"], device, verify=False).eval()
    scale = int(read_metadata(job["file"])["scale"])
    r = evaluate(list_images(Path(job["data"]) / job["set"]), scale, "dsrn", model, device,
                 metrics=("psnr", "ssim"), ensemble=job["ensemble"], backend="torch",
                 jpeg=job["jpeg"])
    out = {k: job[k] for k in ("file", "set", "ensemble", "jpeg", "tf32")}
    out.update(scale=scale, psnr=round(r["psnr"], 4), ssim=round(r["ssim"], 4),
               device=torch.cuda.get_device_name() if device == "cuda" else "cpu",
               seconds=round(time.time() - t, 1),
               images={i["name"]: round(i["psnr"], 4) for i in r["images"]})
    with open(job["out"], "a") as f:
        f.write(json.dumps(out) + "\n")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("files", nargs="+")
    ap.add_argument("--ensemble", nargs="*", default=[], help="files also run with it")
    ap.add_argument("--jpeg", type=int, nargs="*", default=[])
    ap.add_argument("--jpeg-files", nargs="*", default=[], help="files run at --jpeg")
    ap.add_argument("--tf32-check", action="store_true")
    ap.add_argument("--procs", type=int, default=8)
    a = ap.parse_args()
    base = {"data": str(a.data), "out": str(a.out), "tf32": False, "ensemble": False,
            "jpeg": None}
    jobs = []
    for s in ("Set5", "Set14"):
        jobs += [{**base, "file": f, "set": s} for f in a.files]
        jobs += [{**base, "file": f, "set": s, "jpeg": q} for f in a.jpeg_files for q in a.jpeg]
    for s in ("Set5", "Set14"):  # the slowest last: a run stopped early keeps the rest
        jobs += [{**base, "file": f, "set": s, "ensemble": True} for f in a.ensemble]
    if a.tf32_check:
        jobs.insert(0, {**base, "file": a.files[0], "set": "Set5", "tf32": True})
    with mp.get_context("spawn").Pool(a.procs) as pool:
        for r in pool.imap_unordered(_job, jobs):
            print(json.dumps({k: v for k, v in r.items() if k != "images"}), flush=True)


if __name__ == "__main__":
    main()
