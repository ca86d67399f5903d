"""PNG files: 16-bit grey + alpha, colour keys (tRNS), gAMA/cHRM/sRGB chunks.

Every input is made here, a few dozen pixels, and every expected value is computed
independently of dsrn's file code: with Pillow / OpenCV / tifffile directly, a formula,
or the pixel pipeline's array API (``upscale`` on an array) for the upscaled pixels.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageCms

from dsrn_cli.api import upscale, upscale_file
from dsrn_cli.files.imageio import Picture, read, write
from dsrn_cli.model.network import DSRN

from ._helpers import XMP, exif6, png16, smooth


def test_16_bit_grey_alpha_png_stays_grey_alpha(lite: DSRN, tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    la = rng.integers(0, 65536, (6, 8, 2)).astype(np.uint16)
    png16(tmp_path / "in.png", la)
    upscale_file(tmp_path / "in.png", tmp_path / "o.png", 2, lite, backend="torch")
    head = (tmp_path / "o.png").read_bytes()[:26]
    assert (head[24], head[25]) == (16, 4)  # IHDR: 16 bits, colour type 4 (grey + alpha)
    got = cv2.imread(str(tmp_path / "o.png"), cv2.IMREAD_UNCHANGED)  # OpenCV: as BGRA
    assert got.dtype == np.uint16 and got.shape == (12, 16, 4)
    np.testing.assert_array_equal(got[..., [0, 3]], upscale(la, 2, model=lite, backend="torch"))
    grey_icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    grey_icc = grey_icc[:16] + b"GRAY" + grey_icc[20:]  # a grey profile, as far as PNG cares
    pic = Picture([la], "PNG", icc=grey_icc, exif=exif6().tobytes(), xmp=XMP, dpi=(300.0, 300.0),
                  text={"parameters": "x"})  # fmt: skip
    assert write(tmp_path / "m.png", pic).notes == []
    assert (tmp_path / "m.png").read_bytes()[25] == 4  # a grey profile on grey pixels
    out = Image.open(tmp_path / "m.png")
    assert out.info["icc_profile"] == grey_icc
    assert out.getexif()[0x010F] == "TestCam"
    assert tuple(round(float(v)) for v in out.info["dpi"]) == (300, 300)
    assert out.text["parameters"] == "x" and b"dc:format" in out.info["xmp"]


def _png8(path: Path, a: np.ndarray, depth: int, trns: bytes) -> None:
    """An 8-bit (or 2-bit grey, values 0..3) PNG with a tRNS chunk, by hand."""
    h, w = a.shape[:2]
    ctype = 0 if a.ndim == 2 else 2
    if depth == 2:
        packed = [np.packbits(np.unpackbits(r[:, None], axis=1)[:, 6:].ravel()) for r in a]
        rows = b"".join(b"\0" + p.tobytes() for p in packed)
    else:
        rows = b"".join(b"\0" + r.tobytes() for r in a)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"tRNS", trns)
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))  # fmt: skip


def test_png_colour_key_becomes_alpha(lite: DSRN, tmp_path: Path) -> None:
    rgb = smooth(12, 16)
    rgb[:4, :4] = (10, 20, 30)
    rgb[5, 5] = (10, 20, 31)  # near the key: opaque
    _png8(tmp_path / "rgb.png", rgb, 8, struct.pack(">HHH", 10, 20, 30))
    grey = rgb[..., 0].copy()
    grey[:4, :4] = 77
    _png8(tmp_path / "grey.png", grey, 8, struct.pack(">H", 77))
    two = np.arange(12 * 16).reshape(12, 16) % 4
    _png8(tmp_path / "two.png", two.astype(np.uint8), 2, struct.pack(">H", 1))
    for name, pixels, key in (("rgb", rgb, (10, 20, 30)), ("grey", grey, 77), ("two", two, 1)):
        pic = read(tmp_path / f"{name}.png")
        keyed = np.all(pixels == key, axis=-1) if pixels.ndim == 3 else pixels == key
        want = np.where(keyed, 0, 255)
        np.testing.assert_array_equal(pic.arr[..., -1], want, err_msg=name)
        assert pic.arr.shape[-1] == (4 if pixels.ndim == 3 else 2)
    upscale_file(tmp_path / "rgb.png", tmp_path / "o.png", 2, lite, backend="torch")
    out = Image.open(tmp_path / "o.png")
    assert out.mode == "RGBA" and np.asarray(out)[1:6, 1:6, 3].max() == 0


def _png_chunks(path: Path) -> dict[bytes, bytes]:
    """The chunks of a PNG file by type (the last of each), read with struct."""
    data, pos, out = path.read_bytes(), 8, {}
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        out[data[pos + 4 : pos + 8]] = data[pos + 8 : pos + 8 + n]
        pos += 12 + n
    return out


def _with_chunks(path: Path, chunks: list[tuple[bytes, bytes]]) -> None:
    """Insert chunks after a PNG's IHDR."""
    data = path.read_bytes()
    extra = b"".join(struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d))
                     for k, d in chunks)  # fmt: skip
    path.write_bytes(data[:33] + extra + data[33:])


def test_png_gamma_and_srgb_kept(tmp_path: Path) -> None:
    gama = (b"gAMA", struct.pack(">I", 45455))
    chrm = (b"cHRM", struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000))
    Image.fromarray(smooth(12, 16)).save(tmp_path / "s.png")
    _with_chunks(tmp_path / "s.png", [gama, chrm, (b"sRGB", b"\0")])
    png16(tmp_path / "d.png", smooth(12, 16).astype(np.uint16) * 257)
    _with_chunks(tmp_path / "d.png", [gama, (b"sRGB", b"\1")])
    for src in ("s.png", "d.png"):  # Pillow's PNG and the 16-bit one
        write(tmp_path / "o.png", read(tmp_path / src))
        colour = (b"gAMA", b"cHRM", b"sRGB")
        got, want = _png_chunks(tmp_path / "o.png"), _png_chunks(tmp_path / src)
        assert {k: got.get(k) for k in colour} == {k: want.get(k) for k in colour}, src
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for ext in ("jpg", "webp", "tif"):  # sRGB chunk: the sRGB profile
        w = write(tmp_path / f"o.{ext}", read(tmp_path / "s.png"))
        prof = Image.open(tmp_path / f"o.{ext}").info["icc_profile"]
        assert prof[:24] + prof[36:] == srgb[:24] + srgb[36:]  # all but the creation time
        assert w.notes == []
    Image.fromarray(smooth(12, 16)).save(tmp_path / "g.png")
    _with_chunks(tmp_path / "g.png", [gama])  # a gamma alone: no profile for it, said
    w = write(tmp_path / "g.jpg", read(tmp_path / "g.png"))
    assert "icc_profile" not in Image.open(tmp_path / "g.jpg").info
    assert w.notes == ["JPEG cannot hold the input's PNG gAMA chunks: not kept"]
    w = write(tmp_path / "g.gif", read(tmp_path / "s.png"))
    assert any("PNG sRGB/gAMA/cHRM chunks" in n for n in w.notes)
