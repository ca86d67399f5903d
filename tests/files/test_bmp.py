"""BMP files: alpha read whatever the masks, alpha written (V4 header), V5 ICC.

Every input is made here, a few dozen pixels, and every expected value is computed
independently of dsrn's file code: with Pillow / OpenCV / tifffile directly, a formula,
or the pixel pipeline's array API (``upscale`` on an array) for the upscaled pixels.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from dsrn_cli.api import upscale, upscale_file
from dsrn_cli.files.imageio import read
from dsrn_cli.model.network import DSRN

from ._helpers import cv2_read, smooth


def _bmp(path: Path, words: np.ndarray, masks: tuple[int, ...], header: int = 108,
         comp: int = 3, dpi: int = 0) -> None:  # fmt: skip
    """A BMP written by hand (struct): ``words`` (``H x W`` uint16/uint32 pixels, top row
    first) stored bottom-up under a ``header``-byte info header with the R, G, B, A
    ``masks`` (a 40-byte header: after it, as BI_ALPHABITFIELDS (6) has them)."""
    h, w = words.shape
    bits = words.dtype.itemsize * 8
    stride = (bits * w + 31) // 32 * 4
    rows = b"".join(r.astype(f"<u{bits // 8}").tobytes().ljust(stride, b"\0") for r in words[::-1])
    ppm = round(dpi / 0.0254)
    info = struct.pack("<IiiHHIIiiII", header, w, h, 1, bits, comp, len(rows), ppm, ppm, 0, 0)
    packed = struct.pack("<4I", *masks)
    if header == 40:
        info += packed
    else:
        info += (packed + b"BGRs").ljust(header - 40, b"\0")
    off = 14 + len(info)
    path.write_bytes(b"BM" + struct.pack("<IHHI", off + len(rows), 0, 0, off) + info + rows)


def _pack(v: np.ndarray, masks: tuple[int, ...], dtype: type) -> np.ndarray:
    """``H x W x 4`` channel values into pixels of ``dtype`` through the masks."""
    out = np.zeros(v.shape[:2], np.uint64)
    for c, m in enumerate(masks):
        out |= v[..., c].astype(np.uint64) << ((m & -m).bit_length() - 1)
    return out.astype(dtype)


@pytest.mark.parametrize("layout", ["bgra_v4", "bgra_v5_56", "a1r5g5b5", "a4r4g4b4",
                                    "alphabitfields", "a2r10g10b10"])  # fmt: skip
def test_bmp_with_alpha_read_with_it(tmp_path: Path, layout: str) -> None:
    rng = np.random.default_rng(10)
    masks, tops, dtype, header, comp = {
        "bgra_v4": ((0xFF0000, 0xFF00, 0xFF, 0xFF000000), (255,) * 4, np.uint32, 108, 3),
        "bgra_v5_56": ((0xFF, 0xFF00, 0xFF0000, 0xFF000000), (255,) * 4, np.uint32, 56, 3),
        "a1r5g5b5": ((0x7C00, 0x3E0, 0x1F, 0x8000), (31, 31, 31, 1), np.uint16, 124, 3),
        "a4r4g4b4": ((0xF00, 0xF0, 0xF, 0xF000), (15,) * 4, np.uint16, 124, 3),
        "alphabitfields": ((0xFF0000, 0xFF00, 0xFF, 0xFF000000), (255,) * 4, np.uint32, 40, 6),
        "a2r10g10b10": ((0x3FF00000, 0xFFC00, 0x3FF, 0xC0000000), (1023,) * 3 + (3,),
                        np.uint32, 124, 3),
    }[layout]  # fmt: skip
    v = np.stack([rng.integers(0, t + 1, (5, 7)) for t in tops], 2)
    _bmp(tmp_path / "in.bmp", _pack(v, masks, dtype), masks, header, comp, dpi=300)
    peak = 65535 if max(tops) > 255 else 255
    want = np.floor(v * peak / np.array(tops, np.float64) + 0.5)
    pic = read(tmp_path / "in.bmp")
    np.testing.assert_array_equal(pic.arr, want.astype(np.uint16 if peak > 255 else np.uint8))
    assert pic.dpi is not None and tuple(round(d) for d in pic.dpi) == (300, 300)
    if layout.startswith("bgra"):  # what Pillow reads too
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "in.bmp")), pic.arr)


def _bmp_v5_icc(path: Path, rgba: np.ndarray | None, rgb: np.ndarray | None, icc: bytes) -> None:
    """A BMP with a BITMAPV5HEADER (struct) embedding ``icc`` (bV5CSType "MBED", the
    profile after the pixels at bV5ProfileData bytes from the header's start): 32-bit
    BI_BITFIELDS B, G, R, A of ``rgba``, or else 24-bit BI_RGB B, G, R of ``rgb``."""
    a = rgba if rgba is not None else rgb
    assert a is not None
    h, w, c = a.shape
    stride = (c * 8 * w + 31) // 32 * 4
    order = [2, 1, 0, 3][:c]
    rows = b"".join(r[:, order].tobytes().ljust(stride, b"\0") for r in a[::-1])
    masks = (0xFF0000, 0xFF00, 0xFF, 0xFF000000) if c == 4 else (0, 0, 0, 0)
    info = struct.pack("<IiiHHIIiiII", 124, w, h, 1, c * 8, 3 if c == 4 else 0, len(rows),
                       2835, 2835, 0, 0)  # fmt: skip
    info += struct.pack("<4I", *masks) + b"DEBM" + bytes(36 + 12)  # "MBED", little-endian
    info += struct.pack("<IIII", 4, 124 + len(rows), len(icc), 0)  # intent, profile, 0
    off = 14 + len(info)
    data = info + rows + icc
    path.write_bytes(b"BM" + struct.pack("<IHHI", 14 + len(data), 0, 0, off) + data)


@pytest.mark.parametrize("alpha", [False, True])
def test_bmp_v5_embedded_icc_is_kept(lite: DSRN, tmp_path: Path, alpha: bool) -> None:
    """A V5 BMP's embedded profile (Pillow-read 24-bit, and 32-bit with alpha) reaches a
    PNG, TIFF (and JPEG) output byte for byte."""
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rgb = smooth(6, 8)
    rgba = np.dstack([rgb, np.full((6, 8), 200, np.uint8)]) if alpha else None
    _bmp_v5_icc(tmp_path / "in.bmp", rgba, rgb, icc)
    if not alpha:  # Pillow reads the pixels (and keeps no profile)
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "in.bmp")), rgb)
    for ext in ("png", "tif") if alpha else ("png", "jpg", "tif"):  # JPEG: no alpha, said
        rec = upscale_file(tmp_path / "in.bmp", tmp_path / f"o.{ext}", 2, lite,
                           backend="torch")  # fmt: skip
        assert not any("ICC" in n or "profile" in n for n in rec["notes"])
        assert Image.open(tmp_path / f"o.{ext}").info.get("icc_profile") == icc


def test_bmp_keeps_alpha(lite: DSRN, tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    rgba = np.dstack([smooth(6, 8), rng.integers(0, 256, (6, 8), dtype=np.uint8)])
    la = np.dstack([smooth(6, 8)[..., 0], rng.integers(0, 256, (6, 8), dtype=np.uint8)])
    for name, a, mode in (("rgba", rgba, "RGBA"), ("la", la, "LA")):
        Image.fromarray(a, mode).save(tmp_path / f"{name}.png", dpi=(300, 300))
        rec = upscale_file(tmp_path / f"{name}.png", tmp_path / f"{name}.bmp", 2, lite,
                           backend="torch")  # fmt: skip
        assert rec["notes"] == []
        up = upscale(a, 2, model=lite, backend="torch")
        want = up if name == "rgba" else up[..., [0, 0, 0, 1]]  # grey + alpha: as RGBA
        out = Image.open(tmp_path / f"{name}.bmp")
        assert out.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(out), want)
        assert tuple(round(float(d)) for d in out.info["dpi"]) == (300, 300)
        np.testing.assert_array_equal(cv2_read(tmp_path / f"{name}.bmp"), want)
        np.testing.assert_array_equal(read(tmp_path / f"{name}.bmp").arr, want)
