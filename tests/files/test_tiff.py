"""TIFF files: float and 16-bit pages, layouts Pillow cannot decode, tags, pages.

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
import pytest
import tifffile
import typer
from PIL import Image, ImageCms

from dsrn_cli.api import upscale, upscale_file
from dsrn_cli.files.imageio import Picture, read, write
from dsrn_cli.model.network import DSRN
from dsrn_cli.runtime.tiling import upscale_luma

from ._helpers import XMP, cv2_read, exif6, png16, run_upscale


def test_float_tiff_decodes_and_encodes_as_float(tmp_path: Path) -> None:
    grey = np.linspace(0, 1, 30 * 40, dtype=np.float32).reshape(30, 40)
    Image.fromarray(grey, "F").save(tmp_path / "g.tif")
    rgb = np.random.default_rng(1).random((6, 8, 3)).astype(np.float32) * 1.5  # HDR > 1
    tifffile.imwrite(tmp_path / "c.tif", rgb, photometric="rgb")  # Pillow cannot open it
    for name, want in (("g.tif", grey), ("c.tif", rgb)):
        pic = read(tmp_path / name)
        assert pic.arr.dtype == np.float32
        np.testing.assert_array_equal(pic.arr, want)
        write(tmp_path / ("w" + name), pic)
        np.testing.assert_array_equal(tifffile.imread(tmp_path / ("w" + name)), want)
    pic = read(tmp_path / "c.tif")
    w = write(tmp_path / "c.png", pic)  # PNG has no float: 16-bit, said so
    assert any("float" in n for n in w.notes)
    np.testing.assert_array_equal(
        cv2_read(tmp_path / "c.png"), np.floor(np.clip(rgb, 0, 1) * 65535 + 0.5).astype(np.uint16)
    )


@pytest.mark.parametrize("layout", ["la16", "rgba16", "fla", "frgba", "lzw16"])
def test_deep_tiff_layouts_read_and_written_exactly(tmp_path: Path, layout: str) -> None:
    rng = np.random.default_rng(5)
    c = {"la16": 2, "rgba16": 4, "fla": 2, "frgba": 4, "lzw16": 3}[layout]
    if layout.startswith("f"):
        a = rng.random((6, 8, c)).astype(np.float32)
    else:
        a = rng.integers(0, 65536, (6, 8, c)).astype(np.uint16)
    src = tmp_path / "in.tif"
    if layout == "lzw16":  # LZW: a codec tifffile lacks without imagecodecs
        cv2.imwrite(str(src), a[..., ::-1])
    else:
        tifffile.imwrite(src, a, photometric="minisblack" if c == 2 else "rgb",
                         extrasamples=["unassalpha"], planarconfig="contig")  # fmt: skip
    pic = read(src)
    np.testing.assert_array_equal(pic.arr, a)
    write(tmp_path / "out.tif", pic)
    with tifffile.TiffFile(tmp_path / "out.tif") as tf:
        np.testing.assert_array_equal(tf.pages[0].asarray(), a)


def test_float_tiff_upscaled_in_float(lite: DSRN, tmp_path: Path) -> None:
    try:
        upscale(np.zeros((4, 4), np.float32), 2, model=lite, backend="torch")
    except TypeError:
        pytest.skip("the pixel pipeline takes no float32 yet (branch pixels)")
    grey = np.linspace(0, 1, 30 * 40, dtype=np.float32).reshape(30, 40)
    Image.fromarray(grey, "F").save(tmp_path / "f.tif")
    upscale_file(tmp_path / "f.tif", tmp_path / "o.tif", 2, lite, backend="torch")
    out = tifffile.imread(tmp_path / "o.tif")
    assert out.dtype == np.float32 and out.shape == (60, 80)
    ref = upscale_luma(lite, grey)  # grey: the network's luma is the image (0..1 scale)
    assert np.abs(out - ref).max() <= 1 / 255


def test_multipage_tiff_every_page(lite: DSRN, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    pages = [rng.integers(0, 256, (12, 16, 3), dtype=np.uint8) for _ in range(3)]
    ims = [Image.fromarray(p) for p in pages]
    ims[0].save(tmp_path / "p.tif", save_all=True, append_images=ims[1:])
    upscale_file(tmp_path / "p.tif", tmp_path / "o.tif", 2, lite, backend="torch")
    out = Image.open(tmp_path / "o.tif")
    assert out.n_frames == 3
    for i, page in enumerate(pages):
        out.seek(i)
        np.testing.assert_array_equal(
            np.asarray(out.convert("RGB")), upscale(page, 2, model=lite, backend="torch")
        )
    rec = upscale_file(tmp_path / "p.tif", tmp_path / "o.png", 2, lite, backend="torch")
    assert any("3 pages" in n for n in rec["notes"])  # one page only: said


def test_multipage_16_bit_tiff(lite: DSRN, tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    pages = rng.integers(0, 65536, (2, 8, 10, 3)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "p.tif", pages, photometric="rgb")
    upscale_file(tmp_path / "p.tif", tmp_path / "o.tif", 2, lite, backend="torch")
    with tifffile.TiffFile(tmp_path / "o.tif") as tf:
        got = np.stack([p.asarray() for p in tf.pages])
    assert got.shape == (2, 16, 20, 3) and got.dtype == np.uint16
    for i in range(2):
        np.testing.assert_array_equal(got[i], upscale(pages[i], 2, model=lite, backend="torch"))


def _png16_exif(path: Path, a: np.ndarray, exif: Image.Exif) -> None:
    """:func:`png16` with an eXIf chunk after IHDR (the EXIF's TIFF bytes)."""
    png16(path, a)
    data = path.read_bytes()
    body = exif.tobytes()[6:]  # without "Exif\0\0"
    crc = struct.pack(">I", zlib.crc32(b"eXIf" + body))
    chunk = struct.pack(">I", len(body)) + b"eXIf" + body + crc
    path.write_bytes(data[:33] + chunk + data[33:])


def test_16_bit_tiff_keeps_exif(lite: DSRN, tmp_path: Path) -> None:
    a = np.random.default_rng(7).integers(0, 65536, (6, 8, 3)).astype(np.uint16)
    _png16_exif(tmp_path / "in.png", a, exif6())
    rec = upscale_file(tmp_path / "in.png", tmp_path / "o.tif", 2, lite, backend="torch")
    assert not any("EXIF" in n for n in rec["notes"]), rec["notes"]
    with tifffile.TiffFile(tmp_path / "o.tif") as tf:
        page = tf.pages[0]
        assert page.dtype == np.uint16 and page.shape == (16, 12, 3)  # oriented: 6 x 8 turned
        tags = page.tags
        assert tags["Make"].value == "TestCam" and tags["Model"].value == "Model 1"
        assert tags["Orientation"].value == 1
        sub = tags["ExifTag"].value
        assert sub["DateTimeOriginal"] == "2020:01:02 03:04:05"
        assert (sub["PixelXDimension"], sub["PixelYDimension"]) == (12, 16)
        got = page.asarray()
    want = upscale(np.rot90(a, -1), 2, model=lite, backend="torch")
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(cv2_read(tmp_path / "o.tif"), want)  # a valid TIFF to OpenCV
    assert Image.open(tmp_path / "o.tif").getexif().get_ifd(0x8769)[0x9003] == "2020:01:02 03:04:05"


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_deep_tiff_metadata_kept(tmp_path: Path, dtype: type) -> None:
    rng = np.random.default_rng(8)
    pages = [rng.random((6, 8, 4)).astype(np.float32) for _ in range(2)]
    if dtype == np.uint16:
        pages = [(p * 65535).astype(np.uint16) for p in pages]
    exif = exif6()
    exif[0x0112] = 1
    exif[0x010E] = "a description"  # ImageDescription: not tifffile's own JSON
    exif[0x0131] = "CamOS 2"  # Software: not tifffile's name
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    pic = Picture(pages, "TIFF", kind="pages", icc=srgb, exif=exif.tobytes(), xmp=XMP,
                  dpi=(300.0, 150.0))  # fmt: skip
    w = write(tmp_path / "o.tif", pic)
    assert w.notes == []
    with tifffile.TiffFile(tmp_path / "o.tif") as tf:
        assert len(tf.pages) == 2
        for i, page in enumerate(tf.pages):
            np.testing.assert_array_equal(page.asarray(), pages[i])
        tags = tf.pages[0].tags
        assert tags["Make"].value == "TestCam"
        assert tags["ImageDescription"].value == "a description"
        assert tags["Software"].value == "CamOS 2"
        assert tags["ExifTag"].value["DateTimeOriginal"] == "2020:01:02 03:04:05"
        assert tags["InterColorProfile"].value == srgb
        assert tags["XMP"].value == XMP
        assert tags["XResolution"].value == (300, 1) and tags["YResolution"].value == (150, 1)
        assert tags["ResolutionUnit"].value == 2


def _tagged_tiff(path: Path, a: np.ndarray, icc: bytes) -> None:
    """A TIFF of ``a`` (tifffile) with an ICC profile, XMP, 300 x 150 dpi, Make, Model,
    orientation 6 and an Exif IFD (DateTimeOriginal, pixel dimensions 8 x 6). tifffile
    writes no ExifIFD tag (34665): it writes tag 34664 (unknown, the same place in the
    sorted IFD) whose code and value are then set to 34665 and the offset of Pillow's
    encoding of an IFD, put after the pages."""
    c = 1 if a.ndim == 2 else a.shape[2]
    tags = [(271, 2, 0, "TestCam", True), (272, 2, 0, "Model 1", True), (274, 3, 1, 6, True),
            (700, 1, len(XMP), XMP, True), (34664, 4, 1, 0, True)]  # fmt: skip
    tifffile.imwrite(path, a, photometric="rgb" if c >= 3 else "minisblack", iccprofile=icc,
                     resolution=(300, 150), resolutionunit="INCH", extratags=tags,
                     extrasamples=["unassalpha"] if c in (2, 4) else None,
                     metadata=None)  # fmt: skip
    with tifffile.TiffFile(path) as tf:
        pointer = tf.pages[0].tags[34664].valueoffset  # the entry's 4-byte value
    data = bytearray(path.read_bytes())
    start = len(data) + len(data) % 2
    sub = Image.Exif()
    sub.endian = "<"  # tifffile's byte order
    sub[0x9003] = "2020:01:02 03:04:05"
    sub[0xA002], sub[0xA003] = 8, 6
    raw = sub.tobytes(start)
    assert raw[6:8] == b"II"
    ifd = raw[6 + 8 :]  # an IFD placed at `start` (no "Exif\0\0", no header)
    data[pointer - 8 : pointer - 6] = struct.pack("<H", 34665)  # the entry's tag code
    data[pointer : pointer + 4] = struct.pack("<I", start)
    path.write_bytes(bytes(data) + b"\0" * (start - len(data)) + ifd)


def _grey_icc() -> bytes:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    return icc[:16] + b"GRAY" + icc[20:]  # a grey profile, as far as dsrn cares


@pytest.mark.parametrize("layout", ["float_rgb", "float_rgba", "la16", "rgb16"])
def test_deep_tiff_input_metadata_read(tmp_path: Path, layout: str) -> None:
    rng = np.random.default_rng(12)
    c = {"float_rgb": 3, "float_rgba": 4, "la16": 2, "rgb16": 3}[layout]
    a = rng.random((6, 8, c)).astype(np.float32)
    if layout.endswith("16"):
        a = (a * 65535).astype(np.uint16)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    icc = _grey_icc() if c == 2 else srgb
    _tagged_tiff(tmp_path / "in.tif", a, icc)
    pic = read(tmp_path / "in.tif")
    assert pic.notes == []
    np.testing.assert_array_equal(pic.arr, np.rot90(a, -1))  # orientation 6 applied
    assert pic.icc == icc and pic.xmp == XMP and pic.dpi == (300.0, 150.0)
    exif = Image.Exif()
    exif.load(pic.exif)
    assert (exif[0x010F], exif[0x0110], exif.get(0x0112, 1)) == ("TestCam", "Model 1", 1)
    assert exif.get_ifd(0x8769)[0x9003] == "2020:01:02 03:04:05"
    assert not {256, 257, 258, 273, 279, 282, 700, 34675} & set(exif)  # layout: not EXIF


def test_float_bigtiff_read_with_its_tags(tmp_path: Path) -> None:
    a = np.random.default_rng(14).random((6, 8, 3)).astype(np.float32)
    tags = [(271, 2, 0, "TestCam", True), (274, 3, 1, 6, True), (700, 1, len(XMP), XMP, True)]
    tifffile.imwrite(tmp_path / "in.tif", a, bigtiff=True, photometric="rgb", metadata=None,
                     resolution=(300, 150), resolutionunit="INCH", extratags=tags)  # fmt: skip
    assert (tmp_path / "in.tif").read_bytes()[:4] == b"II+\0"
    pic = read(tmp_path / "in.tif")
    np.testing.assert_array_equal(pic.arr, np.rot90(a, -1))
    assert pic.xmp == XMP and pic.dpi == (300.0, 150.0)
    exif = Image.Exif()
    exif.load(pic.exif)
    assert pic.exif[6:8] == b"II" and exif[0x010F] == "TestCam" and exif[0x0112] == 1


@pytest.mark.parametrize("layout", ["float_rgb", "la16", "rgb16"])
def test_deep_tiff_metadata_round_trip(cli: typer.Typer, tmp_path: Path, layout: str) -> None:
    rng = np.random.default_rng(13)
    a = rng.random((6, 8, 2 if layout == "la16" else 3)).astype(np.float32)
    if layout.endswith("16"):
        a = (a * 65535).astype(np.uint16)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    icc = _grey_icc() if layout == "la16" else icc
    _tagged_tiff(tmp_path / "in.tif", a, icc)
    r = run_upscale(cli, str(tmp_path / "in.tif"), "-s", "2", "-o", str(tmp_path / "o.tif"))
    assert r.exit_code == 0, r.output
    assert "not kept" not in r.output and "note" not in r.output, r.output
    with tifffile.TiffFile(tmp_path / "o.tif") as tf:
        page = tf.pages[0]
        assert page.dtype == a.dtype and page.shape == (16, 12, a.shape[2])  # turned, x2
        tags = page.tags
        assert tags["InterColorProfile"].value == icc
        assert tags["XMP"].value == XMP
        assert tags["XResolution"].value == (300, 1) and tags["YResolution"].value == (150, 1)
        assert tags["ResolutionUnit"].value == 2
        assert tags["Make"].value == "TestCam"
        orientation = tags.get("Orientation")
        assert orientation is None or orientation.value == 1  # none: 1
        sub = tags["ExifTag"].value
        assert sub["DateTimeOriginal"] == "2020:01:02 03:04:05"
        assert (sub["PixelXDimension"], sub["PixelYDimension"]) == (12, 16)


def test_multipage_tiff_pages_keep_their_sizes_and_modes(cli: typer.Typer, tmp_path: Path,
                                                          lite: DSRN) -> None:  # fmt: skip
    rng = np.random.default_rng(11)
    pages = [rng.integers(0, 256, (10, 14, 3), dtype=np.uint8),
             rng.integers(0, 256, (5, 7, 3), dtype=np.uint8),
             rng.integers(0, 256, (10, 14), dtype=np.uint8)]  # fmt: skip
    ims = [Image.fromarray(p) for p in pages]
    ims[0].save(tmp_path / "p.tif", save_all=True, append_images=ims[1:])
    r = run_upscale(cli, str(tmp_path / "p.tif"), "-s", "2", "-o", str(tmp_path / "o.tif"))
    assert r.exit_code == 0, r.output
    out = Image.open(tmp_path / "o.tif")
    assert out.n_frames == 3
    for i, page in enumerate(pages):
        out.seek(i)
        assert out.mode == ("L" if page.ndim == 2 else "RGB")
        assert out.size == (2 * page.shape[1], 2 * page.shape[0])
        np.testing.assert_array_equal(np.asarray(out), upscale(page, 2, model=lite,
                                                               backend="torch"))  # fmt: skip


@pytest.mark.parametrize("kind", ["uint16_rgba", "float32_rgb"])
def test_tifffile_shape_description_not_copied(lite: DSRN, tmp_path: Path, kind: str) -> None:
    rng = np.random.default_rng(12)
    if kind == "uint16_rgba":
        a, extra = rng.integers(0, 65536, (6, 8, 4)).astype(np.uint16), ["unassalpha"]
    else:
        a, extra = rng.random((6, 8, 3)).astype(np.float32), None
    tifffile.imwrite(tmp_path / "t.tif", a, photometric="rgb", extrasamples=extra)
    with tifffile.TiffFile(tmp_path / "t.tif") as tf:  # what tifffile wrote: its JSON
        assert '"shape"' in tf.pages[0].description
    assert read(tmp_path / "t.tif").exif is None  # no EXIF of its own
    rec = upscale_file(tmp_path / "t.tif", tmp_path / "o.tif", 2, lite, backend="torch")
    with tifffile.TiffFile(tmp_path / "o.tif") as tf:
        assert "shape" not in (tf.pages[0].description or "")
        assert tf.series[0].shape == (12, 16, a.shape[2])
    rec = upscale_file(tmp_path / "t.tif", tmp_path / "o.bmp", 2, lite, backend="torch")
    assert not any("EXIF" in n for n in rec["notes"])
    tifffile.imwrite(tmp_path / "d.tif", a, photometric="rgb", extrasamples=extra,
                     description="a plate", metadata=None)  # fmt: skip
    upscale_file(tmp_path / "d.tif", tmp_path / "d_o.tif", 2, lite, backend="torch")
    with tifffile.TiffFile(tmp_path / "d_o.tif") as tf:
        assert tf.pages[0].description == "a plate"  # a description of its own is kept
