"""The Python API: upscale a PIL image or numpy array, or one file to another.

DSRN is a luma model, so colour images go RGB -> YCbCr: the network upscales Y, the
chroma gets MATLAB bicubic (what the SR papers do), and alpha is upscaled bicubic on
its own. Everything stays float until one rounding and clip at the end, so the result
does not depend on how the work was split (tiles, channels, row strips).
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import replace
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
from .files.picture import colour_of
from .model.network import DSRN
from .model.weights import WeightsError, available, fetch_weights, load_model
from .pixels.outsize import SizeSpec, plan_factors
from .pixels.resize import imresize
from .runtime.backends import (
    Backend,
    BackendError,
    as_backend,
    get_model,
    pick_backend,
    precision_allowed,
    resolve_precision,
    with_precision,
)
from .runtime.device import pick_device
from .runtime.ensemble import with_ensemble
from .runtime.strips import assemble_array, iter_strips


def upscale_array(
    arr: np.ndarray, scale: int, net: Backend | DSRN, tile: int | None = None
) -> np.ndarray:
    """Upscale an array by the network's factor ``scale``; returns a new array.

    ``arr``: uint8 (0-255), uint16 (0-65535) or float32 (0-1, a little outside allowed),
    shape ``H x W`` (gray), ``H x W x 1``, ``H x W x 2`` (gray + alpha), ``H x W x 3``
    (RGB) or ``H x W x 4`` (RGBA). The result has the same dtype and channels, shape
    ``sH x sW``; float32 comes back neither rounded nor clipped (alpha clipped to 0-1).
    float32 colour beyond 0-1 (HDR, integer data read as float) is upscaled mapped from its
    own min..max onto 0-1 and mapped back (:func:`_float_range`): the network sees the
    range it was trained on, and a flat image stays exactly flat.
    Luma goes through the network, chroma and alpha through MATLAB bicubic
    (``imresize``); partial alpha is resampled premultiplied (colour x alpha, divided
    back). ``tile``: tile side in LR pixels (None: the backend's default). Raises
    TypeError for another dtype, ValueError for another shape or NaN/infinite values.
    """
    _check_array(arr)
    span = _float_range(arr)
    if span is None:
        return assemble_array(net, arr, scale, tile)
    return _from_unit(assemble_array(net, _to_unit(arr, span), scale, tile), span)


def _float_range(arr: np.ndarray) -> tuple[float, float] | None:
    """For float32 colour (alpha left out) beyond 0..1: ``(lo, hi)``, the values' own
    smallest and largest (so the network sees their whole range on 0..1, wherever they
    lie); None for other dtypes and for values within 0..1 (upscaled as they are)."""
    if arr.dtype != np.float32:
        return None
    colour = colour_of(arr)
    if colour.size == 0:
        return None
    lo, hi = float(colour.min()), float(colour.max())
    return None if lo >= 0.0 and hi <= 1.0 else (lo, hi)


def _to_unit(arr: np.ndarray, span: tuple[float, float]) -> np.ndarray:
    """A float32 copy with the colour mapped from ``span`` onto 0..1 (alpha as it is); a
    flat span (lo == hi) onto 0.5, which :func:`_from_unit` maps back to lo exactly."""
    lo, hi = span
    out = arr.copy()
    c = colour_of(out)
    c[...] = 0.5 if hi == lo else ((c.astype(np.float64) - lo) / (hi - lo)).astype(np.float32)
    return out


def _from_unit(a: np.ndarray, span: tuple[float, float]) -> np.ndarray:
    """The inverse of :func:`_to_unit`, in place; returns ``a``."""
    lo, hi = span
    c = colour_of(a)
    c[...] = (c.astype(np.float64) * (hi - lo) + lo).astype(np.float32)
    return a


def _check_array(arr: np.ndarray) -> None:
    if arr.dtype not in (np.uint8, np.uint16, np.float32):
        hint = " (convert with .astype(np.float32))" if arr.dtype.kind == "f" else ""
        raise TypeError(f"expected a uint8, uint16 or float32 array, got {arr.dtype}{hint}")
    if arr.dtype == np.float32 and not np.isfinite(arr).all():
        raise ValueError("the array holds NaN or infinite values")
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 2, 3, 4)):
        raise ValueError(f"expected H x W or H x W x 1..4, got shape {arr.shape}")


def resize_to(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize ``arr`` to ``size = (width, height)`` with MATLAB's bicubic.

    Shrinking is antialiased (the kernel widened by 1/scale, as MATLAB ``imresize`` with
    an output size does). Each channel is resized on its own in float64 and rounded once,
    half up, and clipped to the dtype's range: ``im2uint8(imresize(x, [H W]))`` for
    uint8; float32 is neither rounded nor clipped. Partial alpha: the colour is resized
    premultiplied by alpha and divided back (0 where alpha rounds to 0), alpha clipped
    to its range. ``arr``: uint8, uint16 or float32, ``H x W`` or ``H x W x C``.
    """
    w, h = size
    if arr.shape[1] == w and arr.shape[0] == h:
        return arr
    is_float = arr.dtype == np.float32
    peak = 1.0 if is_float else float(np.iinfo(arr.dtype).max)
    planes = arr[..., None] if arr.ndim == 2 else arr
    n = planes.shape[2]
    out = np.empty((h, w, n), dtype=arr.dtype)
    alpha = n in (2, 4) and not np.all(planes[..., -1] == peak)
    if alpha:
        a_lr = planes[..., -1].astype(np.float64) / peak
        a_hr = imresize(a_lr, size=(h, w))
        seen = a_hr * peak >= (0.5 * peak / 65535 if is_float else 0.5)
        inv = np.divide(1.0, a_hr, out=np.zeros_like(a_hr), where=seen)
    for c in range(n):
        if alpha and c == n - 1:
            plane = np.clip(a_hr, 0.0, 1.0) * peak
        elif alpha:
            plane = imresize(planes[..., c].astype(np.float64) * a_lr, size=(h, w)) * inv
        else:
            plane = imresize(planes[..., c].astype(np.float64), size=(h, w))
        out[..., c] = plane if is_float else np.clip(np.floor(plane + 0.5), 0, peak)
    return out[..., 0] if arr.ndim == 2 else out


def render_sized(
    arr: np.ndarray,
    mode: str,
    factors: list[int],
    nets: list[Backend | DSRN],
    size: tuple[int, int] | None = None,
    tile: int | None = None,
) -> Pixels:
    """Run the network passes ``factors`` (one net each), then resize down to ``size``.

    One pass without a resize is :func:`render` (the strip-by-strip path). A chain
    (e.g. x4 then x2) hands each pass's rounded output to the next; the final resize is
    :func:`resize_to`. ``size`` None keeps the network's size.
    """
    if len(factors) == 1 and (size is None or size == (arr.shape[1] * factors[0],
                                                       arr.shape[0] * factors[0])):
        return render(arr, mode, factors[0], nets[0], tile)
    for s, net in zip(factors, nets, strict=True):
        arr = upscale_array(arr, s, net, tile)
    if size is not None:
        arr = resize_to(arr, size)
    return from_array(arr, mode) if mode else arr


def render(
    arr: np.ndarray, mode: str, scale: int, net: Backend | DSRN, tile: int | None = None
) -> Pixels:
    """Upscale ``arr`` by ``scale`` into a new Pillow image of ``mode``, strip by strip.

    ``arr``: uint8/uint16/float32 ``H x W`` or ``H x W x 1..4`` as :func:`upscale_array`
    takes; ``mode``: the Pillow mode for the result ("L", "LA", "RGB", "RGBA", "I;16",
    "I", "F"), as :func:`dsrn_cli.files.imageio.to_array` returns it. The result is ``sW x sH``.
    The image is the only full-size buffer: no full-size array is built and copied.
    Pixels Pillow cannot hold (16-bit or float colour: ``mode`` "") come back as an
    array of ``arr``'s dtype. Raises TypeError / ValueError for an array of another
    dtype / shape.
    """
    if not mode:
        return upscale_array(arr, scale, net, tile)
    _check_array(arr)
    h, w = arr.shape[:2]
    out = Image.new(mode, (w * scale, h * scale))
    row = 0
    span = _float_range(arr)
    for strip in iter_strips(net, arr if span is None else _to_unit(arr, span), scale, tile):
        if span is not None:
            strip = _from_unit(strip.copy(), span)  # the strip may be the assembler's buffer
        out.paste(from_array(strip, mode), (0, row))
        row += strip.shape[0]
    return out


def render_picture(
    pic: Picture,
    factors: int | list[int],
    nets: Backend | DSRN | list[Backend | DSRN],
    size: tuple[int, int] | None = None,
    tile: int | None = None,
) -> Picture:
    """Every frame (page) of ``pic`` upscaled by :func:`render_sized`, one at a time; the
    metadata carried over. ``factors``/``nets``: one network pass or a chain; ``size``
    the final (width, height) of the first frame (None: the network's). A TIFF page of
    another size than the first is scaled by the same factors (:func:`_frame_size`).

    Each input frame is released once upscaled, so memory is the input frames plus the
    output frames (animations are encoded all at once: Pillow's ``save_all``)."""
    factors = [factors] if isinstance(factors, int) else factors
    nets = nets if isinstance(nets, list) else [nets]
    first = pic.size
    todo = list(pic.frames)
    out: list[Pixels] = []
    while todo:
        arr = as_array(todo.pop(0))
        own = _frame_size((arr.shape[1], arr.shape[0]), first, size)
        out.append(render_sized(arr, pil_mode(arr) or "", factors, nets, own, tile))
        del arr
    return replace(pic, frames=out, notes=list(pic.notes))


def _frame_size(
    frame: tuple[int, int], first: tuple[int, int], size: tuple[int, int] | None
) -> tuple[int, int] | None:
    """The final (width, height) of a ``frame``-sized page when the first page, ``first``,
    becomes ``size``: the same scale on each axis, rounded half up (None: the network's)."""
    if size is None or frame == first:
        return size
    (w, h), (sw, sh), (fw, fh) = frame, size, first
    return max(1, math.floor(w * sw / fw + 0.5)), max(1, math.floor(h * sh / fh + 0.5))


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
    if isinstance(model, Backend | DSRN):
        allowed: tuple[int, ...] = (model.cfg.scale,)
    else:
        name = model if model not in (None, "auto") else None
        allowed = tuple(sorted({s for n, s in available() if name is None or n == name}))
    if isinstance(image, Image.Image):
        arr, mode = to_array(image)
    else:
        arr, mode = np.asarray(image), ""
        _check_array(arr)
    factors, final = plan_factors(arr.shape[1], arr.shape[0], spec, allowed or (2, 3, 4))
    nets = []
    for s in factors:
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
        nets.append(with_ensemble(net, ensemble))
    if mode:
        return render_sized(arr, mode, factors, nets, final, tile)
    for s, net in zip(factors, nets, strict=True):
        arr = upscale_array(arr, s, net, tile)
    return resize_to(arr, final)


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
    device: str | torch.device | None = None,
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
    onto for a format without alpha (JPEG). ``device`` is where ``model_obj`` already
    lives (kept for symmetry; the model decides). ``model_obj`` is a :class:`DSRN` (run
    with ``backend``) or a ready backend of factor ``scale``.

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
