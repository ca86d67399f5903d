"""The evaluation protocol of SR papers (spec section 4) and the published numbers.

``evaluate`` runs one method at one scale over a folder of HR images and returns a
result dict in the shape ``dsrn bench --json`` writes.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from .color import y_uint8
from .imageio import read_rgb_uint8
from .jpeg import roundtrip
from .metrics import psnr, ssim
from .model import DSRN
from .resize import imresize, modcrop

PROTOCOL = (
    "HR mod-cropped to the scale; LR = MATLAB imresize bicubic (antialiased, uint8 per "
    "pass); PSNR/SSIM on the BT.601 luma (MATLAB rgb2ycbcr, uint8) with `scale` pixels "
    "shaved from each border; peak 255; SSIM 11x11 Gaussian, sigma 1.5"
)
JPEG_PROTOCOL = (
    "; rows with a JPEG quality Q: the LR image saved as a colour JPEG at Q by Pillow "
    "(4:2:0 subsampling), decoded, then upscaled; scored against the clean HR"
)

# Dataset names accepted on the command line -> the names of the paper's Table 1.
TABLE_NAMES = {"set5": "Set5", "set14": "Set14", "b100": "B100", "bsd100": "B100",
               "urban100": "Urban100",
               "manga109": "Manga109"}


def published_table() -> dict:
    return json.loads(resources.files("dsrn_cli.data").joinpath("published.json").read_text())


def published(dataset: str, scale: int, method: str) -> tuple[float, float] | None:
    """The paper's (PSNR, SSIM) for a dataset name, scale and method, where it has one."""
    row = {"bicubic": "Bicubic", "dsrn": "DSRN"}.get(method, method)
    table = TABLE_NAMES.get(dataset.lower(), dataset)
    entry = published_table()["table1"].get(row, {}).get(table, {}).get(f"x{scale}")
    return (entry["psnr"], entry["ssim"]) if entry else None


@torch.no_grad()
def sr_luma(model: DSRN, lr_rgb: np.ndarray, device: torch.device | str = "cpu") -> np.ndarray:
    """The model's uint8 luma for a uint8 LR RGB image (input: the LR's uint8 luma)."""
    y = torch.from_numpy(y_uint8(lr_rgb).astype(np.float32) / 255.0)[None, None].to(device)
    out = model(y)[0, 0].float().cpu().numpy() * 255.0
    return np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)


def evaluate(
    hr_paths: list[Path],
    scale: int,
    method: str = "bicubic",
    model: DSRN | None = None,
    device: torch.device | str = "cpu",
    on_image=None,
    jpeg: int | None = None,
) -> dict:
    """PSNR/SSIM per image and their means for ``method`` ('bicubic' or 'dsrn').

    ``jpeg``: the LR image goes through a JPEG round trip at this quality first.
    """
    if method == "dsrn" and model is None:
        raise ValueError("method 'dsrn' needs a model")
    images = []
    for path in hr_paths:
        hr = modcrop(read_rgb_uint8(path), scale)
        lr = imresize(hr, 1 / scale)
        if jpeg is not None:
            lr = roundtrip(lr, jpeg)
        if method == "bicubic":
            y_sr = y_uint8(imresize(lr, scale))
        else:
            y_sr = sr_luma(model, lr, device)
        y_hr = y_uint8(hr)
        images.append({"name": Path(path).stem, "psnr": psnr(y_sr, y_hr, scale),
                       "ssim": ssim(y_sr, y_hr, scale)})
        if on_image is not None:
            on_image(images[-1])
    return {
        "scale": scale,
        "method": method,
        "jpeg": jpeg,
        "psnr": float(np.mean([i["psnr"] for i in images])),
        "ssim": float(np.mean([i["ssim"] for i in images])),
        "images": images,
    }
