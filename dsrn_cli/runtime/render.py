"""Arrays in, arrays (or Pillow images) out: one picture upscaled through a backend.

DSRN is a luma model, so colour images go RGB -> YCbCr: the network upscales Y, the
chroma gets MATLAB bicubic (what the SR papers do), and alpha is upscaled bicubic on
its own. Everything stays float until one rounding and clip at the end, so the result
does not depend on how the work was split (tiles, channels, row strips; ``.strips``).
A chain of passes (x4 then x2) and a final resize to an exact size are
:func:`render_sized`; every page or frame of a :class:`~dsrn_cli.files.picture.Picture`
is :func:`render_picture`.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from PIL import Image

from ..files.imageio import Picture, Pixels, as_array, from_array, pil_mode
from ..files.picture import colour_of, peak, round_half_up
from ..model.network import DSRN
from ..pixels.resize import imresize
from .backend import Backend
from .strips import assemble_array, iter_strips


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
    check_array(arr)
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


def check_array(arr: np.ndarray) -> None:
    """Raise what :func:`upscale_array` raises for an array it cannot take: TypeError for
    a dtype other than uint8/uint16/float32, ValueError for NaN/infinite float32 values or
    a shape other than ``H x W`` or ``H x W x 1..4``."""
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
    full = peak(arr.dtype)
    planes = arr[..., None] if arr.ndim == 2 else arr
    n = planes.shape[2]
    out = np.empty((h, w, n), dtype=arr.dtype)
    alpha = n in (2, 4) and not np.all(planes[..., -1] == full)
    if alpha:
        a_lr = planes[..., -1].astype(np.float64) / full
        a_hr = imresize(a_lr, size=(h, w))
        seen = a_hr * full >= (0.5 * full / 65535 if is_float else 0.5)
        inv = np.divide(1.0, a_hr, out=np.zeros_like(a_hr), where=seen)
    for c in range(n):
        if alpha and c == n - 1:
            plane = np.clip(a_hr, 0.0, 1.0) * full
        elif alpha:
            plane = imresize(planes[..., c].astype(np.float64) * a_lr, size=(h, w)) * inv
        else:
            plane = imresize(planes[..., c].astype(np.float64), size=(h, w))
        out[..., c] = plane if is_float else round_half_up(plane, 0, full)
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
    check_array(arr)
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
