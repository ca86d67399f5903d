"""Fitting pixels to an output format: depth, alpha, grey, for :func:`~dsrn_cli.files.encode.write`.

Each function converts what the format's record (:mod:`~dsrn_cli.files.formats`) says it
cannot hold and appends a one-line note saying so.
"""

from __future__ import annotations

from io import BytesIO

import numpy as np
from PIL import Image, ImageCms

from .formats import by_pillow
from .picture import (
    Pixels,
    as_array,
    channels,
    colour_of,
    dtype_of,
    has_alpha,
    partial_alpha,
    peak,
    quantize,
    round_half_up,
)
from .profiles import icc_space, srgb_profile


def _to_depth(a: np.ndarray, dtype: str) -> np.ndarray:
    """Rescale to ``dtype`` (uint8 0..255, uint16 0..65535, float32 0..1), rounding half
    up and clipping."""
    src = a.dtype.name
    if src == dtype:
        return a
    x = a.astype(np.float64) * (peak(dtype) / peak(src))
    if dtype == "float32":
        return x.astype(np.float32)
    return quantize(x, dtype)


def integer_frames(frames: list[Pixels], source: str, fmt: str, notes: list[str]
                   ) -> list[Pixels]:  # fmt: skip
    """float32 frames of integer samples (``Picture.source_dtype`` ``source``) as integers
    again. TIFF: in ``source``, rounded (clipping to its range said). Other formats: their
    depth (PNG 16-bit, the rest 8-bit), the values rounded and written as they are where
    they all fit 0..65535 / 0..255, else mapped linearly from their own min..max onto it
    (said; a flat image beyond it is clipped). Alpha (0..1) goes to the type's maximum.
    Frames of other types are left as they are."""
    floats = [as_array(px) for px in frames if dtype_of(px) == np.float32]
    if not floats:
        return frames
    colour = [colour_of(a) for a in floats]
    lo = min(float(np.floor(c.min() + 0.5)) for c in colour)
    hi = max(float(np.floor(c.max() + 0.5)) for c in colour)
    bits = np.dtype(source).itemsize * 8
    what = f"{bits}-bit {'signed ' if source.startswith('int') else ''}integer samples"
    if fmt == "TIFF":
        target = np.dtype(source)
        info = np.iinfo(target)
        if lo < info.min or hi > info.max:
            notes.append(f"TIFF {what}: values beyond {info.min}..{info.max} clipped")
        span = None
    else:
        target = np.dtype(np.uint16 if "uint16" in by_pillow(fmt).depths else np.uint8)
        info = np.iinfo(target)
        depth = f"written as {info.bits}-bit"
        if lo >= 0 and hi <= info.max:
            notes.append(f"{fmt} cannot hold {what}: {depth} (values kept)")
            span = None
        elif lo == hi:
            notes.append(f"{fmt} cannot hold {what}: {depth} (values clipped to 0..{info.max})")
            span = None
        else:
            notes.append(f"{fmt} cannot hold {what}: {depth}, values mapped linearly from "
                         f"their own min..max onto 0..{info.max}")  # fmt: skip
            span = (lo, hi)
    return [_as_integers(as_array(px), target, span) if dtype_of(px) == np.float32 else px
            for px in frames]  # fmt: skip


def _as_integers(a: np.ndarray, target: np.dtype, span: tuple[float, float] | None
                 ) -> np.ndarray:  # fmt: skip
    """float32 colour rounded half up into ``target`` (clipped to its range), or mapped
    from ``span`` onto 0..its maximum first; alpha (0..1) scaled to its maximum."""
    info = np.iinfo(target)
    x = a.astype(np.float64)
    alpha = has_alpha(a)
    c = colour_of(x)
    if span is not None:
        lo, hi = span
        c[...] = (c - lo) * (info.max / (hi - lo))
    if alpha:
        x[..., -1] = np.clip(x[..., -1], 0.0, 1.0) * info.max
    top = float(info.max)
    top = np.nextafter(top, 0.0) if top > info.max else top  # 64-bit: 2**63 - 1 rounds up
    return round_half_up(x, float(info.min), top).astype(target)


