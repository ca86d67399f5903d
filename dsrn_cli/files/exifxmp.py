"""EXIF and XMP edits shared by the reader and the writer: EXIF orientation applied to
the pixels (:func:`orient`) and reset in the XMP (:func:`xmp_oriented`), a TIFF's layout
tags kept out of its EXIF (:func:`drop_tiff_layout`), and the output's size set in the
EXIF (:func:`exif_sized`, :func:`exif_resized`) and XMP (:func:`xmp_sized`).
"""

from __future__ import annotations

import json
import re

import numpy as np
from PIL import Image

from .picture import TIFF_LAYOUT_TAGS

ORIENTATION = 0x0112


def orient(a: np.ndarray, orientation: int) -> np.ndarray:
    """Apply EXIF ``orientation`` (1..8) to an ``H x W [x C]`` array, as
    ``PIL.ImageOps.exif_transpose`` does to an image."""
    ops = {
        2: lambda x: x[:, ::-1],
        3: lambda x: x[::-1, ::-1],
        4: lambda x: x[::-1],
        5: lambda x: x.swapaxes(0, 1),
        6: lambda x: np.rot90(x, -1),
        7: lambda x: np.rot90(x, 2).swapaxes(0, 1),
        8: lambda x: np.rot90(x, 1),
    }
    op = ops.get(orientation)
    return a if op is None else np.ascontiguousarray(op(a))


def xmp_oriented(xmp: bytes | str | tuple[int, ...] | None) -> bytes | None:
    """The XMP as bytes, its tiff:Orientation reset to 1 (the pixels get oriented)."""
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    elif isinstance(xmp, tuple):  # a TIFF BYTE tag, as some Pillow versions give it
        xmp = bytes(xmp)
    if not xmp:
        return None
    return _xmp_set(xmp, "tiff:Orientation", 1)


def drop_tiff_layout(exif: Image.Exif) -> None:
    """Delete a TIFF's layout tags from its EXIF (they describe the input's strips, not
    the output's), and tifffile's own entries (:func:`_drop_tifffile_tags`)."""
    for tag in TIFF_LAYOUT_TAGS & set(exif):
        del exif[tag]
    _drop_tifffile_tags(exif)


def _drop_tifffile_tags(exif: Image.Exif) -> None:
    """tifffile's own entries in a TIFF it wrote: its ImageDescription of the input
    array's shape (JSON ``{"shape": [...]}`` or ``shape=(...)``: wrong for the larger
    output, and tifffile warns reading a file that carries it) and its default Software
    name. Any other description or software is the file's own, kept."""
    desc = exif.get(0x010E)
    if isinstance(desc, str) and re.match(r"\s*shape=\(", desc):
        del exif[0x010E]
    elif isinstance(desc, str) and desc.lstrip().startswith("{"):
        try:
            meta = json.loads(desc)
        except ValueError:
            meta = None
        if isinstance(meta, dict) and "shape" in meta:
            del exif[0x010E]
    if exif.get(0x0131) == "tifffile.py":
        del exif[0x0131]


def xmp_sized(xmp: bytes, size: tuple[int, int]) -> bytes:
    """The XMP with tiff:ImageWidth / ImageLength and exif:PixelXDimension /
    PixelYDimension (attributes or elements) set to the output's size."""
    w, h = size
    for name, value in (("tiff:ImageWidth", w), ("exif:PixelXDimension", w),
                        ("tiff:ImageLength", h), ("exif:PixelYDimension", h)):  # fmt: skip
        xmp = _xmp_set(xmp, name, value)
    return xmp


def _xmp_set(xmp: bytes, name: str, value: int) -> bytes:
    """The XMP with the whole-number property ``name`` set to ``value``, in attribute
    (``tiff:ImageWidth="16"``) and element (``<tiff:ImageWidth>16</...>``) form."""
    n = re.escape(name.encode())
    attr = rb"(\b" + n + rb"\s*=\s*[\"']\s*)\d+"
    elem = rb"(<" + n + rb">\s*)\d+"
    for pattern in (attr, elem):
        xmp = re.sub(pattern, lambda m: m[1] + b"%d" % value, xmp)
    return xmp


def exif_sized(exif: bytes, size: tuple[int, int], xmp: bytes | None = None) -> bytes:
    """The EXIF with PixelXDimension / PixelYDimension set to the output's size (and,
    for TIFF, the XMP tag 700)."""
    e = exif_resized(exif, size)
    if xmp:
        e[700] = xmp
    return e.tobytes()


def exif_resized(exif: bytes, size: tuple[int, int]) -> Image.Exif:
    e = Image.Exif()
    e.load(exif)
    ifd = e.get_ifd(0x8769)
    if 0xA002 in ifd or 0xA003 in ifd:
        ifd[0xA002], ifd[0xA003] = size
    return e
