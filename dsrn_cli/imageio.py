"""Reading images into arrays: the first stage of every pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

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
