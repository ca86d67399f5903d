"""Set5/Set14 tables of every bundled weight file (docs/results/*.json; see docs/weights.md).

    python scripts/eval_weights.py [DATA_DIR] [OUT_DIR] [GLOB]   # GLOB: e.g. 'dsrn_paper_*'
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from dsrn_cli.evaluation.bench import evaluate
from dsrn_cli.files.imageio import list_images
from dsrn_cli.model.weights import available, load_model

root = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/test")
out = Path(sys.argv[2] if len(sys.argv) > 2 else "docs/results")
only = sys.argv[3] if len(sys.argv) > 3 else "*"  # a glob of file names, e.g. 'dsrn_lite_*'
device = "cuda" if torch.cuda.is_available() else "cpu"
out.mkdir(parents=True, exist_ok=True)
torch.set_num_threads(2)
for (_, scale), path in sorted(available().items()):
    if not path.match(only):
        continue
    model = load_model(path, device)
    for ds in ("Set5", "Set14"):
        t = time.time()
        r = evaluate(list_images(root / ds), scale, "dsrn", model, device, metrics=("psnr", "ssim"))
        r.update(dataset=ds, weights=path.name, device=device,
                 seconds=round(time.time() - t, 1))
        (out / f"{path.stem}_{ds}.json").write_text(json.dumps(r, indent=1))
        print(f"{path.name} {ds} {r['psnr']:.3f} {r['ssim']:.4f} {r['seconds']}s", flush=True)
