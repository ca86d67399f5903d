"""Helpers shared by the tests of tests/files: inputs made by hand, reference results."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import typer
from PIL import Image
from typer.testing import CliRunner

XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
       b'22-rdf-syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" '
       b'dc:format="image/png"/></rdf:RDF></x:xmpmeta>')  # fmt: skip


def run_upscale(app: typer.Typer, *args: str):
    return CliRunner().invoke(app, ["upscale", *args, "--model", "lite", "--backend", "torch"])


def smooth(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    a = np.stack([xx * 255 / (w - 1), yy * 255 / (h - 1), 128 + 60 * np.sin(xx / 4.0)], 2)
    return a.round().astype(np.uint8)


def png16(path: Path, a: np.ndarray) -> None:
    """A 16-bit PNG written by hand (zlib + struct), so no image library is involved."""
    h, w = a.shape[:2]
    c = 1 if a.ndim == 2 else a.shape[2]
    rows = a.reshape(h, w * c)
    raw = b"".join(b"\0" + row.astype(">u2").tobytes() for row in rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", w, h, 16, {1: 0, 2: 4, 3: 2, 4: 6}[c], 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))  # fmt: skip


def cv2_read(path: Path) -> np.ndarray:
    """Pixels at full depth, RGB(A) order, read by OpenCV directly."""
    a = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if a.ndim == 3:
        a = a[..., [2, 1, 0, 3][: a.shape[2]]] if a.shape[2] == 4 else a[..., ::-1]
    return a


def cmyk_profile() -> bytes:
    """A valid ICC v2 CMYK input profile (lut16 A2B0, XYZ PCS) where only the black ink
    counts: no ink is the D50 white, full black is black, linear in XYZ between (the
    CLUT interpolates), whatever the C, M, Y inks. Through it, a "red" CMYK (0, 255,
    255, 0) is white: a result that cannot be mistaken for a plain CMYK -> RGB."""

    def tag(sig: bytes, data: bytes) -> tuple[bytes, bytes]:
        return sig, data + b"\0" * (-len(data) % 4)

    s15 = lambda v: struct.pack(">i", round(v * 65536))  # noqa: E731
    d50 = (0.9642, 1.0, 0.8249)
    white = struct.pack(">3H", *(round(v * 32768) for v in d50))  # lut16 XYZ: 1.0 = 0x8000
    black = struct.pack(">3H", 0, 0, 0)
    clut = (white + black) * 8  # 2 grid points per ink, K varies fastest: 2**4 entries
    lut = (b"mft2\0\0\0\0" + bytes([4, 3, 2, 0]) + b"".join(s15(v) for v in
           (1, 0, 0, 0, 1, 0, 0, 0, 1)) + struct.pack(">HH", 2, 2)
           + struct.pack(">2H", 0, 65535) * 4 + clut
           + struct.pack(">2H", 0, 65535) * 3)  # fmt: skip
    desc = b"desc\0\0\0\0" + struct.pack(">I", 5) + b"test\0" + b"\0" * 12 + b"\0" * 67
    tags = [tag(b"desc", desc), tag(b"wtpt", b"XYZ \0\0\0\0" + b"".join(s15(v) for v in d50)),
            tag(b"A2B0", lut), tag(b"cprt", b"text\0\0\0\0none\0")]  # fmt: skip
    offset = 128 + 4 + 12 * len(tags)
    table, body = struct.pack(">I", len(tags)), b""
    for sig, data in tags:
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    hdr = bytearray(128)
    struct.pack_into(">I4sI4s4s4s", hdr, 0, size, b"lcms", 0x02100000, b"scnr", b"CMYK", b"XYZ ")
    hdr[36:40] = b"acsp"
    hdr[68:80] = b"".join(s15(v) for v in d50)
    return bytes(hdr) + table + body


def srgb_of_grey(y: float) -> float:
    """sRGB 0..255 of a neutral grey of luminance ``y`` (the sRGB transfer curve)."""
    return 255 * (1.055 * y ** (1 / 2.4) - 0.055 if y > 0.0031308 else 12.92 * y)


def anim_frames() -> list[np.ndarray]:
    out = []
    for i, colour in enumerate(((255, 0, 0), (0, 200, 0), (0, 0, 255))):
        a = np.zeros((24, 32, 4), np.uint8)
        a[4:20, 4 + 4 * i : 20 + 4 * i] = (*colour, 255)  # a moving box on transparent
        out.append(a)
    return out


def exif6() -> Image.Exif:
    """EXIF of a camera picture stored sideways (orientation 6), 8 x 6 pixels."""
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    exif[0x0110] = "Model 1"
    exif[0x0112] = 6
    exif.get_ifd(0x8769)[0x9003] = "2020:01:02 03:04:05"
    exif.get_ifd(0x8769)[0xA002] = 8
    exif.get_ifd(0x8769)[0xA003] = 6
    return exif


def gif_file(path: Path, **kw) -> None:
    ims = [Image.fromarray(np.full((8, 10, 3), (40 * i, 90, 200), np.uint8)) for i in range(3)]
    ims[0].save(path, save_all=True, append_images=ims[1:], duration=[60, 90, 120], **kw)
