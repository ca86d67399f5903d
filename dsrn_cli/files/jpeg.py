"""JPEG: round trips for training and the bench, and a file's quality from its tables.

Real inputs are JPEGs, and their compression artifacts change which weights work best.
The quality is not stored in a JPEG; it is recovered by matching the file's luma
quantization table against the IJG (libjpeg) scaling of the standard table, which is
what Pillow, libjpeg-turbo, ImageMagick and GIMP write. Other encoders (cameras,
Photoshop) use their own tables: for those the quality is unknown (None).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

# ITU-T T.81 Annex K.1, natural (row-major) order, as Pillow reports tables.
STD_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
])
# A table this far (relative L1) from every IJG table is another encoder's: quality unknown.
MAX_MISMATCH = 0.05


def ijg_table(quality: int, base: np.ndarray = STD_LUMA) -> np.ndarray:
    """libjpeg's ``jpeg_set_quality`` scaling of ``base`` (baseline: entries 1..255)."""
    q = min(max(int(quality), 1), 100)
    factor = 5000 // q if q < 50 else 200 - 2 * q
    return np.clip((base * factor + 50) // 100, 1, 255)


_TABLES = np.stack([ijg_table(q) for q in range(1, 101)])


def quality_from_table(table) -> int | None:
    """The IJG quality whose luma table is nearest ``table`` (64 values), or None."""
    t = np.asarray(table, dtype=np.float64).reshape(-1)
    if t.size != 64:
        return None
    err = np.abs(_TABLES - t).sum(axis=1) / _TABLES.sum(axis=1)
    best = int(np.argmin(err))
    return best + 1 if err[best] <= MAX_MISMATCH else None


def estimate_quality(path: str | Path) -> int | None:
    """A JPEG file's IJG quality (1..100); None for other formats, non-IJG tables, errors."""
    try:
        with Image.open(path) as im:
            if im.format != "JPEG":
                return None
            tables = getattr(im, "quantization", None) or {}
            return quality_from_table(tables[0]) if 0 in tables else None
    except Exception:  # unreadable files fail later, where the user sees why
        return None


def roundtrip(arr: np.ndarray, quality: int) -> np.ndarray:
    """A uint8 image (H x W luma or H x W x 3 RGB) saved as JPEG by Pillow and decoded.

    Colour uses Pillow's default 4:2:0 subsampling. A grayscale JPEG of a luma plane is
    the trainer's stand-in for a colour JPEG's luma: JPEG codes luma apart from chroma.
    """
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        return np.array(im.convert("L" if arr.ndim == 2 else "RGB"))
