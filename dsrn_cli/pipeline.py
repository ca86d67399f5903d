"""The Python API: upscale a PIL image or numpy array, or one file to another.

DSRN is a luma model, so colour images go RGB -> YCbCr: the network upscales Y, the
chroma gets MATLAB bicubic (what the SR papers do), and alpha is upscaled bicubic on
its own. Everything stays float until one rounding and clip at the end, so the result
does not depend on how the work was split (tiles, channels, row strips).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .assemble import assemble_array, iter_strips
from .backends import Backend, as_backend, get_model, pick_backend
from .ensemble import with_ensemble
from .imageio import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_PNG_LEVEL,
    FORMATS,
    ImageLike,
    UpscaleError,
    from_array,
    read_input,
    to_array,
    write_output,
)
from .model import DSRN
from .weights import WeightsError


def upscale_array(
    arr: np.ndarray, scale: int, net: Backend | DSRN, tile: int | None = None
) -> np.ndarray:
    """uint8 / uint16 ``H x W``, ``H x W x 2`` (gray+alpha), ``x 3`` or ``x 4`` -> same dtype."""
    _check_array(arr)
    return assemble_array(net, arr, scale, tile)


def _check_array(arr: np.ndarray) -> None:
    if arr.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"expected a uint8 or uint16 array, got {arr.dtype}")
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 2, 3, 4)):
        raise ValueError(f"expected H x W or H x W x 1..4, got shape {arr.shape}")


def render(
    arr: np.ndarray, mode: str, scale: int, net: Backend | DSRN, tile: int | None = None
) -> Image.Image:
    """Upscale ``arr`` into a new Pillow image of ``mode``, pasting strip by strip.

    The image is the only full-size buffer: no full-size array is built and copied.
    """
    _check_array(arr)
    h, w = arr.shape[:2]
    out = Image.new(mode, (w * scale, h * scale))
    row = 0
    for strip in iter_strips(net, arr, scale, tile):
        out.paste(from_array(strip, mode), (0, row))
        row += strip.shape[0]
    return out


def upscale(
    image: ImageLike,
    scale: int,
    model: str | DSRN | Backend | None = None,
    weights: str | Path | None = None,
    device: str | torch.device = "auto",
    tile: int | None = None,
    backend: str = "auto",
    ensemble: bool = False,
) -> ImageLike:
    """Upscale a PIL image or uint8/uint16 array by ``scale``; returns the same type.

    ``model`` is a bundled configuration name ("lite", "paper"; None = best bundled), an
    already loaded :class:`DSRN` (run on its own device) or a ready backend; ``weights``
    a safetensors file instead. ``backend``: auto, torch, openvino or onnxruntime.
    ``ensemble`` averages the eight flips/rotations of the input (8x the time).
    """
    if isinstance(model, Backend):
        net = model
    elif isinstance(model, DSRN):
        net = pick_backend(backend, model)
    else:
        net = get_model(scale, model, weights, device, backend=backend)
    if net.cfg.scale != scale:
        raise WeightsError(f"the model is x{net.cfg.scale}, but x{scale} was asked for")
    net = with_ensemble(net, ensemble)
    if isinstance(image, Image.Image):
        arr, mode = to_array(image)
        return render(arr, mode, scale, net, tile)
    return upscale_array(np.asarray(image), scale, net, tile)


def upscale_file(
    src: Path,
    dst: Path,
    scale: int,
    model_obj: DSRN | Backend,
    device: str | torch.device | None = None,
    tile: int | None = None,
    fmt: str | None = None,
    quality: int | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    png_level: int = DEFAULT_PNG_LEVEL,
    backend: str = "auto",
) -> dict[str, Any]:
    """Upscale ``src`` into ``dst``; returns a record. Raises UpscaleError for bad files.

    ``fmt`` is a Pillow format name; None picks it from ``dst``'s extension. ``device`` is
    where ``model_obj`` already lives (kept for symmetry; the model decides). ``model_obj``
    is a :class:`DSRN` (run with ``backend``) or a ready backend.
    """
    t0 = time.perf_counter()
    src, dst = Path(src), Path(dst)
    fmt = fmt or FORMATS.get(dst.suffix.lower())
    if fmt is None:
        raise UpscaleError(f"cannot tell the output format from {dst.name!r}")
    decoded = read_input(src, max_pixels)
    out = render(decoded.arr, decoded.mode, scale, as_backend(model_obj, backend), tile)
    size_out = write_output(out, dst, fmt, quality, decoded, png_level)
    return {
        "input": str(src),
        "output": str(dst),
        "status": "done",
        "error": None,
        "seconds": round(time.perf_counter() - t0, 3),
        "size_in": list(decoded.size),
        "size_out": list(size_out),
    }
