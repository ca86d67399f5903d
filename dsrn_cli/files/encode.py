"""Encoding: a :class:`~dsrn_cli.files.picture.Picture` into a file, keeping what the format holds.

What each format holds is its record in :mod:`~dsrn_cli.files.formats`; pixels are fitted
to it by :mod:`~dsrn_cli.files.fit`. Pillow encodes everything it can hold (8-bit, 16-bit
grey, float grey; animations; TIFF pages). 16-bit colour goes to PNG through OpenCV
(``cv2.imencode``; 16-bit grey + alpha through Pillow; ``png.png_deep`` adds the ICC,
EXIF, XMP, DPI and text chunks) and 16-bit/float colour TIFF through ``tifffile``
(``tiff.tiff_deep``: ICC, DPI, XMP, and the EXIF added). Integer samples read as float32
(``Picture.source_dtype``) are written as integers again (``fit.integer_frames``).
BMP with alpha is written by ``bmp.bmp_bgra`` (Pillow, and OpenCV 4.x, write a header
that leaves the alpha byte undefined). Whatever the chosen format cannot hold (16 bits
in JPEG, alpha in JPEG, partial alpha in GIF, float in PNG, frames in JPEG, metadata) is
converted or dropped with a one-line note, returned to the caller, never silently.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from PIL import Image, PngImagePlugin

from .bmp import bmp_bgra
from .exifxmp import exif_resized, exif_sized, xmp_sized
from .fit import fit, grey_goes_rgb, grey_transform, integer_frames
from .formats import FORMATS, by_pillow
from .partfiles import atomic
from .picture import (
    Picture,
    Pixels,
    UpscaleError,
    as_array,
    channels,
    pil_mode,
    size_of,
)
from .png import colour_chunks, png_colour_info, png_deep
from .profiles import icc_for, srgb_profile
from .tiff import tiff_deep
from .webp import webp_alpha_flag

# zlib level for PNG, from speed vs size on DSRN x4 outputs of Set5/Set14 photos (README):
# level 4 encodes 2.3x as fast as Pillow's 6 for files 1.8 % larger (1: 4.4x, +14 %).
DEFAULT_PNG_LEVEL = 4
DEFAULT_QUALITY = 95  # JPEG/WebP quality when --quality is not given


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


# ---------------------------------------------------------------- metadata per format


def _keep_notes(pic: Picture, fmt: str, notes: list[str], text_lost: list[str]) -> None:
    """One note naming the input's metadata ``fmt`` cannot hold (``text_lost``: the keys
    of the text it cannot hold, :func:`_comment`)."""
    chunks = "/".join(colour_chunks(pic))
    texts = ", ".join(repr(k) for k in text_lost)
    spec = by_pillow(fmt)
    lost = [name for name, held, value in (
        ("ICC profile", spec.icc, pic.icc), ("EXIF", spec.exif, pic.exif),
        ("XMP", spec.xmp, pic.xmp), ("DPI", spec.dpi, pic.dpi),
        (f"PNG {chunks} chunks", spec.icc, chunks), (f"text ({texts})", False, texts))
        if value and not held
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
    spec = by_pillow(fmt)
    if spec.text or not pic.text:
        return None, []
    keys = list(pic.text)
    if not spec.comment:
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
    if not by_pillow(fmt).icc:
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
    spec = by_pillow(fmt)
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
    if pic.icc and spec.icc:
        o["icc_profile"] = pic.icc
    if pic.exif and spec.exif:
        o["exif"] = exif_sized(pic.exif, size_of(px))
    if fmt == "TIFF" and pic.xmp:  # XMP is a TIFF tag (700); Pillow's tiffinfo would drop exif
        o["exif"] = exif_sized(pic.exif or b"", size_of(px), pic.xmp)
    if pic.dpi and spec.dpi:
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
    spec = by_pillow(fmt)
    pages, animation = spec.frames == "pages", spec.frames == "animation"
    if multi and not (pages or (pic.kind == "animation" and animation)):
        what = "pages" if pic.kind == "pages" else "frames"
        notes.append(f"{fmt} holds one image: only the first of {len(frames)} {what} written")
        frames, multi = frames[:1], False
    if multi and pic.kind == "animation" and pages:
        notes.append("TIFF pages hold no frame durations: the animation's timing not kept")
    if pic.source_dtype:
        frames = integer_frames(frames, pic.source_dtype, fmt, notes)
    comment, text_lost = _comment(pic, fmt, notes)
    _keep_notes(pic, fmt, notes, text_lost)
    grey, icc = None, pic.icc
    if any(grey_goes_rgb(px, fmt, opts.background) for px in frames):
        grey, icc = grey_transform(pic.icc, fmt, notes)
    fitted = [fit(px, fmt, opts.background, notes, pic.partial_alpha, grey) for px in frames]
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
            if pic.durations and animation:
                o["duration"] = [max(1, round(d)) for d in pic.durations[: len(images)]]
            if animation:
                o.update(_loop(pic, fmt))
            if fmt == "GIF":
                o["disposal"] = 2  # full frames: each replaces the last (keeps transparency)
        atomic(dst, lambda f: _save(f, images, fmt, o))
    return Written(size, list(dict.fromkeys(notes)))
