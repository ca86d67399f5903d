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

from ..files.imageio import read_rgb_uint8
from ..files.jpeg import roundtrip
from ..model.network import DSRN
from ..pixels.color import y_uint8
from ..pixels.resize import imresize, modcrop
from ..runtime.backend import Backend, pick_tile
from ..runtime.ensemble import with_ensemble
from ..runtime.selection import as_backend, pick_backend
from ..runtime.tiling import upscale_luma
from .metrics import ifc, psnr, ssim

# The protocol's sentence per metric, for a footer that names only the metrics measured.
_METRIC_PROTOCOL = {
    "psnr": "peak 255",
    "ssim": "SSIM 11x11 Gaussian, sigma 1.5",
    "ifc": "IFC as MATLAB ifcvec (Sheikh et al. 2005) on the same shaved luma, HR as reference",
}
JPEG_PROTOCOL = (
    "; rows with a JPEG quality Q: the LR image saved as a colour JPEG at Q by Pillow "
    "(4:2:0 subsampling), decoded, then upscaled; scored against the clean HR"
)

# The metrics ``evaluate`` can compute, in table order.
METRICS = ("psnr", "ssim", "ifc")


def protocol(metrics: tuple[str, ...] = METRICS, jpeg: bool = False) -> str:
    """The evaluation protocol in one paragraph, naming only ``metrics`` (spec section 4);
    with ``jpeg``, how the JPEG rows' LR images are made."""
    names = "/".join(m.upper() for m in ("psnr", "ssim") if m in metrics) or "IFC"
    text = (
        "HR mod-cropped to the scale; LR = MATLAB imresize bicubic (antialiased, uint8 per "
        f"pass); {names} on the BT.601 luma (MATLAB rgb2ycbcr, uint8) with `scale` pixels "
        "shaved from each border; "
        + "; ".join(_METRIC_PROTOCOL[m] for m in METRICS if m in metrics)
    )
    return text + (JPEG_PROTOCOL if jpeg else "")


PROTOCOL = protocol()  # all three metrics, clean LR

# Dataset names accepted on the command line -> the names of the paper's Table 1.
TABLE_NAMES = {"set5": "Set5", "set14": "Set14", "b100": "B100", "bsd100": "B100",
               "urban100": "Urban100",
               "manga109": "Manga109"}


def published_table() -> dict:
    return json.loads(resources.files("dsrn_cli.data").joinpath("published.json").read_text())


def published(dataset: str, scale: int, method: str,
              metrics: tuple[str, ...] = ("psnr", "ssim")) -> tuple[float | None, ...] | None:
    """The paper's values of ``metrics`` (default PSNR, SSIM) for a dataset name, scale and
    method, where it has that row; a metric the paper left blank is None."""
    row = {"bicubic": "Bicubic", "dsrn": "DSRN"}.get(method, method)
    table = TABLE_NAMES.get(dataset.lower(), dataset)
    entry = published_table()["table1"].get(row, {}).get(table, {}).get(f"x{scale}")
    return tuple(entry.get(m) for m in metrics) if entry else None


def sr_luma(model: DSRN | Backend, lr_rgb: np.ndarray, ensemble: bool = False) -> np.ndarray:
    """The model's uint8 luma for a uint8 LR RGB image (input: the LR's uint8 luma).

    Tiled as ``dsrn upscale`` tiles it (``tiling.upscale_luma``: the backend's tile, the
    image mirrored past its border), so bench and upscale agree; through a backend (a bare
    model: ``auto`` on its device). ``ensemble`` averages the eight flipped/rotated views.
    """
    y = y_uint8(lr_rgb).astype(np.float32) / np.float32(255.0)
    be = with_ensemble(as_backend(model), ensemble)
    out = upscale_luma(be, y, pick_tile(be, None)) * np.float32(255.0)
    return np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)


def evaluate(
    hr_paths: list[Path],
    scale: int,
    method: str = "bicubic",
    model: DSRN | Backend | None = None,
    device: torch.device | str = "cpu",
    on_image=None,
    metrics: tuple[str, ...] = METRICS,
    ensemble: bool = False,
    backend: str = "auto",
    jpeg: int | None = None,
) -> dict:
    """``metrics`` (PSNR, SSIM, IFC) per image and their means for ``method`` ('bicubic' or
    'dsrn'). IFC, the slowest by far (scripts/bench_metrics.py), can be left out.

    A :class:`DSRN` runs with ``backend`` on ``device``; a ready backend as it is.
    ``ensemble``: dsrn averages its eight flipped/rotated views (8x the time).
    ``jpeg``: the LR image goes through a JPEG round trip at this quality first.
    """
    if method == "dsrn" and model is None:
        raise ValueError("method 'dsrn' needs a model")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric {unknown[0]!r} (one of {', '.join(METRICS)})")
    if isinstance(model, DSRN):
        model = pick_backend(backend, model.to(device), device)
    images = []
    for path in hr_paths:
        hr = modcrop(read_rgb_uint8(path), scale)
        lr = imresize(hr, 1 / scale)
        if jpeg is not None:
            lr = roundtrip(lr, jpeg)
        if method == "bicubic":
            y_sr = y_uint8(imresize(lr, scale))
        else:
            y_sr = sr_luma(model, lr, ensemble)
        y_hr = y_uint8(hr)
        image = {"name": Path(path).stem}
        if "psnr" in metrics:
            image["psnr"] = psnr(y_sr, y_hr, scale)
        if "ssim" in metrics:
            image["ssim"] = ssim(y_sr, y_hr, scale)
        if "ifc" in metrics:
            try:
                image["ifc"] = ifc(y_hr, y_sr, scale)
            except ValueError as e:
                raise ValueError(f"{Path(path).name}: {e}") from None
        images.append(image)
        if on_image is not None:
            on_image(images[-1])
    return {
        "scale": scale,
        "method": method,
        "ensemble": ensemble and method == "dsrn",
        "jpeg": jpeg,
        **{m: float(np.mean([i[m] for i in images])) for m in METRICS if m in metrics},
        "images": images,
    }
