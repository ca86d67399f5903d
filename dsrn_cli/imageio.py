"""Image files: the one module that knows formats, bit depth, colour profiles and metadata.

Reading decodes a file (EXIF-oriented) into an array plus what the writer needs to keep
(ICC profile, EXIF); writing encodes an image atomically (a temp file beside the target,
renamed into place), with the user's umask. The pixel pipeline sees arrays only.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .partfiles import part_prefix

DEFAULT_MAX_PIXELS = 50_000_000  # input pixels; x4 of that is already 800 MP out
# zlib level for PNG, from speed vs size on DSRN x4 outputs of Set5/Set14 photos (README):
# level 4 encodes 2.3x as fast as Pillow's 6 for files 1.8 % larger (1: 4.4x, +14 %).
DEFAULT_PNG_LEVEL = 4
DEFAULT_QUALITY = 95  # JPEG/WebP quality when --quality is not given
_ORIENTATION = 0x0112

ImageLike = TypeVar("ImageLike", Image.Image, np.ndarray)

# Pillow format names by file extension, for writing.
FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".ppm": "PPM",
    ".pgm": "PPM",
}


class UpscaleError(Exception):
    """A problem with one input or output file, worded as a one-line message for users."""


IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def list_images(folder: str | Path, recursive: bool = False) -> list[Path]:
    """Image files in ``folder`` (by extension), sorted by name for stable tables."""
    folder = Path(folder)
    pattern = "**/*" if recursive else "*"
    return sorted(
        p for p in folder.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_EXTS
    )


def read_rgb_uint8(path: str | Path) -> np.ndarray:
    """An 8-bit image as ``H x W x 3`` uint8 (grayscale becomes R = G = B), EXIF-oriented."""
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        return np.asarray(im.convert("RGB"))


def to_array(img: Image.Image) -> tuple[np.ndarray, str]:
    """A Pillow image as an array the pipeline takes, and the mode to give the result."""
    mode = img.mode
    if mode in ("L", "RGB", "RGBA", "LA"):
        return np.asarray(img), mode
    if mode.startswith("I;16") or mode == "I":
        a = np.asarray(img.convert("I") if mode != "I" else img)
        return np.clip(a, 0, 65535).astype(np.uint16), "I;16" if mode != "I" else "I"
    if mode == "1":
        return np.asarray(img.convert("L")), "L"
    if mode in ("P", "PA"):
        transparent = mode == "PA" or "transparency" in img.info
        target = "RGBA" if transparent else "RGB"
        return np.asarray(img.convert(target)), target
    target = "RGBA" if "A" in mode or "transparency" in img.info else "RGB"
    return np.asarray(img.convert(target)), target


def from_array(a: np.ndarray, mode: str) -> Image.Image:
    if mode == "I":
        return Image.fromarray(a.astype(np.int32))
    if mode == "I;16":
        return Image.fromarray(a.astype(np.uint16))
    return Image.fromarray(a)


def _open(src: Path, max_pixels: int | None) -> Image.Image:
    """Open, check and decode ``src`` fully, turning every failure into an UpscaleError."""
    if src.is_dir():
        raise UpscaleError("is a directory, not an image")
    try:
        if src.stat().st_size == 0:
            raise UpscaleError("empty file")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(src)
    except FileNotFoundError as e:
        raise UpscaleError("no such file") from e
    except PermissionError as e:
        raise UpscaleError("permission denied") from e
    except UnidentifiedImageError as e:
        raise UpscaleError("not an image (or a format Pillow cannot read)") from e
    except Image.DecompressionBombError as e:
        raise UpscaleError(f"refused as a decompression bomb ({e})") from e
    except OSError as e:
        raise UpscaleError(f"cannot read: {e}") from e
    w, h = im.size
    if max_pixels and w * h > max_pixels:
        im.close()
        raise UpscaleError(
            f"{w}x{h} = {w * h:,} pixels exceeds the limit of {max_pixels:,} "
            "(raise --max-pixels if this image is genuine)"
        )
    if getattr(im, "is_animated", False) and getattr(im, "n_frames", 1) > 1:
        im.close()
        raise UpscaleError(f"animated image ({im.n_frames} frames) is not supported")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im.load()
    except (OSError, SyntaxError, ValueError) as e:
        im.close()
        raise UpscaleError(f"truncated or corrupt image ({e})") from e
    return im


# TIFF keeps its layout (size, strips, ICC) in the same IFD Pillow exposes as EXIF;
# copied elsewhere those tags would describe the input, not the output.
_TIFF_LAYOUT = {254, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 280, 281, 284, 317,
                320, 322, 323, 324, 325, 338, 339, 34675}  # fmt: skip


def _exif_of(im: Image.Image) -> Image.Exif:
    exif = im.getexif()
    if im.format == "TIFF":
        for tag in _TIFF_LAYOUT & set(exif):
            del exif[tag]
    return exif


def _fit_mode(img: Image.Image, fmt: str) -> Image.Image:
    """Convert to a mode ``fmt`` can store (JPEG: no alpha, 8 bit; 16 bit: PNG/TIFF only)."""
    mode = img.mode
    if mode in ("I", "I;16") and fmt not in ("PNG", "TIFF"):
        a = np.asarray(img.convert("I"), dtype=np.float64)
        img = Image.fromarray(np.clip(np.floor(a / 257.0 + 0.5), 0, 255).astype(np.uint8))
        mode = "L"
    if fmt == "JPEG" and mode in ("RGBA", "LA"):
        return img.convert("RGB" if mode == "RGBA" else "L")
    if fmt == "PPM" and mode in ("RGBA", "LA"):
        return img.convert("RGB" if mode == "RGBA" else "L")
    if fmt == "BMP" and mode == "LA":
        return img.convert("RGBA")
    return img


def _save_options(
    fmt: str,
    quality: int | None,
    icc: bytes | None,
    exif: bytes | None,
    png_level: int = DEFAULT_PNG_LEVEL,
) -> dict:
    opts: dict[str, Any] = {}
    if fmt in ("JPEG", "WEBP"):
        opts["quality"] = quality if quality is not None else DEFAULT_QUALITY
    if fmt == "PNG":
        opts["compress_level"] = png_level
    if icc and fmt in ("PNG", "JPEG", "WEBP", "TIFF"):
        opts["icc_profile"] = icc
    if exif and fmt in ("PNG", "JPEG", "WEBP"):  # TIFF: EXIF is its own IFD, layout tags
        opts["exif"] = exif
    return opts


def _umask() -> int:
    """The process umask. Linux shows it in /proc; elsewhere it can only be read by setting
    it, briefly, to the strictest mask (other threads may be creating files meanwhile)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def write_atomic(img: Image.Image, dst: Path, fmt: str, opts: dict) -> None:
    """Save to a temp file beside ``dst`` and rename it into place: no half-written files.

    mkstemp creates the file 0600; it gets the mode any new file gets under the user's
    umask (0644 under 022) before the rename, or nobody else could read the outputs.
    """
    try:  # a folder that cannot be written is named, not dsrn's temp file in it
        dst.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=part_prefix(dst.name), suffix=".part")
    except OSError as e:
        raise UpscaleError(f"cannot write to the folder {dst.parent}: {e.strerror}") from e
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            img.save(f, format=fmt, **opts)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class Decoded:
    """One input, decoded and oriented: what the reader stage hands to the device stage."""

    arr: np.ndarray
    mode: str  # Pillow mode of the result
    size: tuple[int, int]  # displayed (oriented) width, height
    icc: bytes | None
    exif: bytes | None  # with the orientation reset to 1


def read_input(src: Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Decoded:
    """Decode ``src`` (EXIF-oriented) into an array; raises UpscaleError for bad files."""
    im = _open(Path(src), max_pixels)
    try:
        icc = im.info.get("icc_profile")
        exif = _exif_of(im)
        oriented = ImageOps.exif_transpose(im) or im
        if _ORIENTATION in exif:
            exif[_ORIENTATION] = 1
        arr, mode = to_array(oriented)
        return Decoded(arr, mode, oriented.size, icc, exif.tobytes() if len(exif) else None)
    finally:
        im.close()


def write_output(
    img: Image.Image,
    dst: Path,
    fmt: str,
    quality: int | None,
    decoded: Decoded,
    png_level: int = DEFAULT_PNG_LEVEL,
) -> tuple[int, int]:
    """Encode ``img`` as ``fmt`` (keeping the input's ICC/EXIF) and write it atomically."""
    img = _fit_mode(img, fmt)
    opts = _save_options(fmt, quality, decoded.icc, decoded.exif, png_level)
    write_atomic(img, Path(dst), fmt, opts)
    return img.size
