"""What a decoded image file holds: its pixels (one array per frame or page) and metadata.

The reader (``decode``) fills a :class:`Picture`, the pipeline replaces its frames
with upscaled ones, the writer (``encode``) encodes it. Pixels are numpy arrays in
the file's own depth: uint8, uint16 (0..65535) or float32 (as stored, nominally 0..1),
laid out ``H x W`` (grey), ``H x W x 2`` (grey + alpha), ``x 3`` (RGB) or ``x 4`` (RGBA).
An upscaled 8-bit frame may instead be the Pillow image the pipeline pasted it into
(no second full-size copy); :func:`as_array` turns either into an array.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from PIL import Image

Pixels = np.ndarray | Image.Image
Kind = Literal["still", "pages", "animation"]

# Pillow's mode for each (dtype, channels) it can hold losslessly; the rest stay arrays.
_PIL_MODES = {
    ("uint8", 1): "L",
    ("uint8", 2): "LA",
    ("uint8", 3): "RGB",
    ("uint8", 4): "RGBA",
    ("uint16", 1): "I;16",
    ("float32", 1): "F",
}

# TIFF tags of a file's layout (size, samples, strips, resolution, XMP, ICC): read from a
# TIFF they are not EXIF, and written into one they come from the pixels and metadata.
TIFF_LAYOUT_TAGS = frozenset({
    254, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 280, 281, 282, 283, 284, 296,
    317, 320, 322, 323, 324, 325, 338, 339, 700, 34675})  # fmt: skip


class UpscaleError(Exception):
    """A problem with one input or output file, worded as a one-line message for users."""


def check_pixels(size: tuple[int, int], n: int, max_pixels: int | None) -> None:
    """Raise UpscaleError if ``n`` frames of ``size`` hold more than ``max_pixels`` pixels
    (None or 0: no limit)."""
    w, h = size
    if max_pixels and w * h * n > max_pixels:
        what = f"{w}x{h}" if n == 1 else f"{n} frames of {w}x{h}"
        raise UpscaleError(
            f"{what} = {w * h * n:,} pixels exceeds the limit of {max_pixels:,} "
            "(raise --max-pixels if this image is genuine)"
        )


def channels(px: Pixels) -> int:
    """1 grey, 2 grey + alpha, 3 RGB, 4 RGBA."""
    if isinstance(px, Image.Image):
        return len(px.getbands())
    return 1 if px.ndim == 2 else px.shape[2]


def dtype_of(px: Pixels) -> np.dtype:
    """The sample type: uint8, uint16 or float32 (a Pillow "I" image counts as uint16)."""
    if isinstance(px, Image.Image):
        return {"F": np.dtype(np.float32), "I;16": np.dtype(np.uint16),
                "I": np.dtype(np.uint16)}.get(px.mode, np.dtype(np.uint8))  # fmt: skip
    return px.dtype


def pil_mode(px: Pixels) -> str | None:
    """The Pillow mode that holds these pixels without loss, or None (16-bit or float colour)."""
    if isinstance(px, Image.Image):
        return px.mode
    return _PIL_MODES.get((px.dtype.name, channels(px)))


def as_array(px: Pixels) -> np.ndarray:
    """The pixels as an ``H x W [x C]`` array (uint8, uint16 or float32)."""
    if isinstance(px, np.ndarray):
        return px
    if px.mode in ("I;16", "I"):
        return np.clip(np.asarray(px.convert("I")), 0, 65535).astype(np.uint16)
    return np.asarray(px)


def has_alpha(a: np.ndarray) -> bool:
    """Whether an ``H x W [x C]`` array's last channel is alpha (grey + alpha, RGBA)."""
    return a.ndim == 3 and a.shape[2] in (2, 4)


def colour_of(a: np.ndarray) -> np.ndarray:
    """The colour channels of an ``H x W [x C]`` array, as a view (alpha left out)."""
    return a[..., :-1] if has_alpha(a) else a


