"""The Python API: upscale a PIL image or numpy array (:func:`upscale`), or one image file
into another (:func:`upscale_file`).

Both choose the networks (bundled, a weights file, a model or a ready backend; the chain
of factors an output size needs) and hand the pixels to :mod:`dsrn_cli.runtime.render`,
where the array work is.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .files.imageio import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_PNG_LEVEL,
    ImageLike,
    Picture,
    WriteOptions,
    format_for,
    read,
    to_array,
    write,
)
from .model.network import DSRN
from .model.weights import WeightsError, available, fetch_weights, load_model
from .pixels.outsize import SizeSpec, plan_factors
from .runtime.backend import Backend, BackendError
from .runtime.device import pick_device
from .runtime.ensemble import with_ensemble
from .runtime.precision import resolve_precision
from .runtime.render import check_array, render_picture, render_sized
from .runtime.selection import (
    as_backend,
    get_model,
    pick_backend,
    precision_allowed,
    with_precision,
)


def upscale(
    image: ImageLike,
    scale: int | None = None,
    model: str | DSRN | Backend | None = None,
    weights: str | Path | None = None,
    device: str | torch.device = "auto",
    tile: int | None = None,
    backend: str = "auto",
    ensemble: bool = False,
    *,
    outscale: float | None = None,
    size: tuple[int, int] | None = None,
    precision: str = "auto",
) -> ImageLike:
    """Upscale a PIL image or a numpy array; returns the same type.

    ``image``: a PIL image (any mode; palette and 1-bit come back RGB(A)/L) or a uint8
    (0-255) / uint16 (0-65535) / float32 (0-1) array ``H x W`` or ``H x W x 1..4`` (gray,
    gray + alpha, RGB, RGBA); the result keeps the dtype and channels.

    The size: exactly one of ``scale`` (2, 3 or 4: one network pass, ``sW x sH``),
    ``outscale`` (any factor > 1, e.g. 1.5 or 8) or ``size = (width, height)`` (fit
    inside, aspect kept). For the last two the smallest chain of bundled factors that
    reaches the target runs (x4 then x2 for 8), then MATLAB's antialiased bicubic resizes
    down to the exact size (rounded half up; see :mod:`dsrn_cli.pixels.outsize`).

    ``model`` is a bundled configuration name ("lite", "paper"; None = best bundled), an
    already loaded :class:`DSRN` (run on its own device) or a ready backend (then only
    its own factor is chained); ``weights`` a safetensors file instead.
    ``backend``: auto, torch, openvino or onnxruntime. ``ensemble`` averages the eight
    flips/rotations of the input (8x the time). ``precision``: "auto" (bf16 with OpenVINO
    on a CPU with native bf16, within 0.02 dB of fp32; fp32 elsewhere, see
    :func:`~dsrn_cli.runtime.precision.resolve_precision`), "fp32" (exact), or "fp16"/"bf16"
    (CUDA; bf16 with OpenVINO on a CPU); a ready backend runs as it is.

    Raises BackendError for a precision this backend and device cannot run, ValueError
    for a missing/conflicting size or a target not larger than the input, WeightsError
    when the weights do not fit the factor, TypeError for an array that is not
    uint8/uint16/float32.
    """
    spec = SizeSpec(scale=scale, outscale=outscale,
                    width=size[0] if size else None, height=size[1] if size else None)
    spec.check()
    if weights is not None and not isinstance(model, Backend | DSRN):
        model = load_model(fetch_weights(weights), pick_device(device))
    arr, mode = _pixels(image)
    factors, final = plan_factors(arr.shape[1], arr.shape[0], spec, _factors_of(model))
    nets = [_network(s, model, weights, device, backend, precision, ensemble) for s in factors]
    return render_sized(arr, mode, factors, nets, final, tile)


def _pixels(image: ImageLike) -> tuple[np.ndarray, str]:
    """The array of ``image`` and the Pillow mode to return it in ("": an array back)."""
    if isinstance(image, Image.Image):
        return to_array(image)
    arr = np.asarray(image)
    check_array(arr)
    return arr, ""


def _factors_of(model: str | DSRN | Backend | None) -> tuple[int, ...]:
    """The network factors a chain may use: a loaded model's own, else the bundled ones
    (of configuration ``model`` where named; 2, 3 and 4 when none is bundled)."""
    if isinstance(model, Backend | DSRN):
        return (model.cfg.scale,)
    name = model if model not in (None, "auto") else None
    allowed = tuple(sorted({s for n, s in available() if name is None or n == name}))
    return allowed or (2, 3, 4)


def _network(
    s: int,
    model: str | DSRN | Backend | None,
    weights: str | Path | None,
    device: str | torch.device,
    backend: str,
    precision: str,
    ensemble: bool,
) -> Backend:
    """The backend of one x``s`` pass: ``model`` itself when it is a ready backend (run as
    it is), else loaded or picked and set to ``precision``; wrapped for ``ensemble``."""
    if isinstance(model, Backend):
        net = model
    elif isinstance(model, DSRN):
        net = pick_backend(backend, model)
    else:
        net = get_model(s, model, weights, device, backend=backend)
    if net.cfg.scale != s:
        raise WeightsError(f"the model is x{net.cfg.scale}, but x{s} was asked for")
    if not isinstance(model, Backend):
        net = _at_precision(net, precision)
    return with_ensemble(net, ensemble)


def _at_precision(net: Backend, precision: str) -> Backend:
    """``net`` computing in ``precision`` (``auto`` resolved for its backend and device)."""
    if not precision_allowed(precision, net.name, net.device):
        raise BackendError(f"precision {precision!r} needs a CUDA GPU, or bf16 with the "
                           "openvino backend on a CPU; use fp32")  # fmt: skip
    return with_precision(net, resolve_precision(precision, net.name, net.device))


def upscale_file(
    src: Path,
    dst: Path,
    scale: int,
    model_obj: DSRN | Backend,
    tile: int | None = None,
    fmt: str | None = None,
    quality: int | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    png_level: int = DEFAULT_PNG_LEVEL,
    backend: str = "auto",
    background: tuple[int, int, int] = (255, 255, 255),
) -> dict[str, Any]:
    """Upscale the image file ``src`` by ``scale`` into ``dst``; returns a record.

    ``src``: any image the decoders read (EXIF-oriented; 8/16-bit and float, grey, RGB,
    CMYK (converted to sRGB), alpha; every page of a TIFF, every frame of an animation).
    ``dst`` is written atomically (a temp file renamed into place), keeping the input's
    ICC profile, EXIF, XMP, DPI and PNG text where the format can hold them. ``fmt`` is a
    Pillow format name ("PNG", "JPEG", ...); None picks it from ``dst``'s extension.
    ``quality``: JPEG/WebP 1-100 (None: 95; a lossless WebP input stays lossless).
    ``png_level``: zlib level 0-9. ``background``: the RGB colour alpha is composited
    onto for a format without alpha (JPEG). ``model_obj`` is a :class:`DSRN` (run with
    ``backend``, on its own device) or a ready backend of factor ``scale``.

    The record: ``input``, ``output`` (str), ``status`` "done", ``error`` None,
    ``seconds`` (float, wall), ``size_in`` / ``size_out`` ([width, height], pixels),
    ``frames`` (int) and ``notes`` (every conversion the output format forced: bit depth,
    alpha, frames, metadata; each also a ``UserWarning``).
    Raises UpscaleError for a file that cannot be read, decoded or written, or an
    output format that cannot be told from ``dst``.
    """
    t0 = time.perf_counter()
    src, dst = Path(src), Path(dst)
    fmt = format_for(dst, fmt)
    pic = read(src, max_pixels)
    out = render_picture(pic, scale, as_backend(model_obj, backend), tile=tile)
    written = write(dst, out, WriteOptions(fmt, quality, png_level, background))
    for note in written.notes:
        warnings.warn(f"{dst.name}: {note}", UserWarning, stacklevel=2)
    return _record(src, dst, pic, out, written.size, written.notes, time.perf_counter() - t0)


def _record(
    src: Path,
    dst: Path,
    pic: Picture,
    out: Picture,
    size: tuple[int, int],
    notes: list[str],
    seconds: float,
) -> dict[str, Any]:
    """:func:`upscale_file`'s record of one file written (the fields its docstring lists)."""
    return {
        "input": str(src),
        "output": str(dst),
        "status": "done",
        "error": None,
        "seconds": round(seconds, 3),
        "size_in": list(pic.size),
        "size_out": list(size),
        "frames": len(out.frames),
        "notes": notes,
    }
