"""Encoding: a :class:`~dsrn_cli.files.picture.Picture` into a file, keeping what the format holds.

Pillow encodes everything it can hold (8-bit, 16-bit grey, float grey; animations;
TIFF pages). 16-bit colour goes to PNG through OpenCV (``cv2.imencode``; 16-bit grey +
alpha through Pillow; ``pngchunks.png_deep`` adds the ICC, EXIF, XMP, DPI and text
chunks) and 16-bit/float colour TIFF through ``tifffile`` (``tiffpages.tiff_deep``: ICC,
DPI, XMP, and the EXIF added). Integer samples read as float32
(``Picture.source_dtype``) are written as integers again (:func:`_integer_frames`).
BMP with alpha is written by ``bmpfile.bmp_bgra`` (Pillow, and OpenCV 4.x, write a
header that leaves the alpha byte undefined). Whatever the chosen format cannot hold (16 bits
in JPEG, alpha in JPEG, partial alpha in GIF, float in PNG, frames in JPEG, metadata) is
converted or dropped with a one-line note, returned to the caller, never silently.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from io import BytesIO
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image, ImageCms, PngImagePlugin

from .bmp import bmp_bgra
from .exifxmp import exif_resized, exif_sized, xmp_sized
from .partfiles import atomic
from .picture import (
    Picture,
    Pixels,
    UpscaleError,
    as_array,
    channels,
    colour_of,
    dtype_of,
    has_alpha,
    partial_alpha,
    peak,
    pil_mode,
    size_of,
)
from .png import colour_chunks, png_colour_info, png_deep
from .profiles import icc_for, icc_space, srgb_profile
from .tiff import tiff_deep
from .webp import webp_alpha_flag

# zlib level for PNG, from speed vs size on DSRN x4 outputs of Set5/Set14 photos (README):
# level 4 encodes 2.3x as fast as Pillow's 6 for files 1.8 % larger (1: 4.4x, +14 %).
DEFAULT_PNG_LEVEL = 4
DEFAULT_QUALITY = 95  # JPEG/WebP quality when --quality is not given

# Pillow format names by file extension, for writing.
FORMATS = {
    ".png": "PNG",
    ".apng": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".gif": "GIF",
    ".bmp": "BMP",
    ".ppm": "PPM",
    ".pgm": "PPM",
}

# What each output format can hold (the README's "what is kept" table).
_INTEGERS = {"int8", "int16", "int32", "int64", "uint32", "uint64"}  # TIFF holds them
_DEPTHS = {"PNG": {"uint8", "uint16"}, "TIFF": {"uint8", "uint16", "float32"} | _INTEGERS}
_ALPHA = {"PNG", "WEBP", "TIFF", "GIF", "BMP"}
_ON_OFF_ALPHA = {"GIF"}  # transparent or opaque: one transparent palette index
_ICC = {"PNG", "JPEG", "WEBP", "TIFF"}
_EXIF = {"PNG", "JPEG", "WEBP", "TIFF"}
_XMP = {"PNG", "JPEG", "WEBP", "TIFF"}
_DPI = {"PNG", "JPEG", "TIFF", "BMP"}
_TEXT = {"PNG"}  # every text chunk
# One comment: JPEG's COM marker, GIF's comment extension, TIFF's ImageDescription.
_COMMENT = {"JPEG", "GIF", "TIFF"}
_NO_GREY = {"WEBP"}  # libwebp holds RGB(A) only
_ANIMATION = {"PNG", "WEBP", "GIF"}
_PAGES = {"TIFF"}


@dataclass
class WriteOptions:
    """How to encode: ``format`` a Pillow name (None: from the extension), ``quality``
    JPEG/WebP 1..100 (None: 95, and a lossless WebP input stays lossless), ``background``
    the RGB colour alpha is composited onto for formats without alpha."""

    format: str | None = None
    quality: int | None = None
    png_level: int = DEFAULT_PNG_LEVEL
    background: tuple[int, int, int] = (255, 255, 255)


def format_for(dst: Path, fmt: str | None = None) -> str:
    """The Pillow format name for ``dst``: ``fmt`` if given, else from the extension."""
    found = fmt or FORMATS.get(dst.suffix.lower())
    if found is None:
        raise UpscaleError(f"cannot tell the output format from {dst.name!r}")
    return found


# ------------------------------------------------------------------- fitting pixels


def _to_depth(a: np.ndarray, dtype: str) -> np.ndarray:
    """Rescale to ``dtype`` (uint8 0..255, uint16 0..65535, float32 0..1), rounding half
    up and clipping."""
    src = a.dtype.name
    if src == dtype:
        return a
    x = a.astype(np.float64) * (peak(dtype) / peak(src))
    if dtype == "float32":
        return x.astype(np.float32)
    return np.clip(np.floor(x + 0.5), 0, peak(dtype)).astype(dtype)


def _integer_frames(frames: list[Pixels], source: str, fmt: str, notes: list[str]
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
        target = np.dtype(np.uint16 if "uint16" in _DEPTHS.get(fmt, ()) else np.uint8)
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
    return np.clip(np.floor(x + 0.5), float(info.min), top).astype(target)


def _composite(a: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    """Alpha over a solid background, at the array's depth: ``H x W x 2/4`` -> ``1/3``.
    Grey + alpha goes onto a grey background only (R = G = B; see :func:`_grey_goes_rgb`)."""
    c = a.shape[2] - 1
    top = peak(a.dtype)
    alpha = a[..., c:].astype(np.float64) / top
    bg = np.array(background[:c], np.float64) * (top / 255.0)
    out = a[..., :c].astype(np.float64) * alpha + bg * (1.0 - alpha)
    if a.dtype == np.float32:
        out = out.astype(np.float32)
    else:
        out = np.clip(np.floor(out + 0.5), 0, top).astype(a.dtype)
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


def _grey_goes_rgb(px: Pixels, fmt: str, opts: WriteOptions) -> bool:
    """Whether grey (+ alpha) pixels become RGB in ``fmt``: WebP holds no grey, and grey
    composited onto a coloured ``--background`` (a format without alpha) is colour. Both
    are 8-bit formats."""
    ch = channels(px)
    r, g, b = opts.background
    return ch in (1, 2) and (fmt in _NO_GREY or (ch == 2 and fmt not in _ALPHA
                                                  and not r == g == b))  # fmt: skip


def _grey_transform(icc: bytes | None, fmt: str, notes: list[str]
                    ) -> tuple[ImageCms.ImageCmsTransform | None, bytes | None]:  # fmt: skip
    """For grey pixels made RGB (:func:`_grey_goes_rgb`): littlecms' transform from their
    grey ICC profile to sRGB, and the profile the RGB pixels then carry (sRGB). No grey
    profile: no transform (R = G = B) and ``icc`` unchanged; an unusable one: dropped."""
    if not icc or icc_space(icc) != "GRAY":
        return None, icc
    why = f"{fmt} holds no grey" if fmt in _NO_GREY else "grey onto a colour --background is RGB"
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


def _fit(px: Pixels, fmt: str, opts: WriteOptions, notes: list[str],
         soft: bool | None = None, grey: ImageCms.ImageCmsTransform | None = None
         ) -> Pixels:  # fmt: skip
    """Convert one frame to what ``fmt`` holds, noting every loss. ``soft``: whether the
    input had partial alpha (None: this frame's alpha is looked at). ``grey``: the
    transform of grey pixels that become RGB (:func:`_grey_transform`)."""
    dt = dtype_of(px).name
    ch = channels(px)
    keep_depth = _DEPTHS.get(fmt, {"uint8"})
    alpha = ch in (2, 4)
    on_off = alpha and fmt in _ON_OFF_ALPHA
    to_rgb = _grey_goes_rgb(px, fmt, opts)
    needs = dt not in keep_depth or (alpha and fmt not in _ALPHA) or on_off or to_rgb or (
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
    if alpha and fmt not in _ALPHA:
        r, g, b = opts.background
        notes.append(f"{fmt} has no alpha: composited onto the background "
                     f"({r},{g},{b}; --background)")  # fmt: skip
        a = _composite(a, opts.background)
    if on_off:
        if partial_alpha(a) if soft is None else soft:
            notes.append(f"{fmt} holds only on/off transparency: the partial alpha was "
                         "reduced to on/off (opaque from 50 %)")  # fmt: skip
        a = _on_off(a)
    if fmt == "BMP" and ch == 2:
        a = np.ascontiguousarray(a[..., [0, 0, 0, 1]])
    return a


# ---------------------------------------------------------------- metadata per format


def _keep_notes(pic: Picture, fmt: str, notes: list[str], text_lost: list[str]) -> None:
    """One note naming the input's metadata ``fmt`` cannot hold (``text_lost``: the keys
    of the text it cannot hold, :func:`_comment`)."""
    chunks = "/".join(colour_chunks(pic))
    texts = ", ".join(repr(k) for k in text_lost)
    lost = [name for name, held, value in (
        ("ICC profile", _ICC, pic.icc), ("EXIF", _EXIF, pic.exif), ("XMP", _XMP, pic.xmp),
        ("DPI", _DPI, pic.dpi), (f"PNG {chunks} chunks", _ICC, chunks),
        (f"text ({texts})", set(), texts)) if value and fmt not in held
    ]  # fmt: skip
    if lost:
        notes.append(f"{fmt} cannot hold the input's {', '.join(lost)}: not kept")


_JPEG_COM_MAX = 65533  # bytes in one JPEG marker segment


def _comment(pic: Picture, fmt: str, notes: list[str]) -> tuple[str | None, list[str]]:
    """The comment ``fmt`` gets and the keys of the input's text it cannot hold (for
    :func:`_keep_notes`). PNG holds every text chunk; JPEG (COM), GIF (comment extension)
    and TIFF (ImageDescription) one comment: the "Comment" entry, or the only entry;
    WebP, BMP and PPM none. A TIFF whose EXIF has an ImageDescription, or a comment too
    long for a JPEG marker, keeps none (said here)."""
    if fmt in _TEXT or not pic.text:
        return None, []
    keys = list(pic.text)
    if fmt not in _COMMENT:
        return None, keys
    key = "Comment" if "Comment" in pic.text else keys[0] if len(keys) == 1 else None
    lost = [k for k in keys if k != key]
    if key is None:
        return None, lost
    why = ""
    if fmt == "TIFF" and pic.exif and 0x010E in exif_resized(pic.exif, (1, 1)):
        why = "its ImageDescription holds the EXIF's"
    elif fmt == "JPEG" and len(pic.text[key].encode("utf-8")) > _JPEG_COM_MAX:
        why = f"over the {_JPEG_COM_MAX} bytes of a COM marker"
    if why:
        notes.append(f"{fmt} text: {why}; the input's text ({key!r}) not kept")
        return None, lost
    return pic.text[key], lost


def _output_icc(pic: Picture, icc: bytes | None, fmt: str, px: Pixels,
                notes: list[str]) -> bytes | None:  # fmt: skip
    """The profile ``fmt`` is given for pixels like ``px``: ``icc`` when its colour space
    is the pixels' (else dropped, said). Without a profile, a PNG's sRGB chunk becomes
    littlecms' sRGB profile in the other formats that hold ICC (RGB pixels); gAMA / cHRM
    alone, or sRGB on grey, are said not kept."""
    if fmt not in _ICC:
        return icc  # said by _keep_notes
    grey = channels(px) in (1, 2)
    icc = icc_for(icc, grey, notes, pixels="the pixels written")
    if icc or fmt == "PNG":
        return icc
    if pic.srgb is not None and not grey:
        return srgb_profile()
    if chunks := colour_chunks(pic):
        notes.append(f"{fmt} cannot hold the input's PNG {'/'.join(chunks)} chunks: not kept")
    return None


def _loop(pic: Picture, fmt: str) -> dict[str, int]:
    """Pillow's ``loop`` option for ``pic.loop`` plays (0 or None: forever): APNG's
    num_plays and WebP's loop count are the plays; a GIF repeats ``plays - 1`` times
    after the first (its NETSCAPE count), and one play is no loop extension."""
    n = pic.loop or 0
    if fmt != "GIF":
        return {"loop": n}
    return {} if n == 1 else {"loop": max(n - 1, 0)}


def _pil_options(pic: Picture, fmt: str, opts: WriteOptions, px: Pixels,
                 comment: str | None = None) -> dict[str, Any]:  # fmt: skip
    o: dict[str, Any] = {}
    if comment and fmt in ("JPEG", "GIF"):
        o["comment"] = comment.encode("utf-8")
    if comment and fmt == "TIFF":
        o["description"] = comment.encode("utf-8")  # Pillow would write str as ASCII
    if fmt in ("JPEG", "WEBP"):
        o["quality"] = opts.quality if opts.quality is not None else DEFAULT_QUALITY
    if fmt == "WEBP" and opts.quality is None and pic.source_format == "WEBP" and pic.lossless:
        o.update(lossless=True, quality=100)  # lossless in, lossless out
    if fmt == "PNG":
        o["compress_level"] = opts.png_level
    if pic.icc and fmt in _ICC:
        o["icc_profile"] = pic.icc
    if pic.exif and fmt in _EXIF:
        o["exif"] = exif_sized(pic.exif, size_of(px))
    if fmt == "TIFF" and pic.xmp:  # XMP is a TIFF tag (700); Pillow's tiffinfo would drop exif
        o["exif"] = exif_sized(pic.exif or b"", size_of(px), pic.xmp)
    if pic.dpi and fmt in _DPI:
        o["dpi"] = pic.dpi
    if pic.xmp and fmt in ("JPEG", "WEBP"):
        o["xmp"] = pic.xmp
    if fmt == "PNG" and (pic.text or pic.xmp or colour_chunks(pic)):
        info = PngImagePlugin.PngInfo()
        for kind, data in png_colour_info(pic):
            info.add(kind, data)
        for k, v in pic.text.items():
            info.add_itxt(k, v) if not v.isascii() else info.add_text(k, v)
        if pic.xmp:
            info.add_itxt("XML:com.adobe.xmp", pic.xmp.decode("utf-8", "replace"))
        o["pnginfo"] = info
    return o


# ----------------------------------------------------------------------- the files


def write_atomic(img: Image.Image, dst: Path, fmt: str, opts: dict) -> None:
    """Save a Pillow image atomically (see :func:`~dsrn_cli.files.partfiles.atomic`)."""
    atomic(dst, lambda f: img.save(f, format=fmt, **opts))


def _save(f: IO[bytes], images: list[Image.Image], fmt: str, o: dict[str, Any]) -> None:
    images[0].save(f, format=fmt, **o)
    if fmt == "WEBP" and any(im.mode == "RGBA" for im in images):
        webp_alpha_flag(f)


@dataclass
class Written:
    """What :func:`write` did: the output size (width, height) and its notes."""

    size: tuple[int, int]
    notes: list[str]


def write(dst: str | Path, pic: Picture, opts: WriteOptions | None = None) -> Written:
    """Encode ``pic`` into ``dst`` atomically (umask respected), keeping its metadata
    where the format can hold it. Returns the size and one-line notes for everything
    converted or dropped. Raises UpscaleError for an unknown output format; OSError from
    the file system."""
    opts = opts or WriteOptions()
    dst = Path(dst)
    fmt = format_for(dst, opts.format)
    notes = list(pic.notes)
    frames = pic.frames
    multi = len(frames) > 1
    if multi and not (fmt in _PAGES or (pic.kind == "animation" and fmt in _ANIMATION)):
        what = "pages" if pic.kind == "pages" else "frames"
        notes.append(f"{fmt} holds one image: only the first of {len(frames)} {what} written")
        frames, multi = frames[:1], False
    if multi and pic.kind == "animation" and fmt in _PAGES:
        notes.append("TIFF pages hold no frame durations: the animation's timing not kept")
    if pic.source_dtype:
        frames = _integer_frames(frames, pic.source_dtype, fmt, notes)
    comment, text_lost = _comment(pic, fmt, notes)
    _keep_notes(pic, fmt, notes, text_lost)
    grey, icc = None, pic.icc
    if any(_grey_goes_rgb(px, fmt, opts) for px in frames):
        grey, icc = _grey_transform(pic.icc, fmt, notes)
    fitted = [_fit(px, fmt, opts, notes, pic.partial_alpha, grey) for px in frames]
    size = size_of(fitted[0])
    pic = replace(pic, icc=_output_icc(pic, icc, fmt, fitted[0], notes),
                  xmp=pic.xmp and xmp_sized(pic.xmp, size))  # fmt: skip
    deep = [pil_mode(px) is None for px in fitted]
    if any(deep) and fmt == "TIFF":
        arrays = [as_array(px) for px in fitted]
        atomic(dst, lambda f: tiff_deep(f, arrays, pic, notes, comment))
    elif deep[0] and fmt == "PNG":
        data = png_deep(as_array(fitted[0]), pic, opts.png_level)
        atomic(dst, lambda f: f.write(data))
    elif fmt == "BMP" and channels(fitted[0]) == 4:
        data = bmp_bgra(as_array(fitted[0]), pic.dpi)
        atomic(dst, lambda f: f.write(data))
    else:
        images = [px if isinstance(px, Image.Image) else Image.fromarray(px) for px in fitted]
        o = _pil_options(pic, fmt, opts, fitted[0], comment)
        if multi:
            o.update(save_all=True, append_images=images[1:])
            if pic.durations and fmt in _ANIMATION:
                o["duration"] = [max(1, round(d)) for d in pic.durations[: len(images)]]
            if fmt in _ANIMATION:
                o.update(_loop(pic, fmt))
            if fmt == "GIF":
                o["disposal"] = 2  # full frames: each replaces the last (keeps transparency)
        atomic(dst, lambda f: _save(f, images, fmt, o))
    return Written(size, list(dict.fromkeys(notes)))