def peak(dtype: np.dtype | type) -> float:
    """The sample value of full scale (opaque, white): 1.0 for floats, else the integer
    type's maximum."""
    dt = np.dtype(dtype)
    return 1.0 if dt.kind == "f" else float(np.iinfo(dt).max)


def round_half_up(x: np.ndarray, lo: float = 0.0, hi: float = 255.0) -> np.ndarray:
    """``floor(x + 0.5)`` clipped to ``[lo, hi]``, still float: MATLAB's conversion of a
    double into an integer class (``uint8(x)`` rounds halves away from zero, numpy's
    ``round`` to even). The one rounding rule of every sample this package writes."""
    return np.clip(np.floor(x + 0.5), lo, hi)


def quantize(x: np.ndarray, dtype: np.dtype | type) -> np.ndarray:
    """Float samples already on integer ``dtype``'s scale (0..255 for uint8), rounded half
    up, clipped to the type's range and cast (:func:`round_half_up`)."""
    info = np.iinfo(dtype)
    return round_half_up(x, float(info.min), float(info.max)).astype(dtype)


def partial_alpha(px: Pixels) -> bool:
    """Whether the alpha has values between transparent and opaque (no alpha: False)."""
    if channels(px) not in (2, 4):
        return False
    a = as_array(px)[..., -1]
    return bool(np.any((a != 0) & (a != peak(a.dtype))))


def size_of(px: Pixels) -> tuple[int, int]:
    """(width, height)."""
    if isinstance(px, Image.Image):
        return px.size
    return px.shape[1], px.shape[0]


@dataclass
class Picture:
    """A decoded file: frames (one for a still image) and what the writer keeps.

    ``durations`` are milliseconds per frame (animations), ``loop`` how many times the
    animation plays (0 forever; 1 once), as APNG's num_plays and WebP's loop count say
    it; a GIF's NETSCAPE count N means N repeats after the first play (N + 1 plays, as
    browsers play it) and a GIF without it plays once. None: not an animation's own
    setting (forever). ``exif`` has the orientation reset to 1 (the pixels are already
    oriented); ``xmp`` likewise. ``dpi`` is (x, y) dots per inch. ``text`` holds PNG text
    chunks, and a GIF's or JPEG's comment as "Comment". ``gamma``, ``srgb`` and
    ``chromaticity`` are a PNG's gAMA (e.g. 0.45455), sRGB (rendering intent) and cHRM
    (white x, y, red x, y, green x, y, blue x, y) chunks. ``partial_alpha``: whether the
    input's alpha had values between transparent and opaque (None: not known; the writer
    looks at the frames it writes). ``notes`` are one-line remarks for the user
    (conversions made while reading). ``source_dtype``: the input's integer sample type
    where it was read as float32 with its values (e.g. "int16", "uint32"; alpha then on
    0..1 of the type's maximum); the writer writes integers again (None: not so).
    """

    frames: list[Pixels]
    source_format: str = ""  # Pillow's format name of the input ("PNG", "JPEG", ...)
    lossless: bool = True  # the input was stored without lossy compression
    kind: Kind = "still"
    durations: list[float] | None = None
    loop: int | None = None
    icc: bytes | None = None
    exif: bytes | None = None
    xmp: bytes | None = None
    dpi: tuple[float, float] | None = None
    text: dict[str, str] = field(default_factory=dict)
    partial_alpha: bool | None = None
    notes: list[str] = field(default_factory=list)
    gamma: float | None = None
    srgb: int | None = None
    chromaticity: tuple[float, ...] | None = None
    source_dtype: str | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the first frame, as displayed."""
        return size_of(self.frames[0])

    @property
    def arr(self) -> np.ndarray:
        """The first frame as an array."""
        return as_array(self.frames[0])

    @property
    def mode(self) -> str | None:
        """The first frame's Pillow mode (None: 16-bit or float colour)."""
        return pil_mode(self.frames[0])
