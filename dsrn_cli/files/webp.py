"""WebP animations whose header misstates their alpha: libwebp's animation encoder crops
each frame to its changed or opaque part, leaves the rest of the canvas transparent, and
sets the header's alpha flag only for frames with alpha of their own. The reader reopens
such a file with the flag set (:func:`webp_canvas_alpha`), the writer sets it
(:func:`webp_alpha_flag`); :func:`webp_lossless` tells a lossless file.
"""

from __future__ import annotations

import warnings
from io import BytesIO
from pathlib import Path
from typing import IO

from PIL import Image


def webp_lossless(path: Path) -> bool:
    data = path.read_bytes()
    return b"VP8L" in data and b"VP8 " not in data


def webp_canvas_alpha(src: Path, im: Image.Image) -> Image.Image:
    """An animated WebP whose header says "no alpha" may still be transparent: libwebp's
    animation encoder crops each frame to its changed or opaque part, leaves the rest of
    the canvas transparent, and sets the header's alpha flag only for frames with alpha
    of their own (Pillow writes binary transparency so). Pillow trusts the flag and shows
    that canvas black; reopened with the flag set, the frames come with their alpha
    (all opaque: dropped again by ``decode._read_animation``)."""
    with open(src, "rb") as f:
        head = f.read(21)
    if head[12:16] != b"VP8X" or not head[20] & 0x02:  # not an animation
        return im
    data = bytearray(src.read_bytes())
    data[20] |= 0x10
    im.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(BytesIO(bytes(data)))


def webp_alpha_flag(f: IO[bytes]) -> None:
    """Set an animated WebP's alpha flag. libwebp's animation encoder crops each frame to
    its changed or opaque part and leaves the rest of the canvas transparent, but sets the
    flag only for frames with alpha of their own: readers that trust it (Pillow) would
    show that transparent canvas black."""
    f.seek(12)
    head = f.read(9)
    if head[:4] == b"VP8X" and head[8] & 0x02:
        f.seek(20)
        f.write(bytes([head[8] | 0x10]))