def _composite(a: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    """Alpha over a solid background, at the array's depth: ``H x W x 2/4`` -> ``1/3``.
    Grey + alpha goes onto a grey background only (R = G = B; see :func:`grey_goes_rgb`)."""
    c = a.shape[2] - 1
    top = peak(a.dtype)
    alpha = a[..., c:].astype(np.float64) / top
    bg = np.array(background[:c], np.float64) * (top / 255.0)
    out = a[..., :c].astype(np.float64) * alpha + bg * (1.0 - alpha)
    if a.dtype == np.float32:
        out = out.astype(np.float32)
    else:
        out = quantize(out, a.dtype)
    return out[..., 0] if c == 1 else out


def _on_off(a: np.ndarray) -> np.ndarray:
    """uint8 grey/RGB + alpha as RGBA with alpha 0 or 255 (opaque from 128, 50 %), every
    transparent pixel black, so the palette gets one transparent colour (Pillow writes
    grey + alpha into GIF without its alpha, and keeps only alpha 0 transparent). Nothing
    transparent: the grey or RGB alone (a grey image keeps its 256 exact levels)."""
    opaque = a[..., -1:] >= 128
    if opaque.all():
        return np.ascontiguousarray(a[..., 0] if a.shape[2] == 2 else a[..., :3])
    rgb = a[..., :1].repeat(3, 2) if a.shape[2] == 2 else a[..., :3]
    return np.concatenate([np.where(opaque, rgb, 0), opaque * np.uint8(255)], 2).astype(np.uint8)


def grey_goes_rgb(px: Pixels, fmt: str, background: tuple[int, int, int]) -> bool:
    """Whether grey (+ alpha) pixels become RGB in ``fmt``: WebP holds no grey, and grey
    composited onto a coloured ``--background`` (a format without alpha) is colour. Both
    are 8-bit formats."""
    ch = channels(px)
    r, g, b = background
    spec = by_pillow(fmt)
    return ch in (1, 2) and (not spec.grey or (ch == 2 and spec.alpha == "none"
                                               and not r == g == b))  # fmt: skip


def grey_transform(icc: bytes | None, fmt: str, notes: list[str]
                   ) -> tuple[ImageCms.ImageCmsTransform | None, bytes | None]:  # fmt: skip
    """For grey pixels made RGB (:func:`grey_goes_rgb`): littlecms' transform from their
    grey ICC profile to sRGB, and the profile the RGB pixels then carry (sRGB). No grey
    profile: no transform (R = G = B) and ``icc`` unchanged; an unusable one: dropped."""
    if not icc or icc_space(icc) != "GRAY":
        return None, icc
    why = (f"{fmt} holds no grey" if not by_pillow(fmt).grey
           else "grey onto a colour --background is RGB")  # fmt: skip
    try:
        src = ImageCms.ImageCmsProfile(BytesIO(icc))
        srgb = ImageCms.createProfile("sRGB")
        transform = ImageCms.buildTransform(src, srgb, "L", "RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        notes.append(f"{why}: the grey ICC profile is unusable, grey written as R = G = B "
                     "without it")  # fmt: skip
        return None, None
    notes.append(f"{why}: grey converted to sRGB through its ICC profile (tagged sRGB)")
    return transform, srgb_profile()


def _grey_to_rgb(a: np.ndarray, transform: ImageCms.ImageCmsTransform | None) -> np.ndarray:
    """uint8 grey (+ alpha) as RGB (+ alpha): through ``transform``, else R = G = B."""
    grey = a if a.ndim == 2 else a[..., 0]
    if transform is None:
        rgb = np.repeat(grey[..., None], 3, 2)
    else:
        rgb = np.asarray(ImageCms.applyTransform(Image.fromarray(grey), transform))
    return rgb if a.ndim == 2 else np.dstack([rgb, a[..., 1]])


def fit(px: Pixels, fmt: str, background: tuple[int, int, int], notes: list[str],
        soft: bool | None = None, grey: ImageCms.ImageCmsTransform | None = None
        ) -> Pixels:  # fmt: skip
    """Convert one frame to what ``fmt`` holds, noting every loss. ``background``: the
    RGB colour (0..255) alpha is composited onto where ``fmt`` has none. ``soft``: whether the
    input had partial alpha (None: this frame's alpha is looked at). ``grey``: the
    transform of grey pixels that become RGB (:func:`grey_transform`)."""
    dt = dtype_of(px).name
    ch = channels(px)
    spec = by_pillow(fmt)
    keep_depth = spec.depths
    alpha = ch in (2, 4)
    on_off = alpha and spec.alpha == "on-off"
    to_rgb = grey_goes_rgb(px, fmt, background)
    needs = dt not in keep_depth or (alpha and spec.alpha == "none") or on_off or to_rgb or (
        fmt == "BMP" and ch == 2) or (isinstance(px, Image.Image) and px.mode == "I")  # fmt: skip
    if not needs:
        return px
    a = as_array(px)
    if dt not in keep_depth:
        target = "uint16" if "uint16" in keep_depth else "uint8"
        what = "float" if dt == "float32" else "16-bit"
        clip = " (values clipped to 0..1)" if dt == "float32" else ""
        notes.append(f"{fmt} cannot hold {what} samples: written as "
                     f"{target.replace('uint', '')}-bit{clip}")  # fmt: skip
        a = _to_depth(a, target)
    if to_rgb:
        a = _grey_to_rgb(a, grey)
    if alpha and spec.alpha == "none":
        r, g, b = background
        notes.append(f"{fmt} has no alpha: composited onto the background "
                     f"({r},{g},{b}; --background)")  # fmt: skip
        a = _composite(a, background)
    if on_off:
        if partial_alpha(a) if soft is None else soft:
            notes.append(f"{fmt} holds only on/off transparency: the partial alpha was "
                         "reduced to on/off (opaque from 50 %)")  # fmt: skip
        a = _on_off(a)
    if fmt == "BMP" and ch == 2:
        a = np.ascontiguousarray(a[..., [0, 0, 0, 1]])
    return a
