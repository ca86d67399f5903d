"""Image files: the one module the rest of dsrn asks about formats, bit depth, colour and
metadata. ``read(path) -> Picture`` and ``write(path, picture, options)``; the decoding
and encoding live in ``decode`` / ``encode`` (with one module per format's special cases:
``bmp``, ``png``, ``tiff``, ``tiffcolour``, ``webp``, ``jpeg``), the data in ``picture``,
and what each output format holds in ``formats`` (the README's "What is kept" table).
"""

from __future__ import annotations

from collections.abc import Container
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image, ImageColor, ImageOps

from .decode import decoder_extensions, read
from .encode import (
    DEFAULT_PNG_LEVEL,
    DEFAULT_QUALITY,
    WriteOptions,
    Written,
    atomic,
    format_for,
    write,
)
from .exifxmp import orient
from .formats import FORMATS
from .picture import Picture, Pixels, UpscaleError, as_array, pil_mode
from .profiles import srgb_profile

DEFAULT_MAX_PIXELS = 50_000_000  # input pixels; x4 of that is already 800 MP out

ImageLike = TypeVar("ImageLike", Image.Image, np.ndarray)

__all__ = [
    "DEFAULT_MAX_PIXELS", "DEFAULT_PNG_LEVEL", "DEFAULT_QUALITY", "FORMATS", "ImageLike",
    "Picture", "Pixels", "UpscaleError", "WriteOptions", "Written", "as_array", "atomic",
    "decoder_extensions", "format_for", "from_array", "list_images", "orient", "pil_mode",
    "read", "read_rgb_uint8", "srgb_profile", "to_array", "write",
]  # fmt: skip


def __getattr__(name: str) -> frozenset[str]:
    """``IMAGE_EXTS``: the decoders' extensions (computed on first use)."""
    if name == "IMAGE_EXTS":
        return decoder_extensions()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def is_hidden(rel: Path) -> bool:
    """Whether a path relative to a walked folder is hidden: a name starting with ``.``
    (``.git``, macOS ``._x`` sidecars) anywhere along it."""
    return any(part.startswith(".") for part in rel.parts)


def list_files(folder: str | Path, exts: Container[str], recursive: bool = False) -> list[Path]:
    """Files in ``folder`` whose lower-case extension is in ``exts``, sorted by name for
    stable tables; hidden names and anything under a hidden folder are skipped
    (:func:`is_hidden`)."""
    folder = Path(folder)
    pattern = "**/*" if recursive else "*"
    return sorted(
        p
        for p in folder.glob(pattern)
        if p.suffix.lower() in exts and not is_hidden(p.relative_to(folder)) and p.is_file()
    )


def list_images(folder: str | Path, recursive: bool = False) -> list[Path]:
    """Image files in ``folder``: every extension the decoders read
    (:func:`decoder_extensions`), as :func:`list_files` walks."""
    return list_files(folder, decoder_extensions(), recursive)


def parse_colour(text: str) -> tuple[int, int, int]:
    """A colour name or code as Pillow reads it (``white``, ``#202020``, ``rgb(0,0,0)``) as
    8-bit RGB (an alpha given is dropped); ValueError if it names none."""
    return ImageColor.getrgb(text)[:3]


def read_rgb_uint8(path: str | Path) -> np.ndarray:
    """An 8-bit image as ``H x W x 3`` uint8 (grayscale becomes R = G = B), EXIF-oriented."""
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        return np.asarray(im.convert("RGB"))


def to_array(img: Image.Image) -> tuple[np.ndarray, str]:
    """A Pillow image as an array the pipeline takes, and the Pillow mode of the result
    (CMYK and other non-RGB modes become RGB through ``read``'s colour management)."""
    from .decode import pil_pixels
    from .profiles import to_srgb

    if img.mode in ("CMYK", "LAB", "YCbCr", "HSV"):
        img, _ = to_srgb(img, img.info.get("icc_profile"), [])
    a = pil_pixels(img)
    return a, pil_mode(a) or ""


def from_array(a: np.ndarray, mode: str) -> Image.Image:
    """An ``H x W [x C]`` strip or image as a Pillow image of ``mode``."""
    if mode == "I":
        return Image.fromarray(a.astype(np.int32))
    if mode == "I;16":
        return Image.fromarray(a.astype(np.uint16))
    return Image.fromarray(a)
