"""The Python API: upscale a PIL image or numpy array, or one file to another.

DSRN is a luma model, so colour images go RGB -> YCbCr: the network upscales Y, the
chroma gets MATLAB bicubic (what the SR papers do), and alpha is upscaled bicubic on
its own. Everything stays float until one rounding and clip at the end, so the result
does not depend on how the work was split (tiles, channels, row strips).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import replace
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
    ImageLike,
    Picture,
    Pixels,
    WriteOptions,
    as_array,
    format_for,
    from_array,
    pil_mode,
    read,
    to_array,
    write,
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
) -> Pixels:
    """Upscale ``arr`` into a new Pillow image of ``mode``, pasting strip by strip.

    The image is the only full-size buffer: no full-size array is built and copied.
    Pixels Pillow cannot hold (16-bit or float colour; ``mode`` None or "") come back as
    an array of ``arr``'s dtype.
    """
    if not mode:
        return upscale_array(arr, scale, net, tile)
    _check_array(arr)
    h, w = arr.shape[:2]
    out = Image.new(mode, (w * scale, h * scale))
    row = 0
    for strip in iter_strips(net, arr, scale, tile):
        out.paste(from_array(strip, mode), (0, row))
        row += strip.shape[0]
    return out


def render_picture(
    pic: Picture, scale: int, net: Backend | DSRN, tile: int | None = None
) -> Picture:
    """Every frame (page) of ``pic`` upscaled, one at a time; the metadata carried over.

    Each input frame is released once upscaled, so memory is the input frames plus the
    output frames (animations are encoded all at once: Pillow's ``save_all``)."""
    todo = list(pic.frames)
    out: list[Pixels] = []
    while todo:
        arr = as_array(todo.pop(0))
        out.append(render(arr, pil_mode(arr) or "", scale, net, tile))
        del arr
    return replace(pic, frames=out, notes=list(pic.notes))


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
    background: tuple[int, int, int] = (255, 255, 255),
) -> dict[str, Any]:
    """Upscale ``src`` into ``dst``; returns a record. Raises UpscaleError for bad files.

    ``fmt`` is a Pillow format name; None picks it from ``dst``'s extension. ``device`` is
    where ``model_obj`` already lives (kept for symmetry; the model decides). ``model_obj``
    is a :class:`DSRN` (run with ``backend``) or a ready backend. ``background``: the RGB
    colour alpha is composited onto for a format without alpha (JPEG). Every conversion
    the output format forces (bit depth, alpha, metadata) is a ``UserWarning`` and is
    listed in the record's ``notes``.
    """
    t0 = time.perf_counter()
    src, dst = Path(src), Path(dst)
    fmt = format_for(dst, fmt)
    pic = read(src, max_pixels)
    out = render_picture(pic, scale, as_backend(model_obj, backend), tile)
    written = write(dst, out, WriteOptions(fmt, quality, png_level, background))
    for note in written.notes:
        warnings.warn(f"{dst.name}: {note}", UserWarning, stacklevel=2)
    return {
        "input": str(src),
        "output": str(dst),
        "status": "done",
        "error": None,
        "seconds": round(time.perf_counter() - t0, 3),
        "size_in": list(pic.size),
        "size_out": list(written.size),
        "frames": len(out.frames),
        "notes": written.notes,
    }
