"""How close is the trainer's grayscale-JPEG stand-in to a colour JPEG's luma?

``jpeg_standin.py FOLDER [--scale 2] [--quality 90 75 50] [--weights W.safetensors]``

For each HR image: LR = the bench's bicubic LR; "colour" = luma of the LR saved as a
colour JPEG (Pillow, 4:2:0) and decoded (what ``dsrn bench --jpeg`` and users feed in);
"gray" = the LR's uint8 luma saved as a grayscale JPEG (what ``dsrn train --jpeg`` feeds
the network). Prints, per quality, each one's luma PSNR against the clean LR luma, their
PSNR against each other, and with ``--weights`` the model's Y-PSNR against the HR on each.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from dsrn_cli.evaluation.metrics import psnr
from dsrn_cli.files.imageio import list_images, read_rgb_uint8
from dsrn_cli.files.jpeg import roundtrip
from dsrn_cli.model.weights import load_model
from dsrn_cli.pixels.color import y_uint8
from dsrn_cli.pixels.resize import imresize, modcrop


@torch.no_grad()
def sr(model, y: np.ndarray) -> np.ndarray:
    out = model(torch.from_numpy(y.astype(np.float32) / 255.0)[None, None])[0, 0].numpy()
    return np.clip(np.floor(out * 255.0 + 0.5), 0, 255).astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--quality", type=int, nargs="+", default=[90, 75, 50])
    ap.add_argument("--weights")
    a = ap.parse_args()
    model = load_model(a.weights) if a.weights else None
    paths = [p for f in a.folders for p in list_images(f)]
    print(f"{len(paths)} images, x{a.scale}" + (f", {a.weights}" if model else ""))
    print("Q   | colour vs clean LR | gray vs clean LR | colour vs gray | SR colour | SR gray")
    for q in a.quality:
        rows = []
        for p in paths:
            hr = modcrop(read_rgb_uint8(p), a.scale)
            lr = imresize(hr, 1 / a.scale)
            y_lr = y_uint8(lr)
            col = y_uint8(roundtrip(lr, q))
            gray = roundtrip(y_lr, q)
            row = [psnr(col, y_lr), psnr(gray, y_lr), psnr(col, gray)]
            if model is not None:
                y_hr = y_uint8(hr)
                row += [psnr(sr(model, col), y_hr, a.scale), psnr(sr(model, gray), y_hr, a.scale)]
            rows.append(row)
        m = np.mean(rows, axis=0)
        print(f"{q:<3} | " + " | ".join(f"{v:.2f}" for v in m))


if __name__ == "__main__":
    main()
