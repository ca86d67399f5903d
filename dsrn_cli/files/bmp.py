"""BMP with alpha, which Pillow and OpenCV read and write without it: the reader of
BI_BITFIELDS / BI_ALPHABITFIELDS files with an alpha mask (:func:`bmp_with_alpha`) and the
32-bit BITMAPV4HEADER writer (:func:`bmp_bgra`). Other BMPs are Pillow's; the ICC profile
a V5 header embeds is read here for every BMP (:func:`bmp_icc`).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from .picture import Picture, UpscaleError, check_pixels, partial_alpha, peak
from .profiles import match_icc


def _bmp_alpha_layout(
    src: Path,
) -> tuple[int, int, int, int, tuple[int, int], tuple[int, ...]] | None:
    """(pixel offset, width, height, bits, ppm x and y, R/G/B/A masks) of a BMP whose
    header declares alpha: 16 or 32 bits per pixel in BI_BITFIELDS (3) or
    BI_ALPHABITFIELDS (6) with an alpha mask. None for anything else (not a BMP, no
    alpha, an OS/2 header, a file that cannot be opened: Pillow reads or refuses it)."""
    try:
        with open(src, "rb") as f:
            head = f.read(14 + 56)
    except OSError:
        return None
    if len(head) < 14 + 40 or head[:2] != b"BM":
        return None
    (offset,) = struct.unpack_from("<I", head, 10)
    size, w, h, _, bits, comp, _, ppm_x, ppm_y = struct.unpack_from("<IiiHHIIii", head, 14)
    if size not in (40, 52, 56, 108, 124) or bits not in (16, 32) or comp not in (3, 6):
        return None
    if size >= 56:  # the masks are in the header (V3 and later)
        masks = struct.unpack_from("<4I", head, 14 + 40)
    elif size == 40 and comp == 6:  # after the header: R, G, B, A
        masks = struct.unpack_from("<4I", head, 14 + 40) if len(head) >= 70 else (0,) * 4
    else:  # three masks, no alpha
        return None
    if not masks[3] or w <= 0 or h == 0:
        return None
    return offset, w, h, bits, (ppm_x, ppm_y), masks


_PROFILE_EMBEDDED = 0x4D424544  # bV5CSType "MBED": an ICC profile inside the file


def bmp_icc(src: Path) -> bytes | None:
    """The ICC profile embedded in a BMP with a BITMAPV5HEADER (124 bytes): bV5CSType
    (header offset 56) PROFILE_EMBEDDED, the profile ``bV5ProfileSize`` bytes (offset 116)
    at ``bV5ProfileData`` (offset 112) counted from the header's start (file offset 14).
    None for any other file, or a profile outside the file (Pillow keeps none)."""
    try:
        with open(src, "rb") as f:
            head = f.read(14 + 124)
            if len(head) < 14 + 124 or head[:2] != b"BM":
                return None
            size, cs_type = struct.unpack_from("<I52xI", head, 14)
            at, length = struct.unpack_from("<II", head, 14 + 112)
            if size != 124 or cs_type != _PROFILE_EMBEDDED or not at or not length:
                return None
            f.seek(14 + at)
            icc = f.read(length)
    except OSError:
        return None
    return icc if len(icc) == length else None


def bmp_with_alpha(src: Path, max_pixels: int | None) -> Picture | None:
    """A BMP whose header declares alpha (:func:`_bmp_alpha_layout`), read with its alpha.

    Pillow reads 32-bit B, G, R, A bytes so, but reads 16-bit A1R5G5B5 without its alpha
    and refuses A4R4G4B4, 10-bit channels and BI_ALPHABITFIELDS; OpenCV likewise. Every
    mask is decoded here the same way: each channel is ``(pixel & mask) >> shift``, scaled
    from its bits to 8 (16 where a mask is wider than 8 bits), rounding half up. Rows are
    ``bits * W`` rounded up to 4 bytes, bottom row first unless the height is negative."""
    layout = _bmp_alpha_layout(src)
    if layout is None:
        return None
    offset, w, h, bits, ppm, masks = layout
    fields = []
    for m in masks:
        shift = (m & -m).bit_length() - 1 if m else 0
        width = (m >> shift).bit_length()
        if m and (m >> shift) != (1 << width) - 1:
            return None  # not one run of bits: leave it to Pillow
        fields.append((m, shift, width))
    check_pixels((w, abs(h)), 1, max_pixels)
    stride = (bits * w + 31) // 32 * 4
    with open(src, "rb") as f:
        f.seek(offset)
        data = f.read(stride * abs(h))
    if len(data) < stride * abs(h):
        raise UpscaleError("truncated or corrupt image (BMP pixels end early)")
    words = np.frombuffer(data, "<u2" if bits == 16 else "<u4").reshape(abs(h), -1)[:, :w]
    if h > 0:
        words = words[::-1]
    deep = max(width for _, _, width in fields) > 8
    dtype = np.uint16 if deep else np.uint8
    full = int(peak(dtype))
    out = np.zeros((abs(h), w, 4), dtype)
    for c, (m, shift, width) in enumerate(fields):
        if m:
            top = (1 << width) - 1
            v = (words.astype(np.uint64) & m) >> shift
            out[..., c] = (v * (2 * full) + top) // (2 * top)
    dpi = tuple(p / 39.3701 for p in ppm) if min(ppm) > 0 else None  # as Pillow reads it
    pic = Picture([out], "BMP", True, "still", dpi=dpi, icc=bmp_icc(src),  # type: ignore[arg-type]
                  partial_alpha=partial_alpha(out))  # fmt: skip
    match_icc(pic)
    return pic


def bmp_bgra(a: np.ndarray, dpi: tuple[float, float] | None) -> bytes:
    """A 32-bit BMP that keeps the alpha of an ``H x W x 4`` uint8 RGBA array.

    Pillow writes RGBA into a 40-byte BITMAPINFOHEADER (BI_RGB), whose fourth byte is
    "reserved": Pillow and OpenCV read it back as RGB (OpenCV 4.x writes the same; 5.0 a
    V5 header with alpha). A BITMAPV4HEADER with BI_BITFIELDS names that byte alpha in
    its alpha mask, which Pillow, OpenCV, browsers, GIMP and Windows read. Little-endian:

    - BITMAPFILEHEADER, 14 bytes: "BM", file size, 2 reserved words, offset of the pixels;
    - BITMAPV4HEADER, 108 bytes: its size, width, height (positive: the bottom row comes
      first), 1 plane, 32 bits, BI_BITFIELDS (3), size of the pixels, pixels per metre
      (x, y; 0: not given), 0 palette colours used and important; the R, G, B, A masks
      of a little-endian 32-bit pixel (bytes B, G, R, A); colour space "sRGB"
      (LCS_sRGB, which leaves the 36-byte endpoints and 3 gammas after it unused);
    - the pixels, rows of ``4 * W`` bytes (a multiple of 4: no padding), B G R A.
    """
    h, w = a.shape[:2]
    if 14 + 108 + 4 * w * h > 2**32 - 1:
        raise UpscaleError(f"{w}x{h} with alpha is over the 4 GiB a BMP file can hold")
    pixels = np.ascontiguousarray(a[::-1, :, [2, 1, 0, 3]], dtype=np.uint8).tobytes()
    ppm = [int(d * 39.3701 + 0.5) for d in dpi] if dpi else [0, 0]  # as Pillow rounds
    info = struct.pack("<IiiHHIIiiII", 108, w, h, 1, 32, 3, len(pixels), ppm[0], ppm[1], 0, 0)
    info += struct.pack("<4I", 0x00FF0000, 0x0000FF00, 0x000000FF, 0xFF000000)
    info += b"BGRs" + bytes(36 + 12)  # LCS_sRGB (0x73524742, little-endian); no endpoints
    offset = 14 + len(info)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + pixels
