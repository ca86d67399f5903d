"""PNG at the byte level, where Pillow falls short: reading the IHDR (colour type, 16-bit
colour that Pillow reduces, a low-depth grey tRNS key) and the gAMA / sRGB / cHRM chunks;
writing 16-bit colour and 16-bit grey + alpha PNGs (OpenCV's and Pillow's encodings) with
their metadata chunks added (:func:`png_deep`).
"""

from __future__ import annotations

import struct
import zlib
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image

from .exifxmp import exif_sized
from .picture import Picture, UpscaleError


def _ihdr(path: Path) -> tuple[int, int]:
    """(bit depth, colour type) from a PNG's IHDR (bytes 24 and 25 of the file); (0, -1)
    for a file too short to hold them."""
    with open(path, "rb") as f:
        head = f.read(26)
    return (head[24], head[25]) if len(head) == 26 else (0, -1)


def png_grey_key(src: Path, im: Image.Image) -> None:
    """Pillow gives a 2- or 4-bit grey PNG's tRNS key as stored (0..3, 0..15) but its
    pixels scaled to 0..255: the key scaled alike."""
    if im.format != "PNG" or im.mode != "L" or not isinstance(im.info.get("transparency"), int):
        return
    depth, colour_type = _ihdr(src)
    if colour_type == 0 and depth in (2, 4):
        im.info["transparency"] *= 255 // (2**depth - 1)


def png_is_deep(path: Path) -> bool:
    """A 16-bit PNG other than plain grey (which Pillow reads at full depth)."""
    depth, colour_type = _ihdr(path)
    return depth == 16 and colour_type not in (0, -1)


def png_colour_type(src: Path) -> int:
    """A PNG's IHDR colour type (0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA)."""
    return _ihdr(src)[1]


def png_colour_chunks(im: Image.Image, pic: Picture) -> None:
    """A PNG's gAMA, sRGB and cHRM chunks (Pillow's info "gamma", "srgb", "chromaticity")."""
    if im.format != "PNG":
        return
    gamma, srgb, chrm = (im.info.get(k) for k in ("gamma", "srgb", "chromaticity"))
    pic.gamma = float(gamma) if gamma else None
    pic.srgb = int(srgb) if srgb is not None else None
    pic.chromaticity = tuple(float(v) for v in chrm) if chrm and len(chrm) == 8 else None


def colour_chunks(pic: Picture) -> list[str]:
    """The names of the PNG colour chunks the input had (sRGB, gAMA, cHRM)."""
    found = (("sRGB", pic.srgb), ("gAMA", pic.gamma), ("cHRM", pic.chromaticity))
    return [name for name, value in found if value is not None]


def png_colour_info(pic: Picture) -> list[tuple[bytes, bytes]]:
    """The PNG gAMA, cHRM and sRGB chunks (type, data) of ``pic`` (sRGB only without an
    ICC profile: PNG allows one or the other)."""
    out = []
    if pic.gamma is not None:
        out.append((b"gAMA", struct.pack(">I", round(pic.gamma * 100000))))
    if pic.chromaticity is not None:
        out.append((b"cHRM", struct.pack(">8I", *(round(v * 100000) for v in pic.chromaticity))))
    if pic.srgb is not None and not pic.icc:
        out.append((b"sRGB", bytes([pic.srgb])))
    return out


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_grey_alpha16(a: np.ndarray, level: int) -> bytes:
    """A 16-bit grey + alpha PNG, which neither OpenCV nor Pillow writes. Its pixels are
    4 bytes (grey, alpha; big-endian), as RGBA 8-bit pixels are, and PNG filters work on
    bytes a pixel apart: Pillow's RGBA encoding of those bytes is the image data, and
    only the IHDR's bit depth and colour type (16, 4) differ."""
    h, w = a.shape[:2]
    rgba = np.ascontiguousarray(a, dtype=">u2").view(np.uint8).reshape(h, w, 4)
    buf = BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG", compress_level=level)
    data = buf.getvalue()
    ihdr = b"IHDR" + data[16:24] + bytes([16, 4]) + data[26:29]
    return data[:12] + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + data[33:]


def png_deep(a: np.ndarray, pic: Picture, level: int) -> bytes:
    """A 16-bit colour or grey + alpha PNG: OpenCV's encoding (grey + alpha: Pillow's,
    :func:`_png_grey_alpha16`), with the metadata chunks after IHDR."""
    import cv2

    if a.shape[2] == 2:
        data = _png_grey_alpha16(a, level)
    else:
        bgr = a[..., ::-1] if a.shape[2] == 3 else a[..., [2, 1, 0, 3]]
        ok, buf = cv2.imencode(".png", np.ascontiguousarray(bgr),
                               [cv2.IMWRITE_PNG_COMPRESSION, level])  # fmt: skip
        if not ok:
            raise UpscaleError("OpenCV could not encode the 16-bit PNG")
        data = buf.tobytes()
    extra = b"".join(_png_chunk(kind, data) for kind, data in png_colour_info(pic))
    if pic.icc:
        extra += _png_chunk(b"iCCP", b"icc\0\0" + zlib.compress(pic.icc))
    if pic.dpi:
        ppm = [round(d / 0.0254) for d in pic.dpi]
        extra += _png_chunk(b"pHYs", struct.pack(">IIB", ppm[0], ppm[1], 1))
    for k, v in pic.text.items():
        extra += _png_chunk(b"iTXt", k.encode("latin-1", "replace")[:79] + b"\0\0\0\0\0"
                            + v.encode("utf-8"))  # fmt: skip
    if pic.xmp:
        extra += _png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + pic.xmp)
    if pic.exif:
        exif = exif_sized(pic.exif, (a.shape[1], a.shape[0]))
        extra += _png_chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\0\0") else exif)
    end = 8 + 25  # signature + IHDR chunk
    return data[:end] + extra + data[end:]
