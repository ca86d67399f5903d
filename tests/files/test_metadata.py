"""Metadata: EXIF, XMP, DPI, orientation and text kept where the format holds them.

Every input is made here, a few dozen pixels, and every expected value is computed
independently of dsrn's file code: with Pillow / OpenCV / tifffile directly, a formula,
or the pixel pipeline's array API (``upscale`` on an array) for the upscaled pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms, ImageOps, PngImagePlugin

from dsrn_cli.api import upscale_file
from dsrn_cli.files.imageio import Picture, orient, read, write
from dsrn_cli.model.network import DSRN

from ._helpers import XMP, gif_file, smooth


def _meta_png(path: Path) -> tuple[bytes, bytes]:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    exif[0x0112] = 6
    exif.get_ifd(0x8769)[0xA002] = 48
    exif.get_ifd(0x8769)[0xA003] = 32
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a tree, Steps: 20")
    info.add_itxt("Comment", "café")
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    Image.fromarray(smooth(32, 48)).save(path, dpi=(300, 300), pnginfo=info,
                                          exif=exif.tobytes(), icc_profile=srgb)  # fmt: skip
    return srgb, exif.tobytes()


@pytest.mark.parametrize("ext", ["png", "jpg", "webp", "tif"])
def test_metadata_kept(lite: DSRN, tmp_path: Path, ext: str) -> None:
    srgb, _ = _meta_png(tmp_path / "m.png")
    upscale_file(tmp_path / "m.png", tmp_path / f"o.{ext}", 2, lite, backend="torch")
    out = Image.open(tmp_path / f"o.{ext}")
    assert out.size == (64, 96)  # oriented: 48 x 32 stored, orientation 6
    assert out.info.get("icc_profile") == srgb
    exif = out.getexif()
    assert exif.get(0x010F) == "TestCam"
    assert exif.get(0x0112, 1) == 1
    assert exif.get_ifd(0x8769).get(0xA002) == 64
    assert exif.get_ifd(0x8769).get(0xA003) == 96
    xmp = out.info.get("xmp") or out.info.get("XML:com.adobe.xmp")
    xmp = xmp.encode() if isinstance(xmp, str) else xmp
    if ext == "tif":
        xmp = out.tag_v2.get(700)
    assert xmp is not None and b"dc:format" in xmp
    if ext in ("png", "jpg", "tif"):
        assert tuple(round(float(v)) for v in out.info["dpi"]) == (300, 300)
    if ext == "png":
        assert out.text["parameters"] == "a tree, Steps: 20" and out.text["Comment"] == "café"


def test_metadata_the_format_cannot_hold_is_said(lite: DSRN, tmp_path: Path) -> None:
    _meta_png(tmp_path / "m.png")
    rec = upscale_file(tmp_path / "m.png", tmp_path / "o.gif", 2, lite, backend="torch")
    note = next(n for n in rec["notes"] if "cannot hold the input's" in n)
    for what in ("ICC profile", "EXIF", "XMP", "DPI", "text ('parameters')"):
        assert what in note
    assert Image.open(tmp_path / "o.gif").info["comment"] == "café".encode()  # a GIF comment


def test_orient_matches_pillow() -> None:
    a = np.random.default_rng(2).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    for o in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = o
        im = Image.fromarray(a)
        im.info["exif"] = exif.tobytes()
        im.getexif()[0x0112] = o
        want = np.asarray(ImageOps.exif_transpose(im))
        np.testing.assert_array_equal(orient(a, o), want, err_msg=f"orientation {o}")


def test_comments_kept(tmp_path: Path) -> None:
    gif_file(tmp_path / "c.gif", loop=0, comment=b"GIF COMMENT")
    Image.fromarray(smooth(12, 16)).save(tmp_path / "c.jpg", quality=95, comment=b"JPEG COM")
    for src, text in (("c.gif", "GIF COMMENT"), ("c.jpg", "JPEG COM")):
        pic = read(tmp_path / src)
        for ext in ("gif", "jpg", "png", "tif", "webp"):
            dst = tmp_path / f"o_{src[2:]}.{ext}"
            w = write(dst, pic)
            out = Image.open(dst)
            if ext in ("gif", "jpg"):
                assert out.info.get("comment") == text.encode(), (src, ext)
            elif ext == "png":
                assert out.text.get("Comment") == text, src
            elif ext == "tif":
                with tifffile.TiffFile(dst) as tf:
                    assert tf.pages[0].tags["ImageDescription"].value == text
            else:
                assert any("WEBP cannot hold" in n and "'Comment'" in n for n in w.notes)


def test_png_text_into_tiff(tmp_path: Path) -> None:
    a16 = np.random.default_rng(3).integers(0, 65536, (6, 8, 3)).astype(np.uint16)
    for px in (smooth(6, 8), a16):  # Pillow's TIFF and tifffile's
        w = write(tmp_path / "o.tif", Picture([px], "PNG", text={"parameters": "a tree, ü"}))
        assert w.notes == []
        with tifffile.TiffFile(tmp_path / "o.tif") as tf:
            assert tf.pages[0].tags["ImageDescription"].value == "a tree, ü"
        w = write(tmp_path / "t.tif", Picture([px], "PNG", text={"Comment": "c", "Software": "s"}))
        assert w.notes == ["TIFF cannot hold the input's text ('Software'): not kept"]
        with tifffile.TiffFile(tmp_path / "t.tif") as tf:
            assert tf.pages[0].tags["ImageDescription"].value == "c"


@pytest.mark.parametrize("ext", ["jpg", "png", "webp", "tif"])
def test_xmp_dimensions_follow_the_output(tmp_path: Path, ext: str) -> None:
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/'
           b'02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:tiff="http://ns.adobe'
           b'.com/tiff/1.0/" xmlns:exif="http://ns.adobe.com/exif/1.0/" tiff:Orientation="6" '
           b'tiff:ImageWidth="16" tiff:ImageLength="12"><exif:PixelXDimension>16</exif:'
           b'PixelXDimension><exif:PixelYDimension>12</exif:PixelYDimension></rdf:Description>'
           b"</rdf:RDF></x:xmpmeta>")  # fmt: skip
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(smooth(12, 16)).save(tmp_path / "x.jpg", quality=95, exif=exif, xmp=xmp)
    write(tmp_path / f"o.{ext}", read(tmp_path / "x.jpg"))
    out = Image.open(tmp_path / f"o.{ext}")
    assert out.size == (12, 16)  # turned
    got = out.tag_v2[700] if ext == "tif" else out.info["xmp"]
    got = got.encode() if isinstance(got, str) else got
    assert b'tiff:ImageWidth="12"' in got and b'tiff:ImageLength="16"' in got
    assert b"<exif:PixelXDimension>12</" in got and b"<exif:PixelYDimension>16</" in got
    assert b'tiff:Orientation="1"' in got


def test_comment_that_cannot_be_kept_is_said(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010E] = "the EXIF's description"
    pic = Picture([smooth(6, 8)], "PNG", exif=exif.tobytes(), text={"Comment": "c"})
    w = write(tmp_path / "o.tif", pic)
    assert any("'Comment'" in n and "not kept" in n for n in w.notes), w.notes
    assert Image.open(tmp_path / "o.tif").getexif()[0x010E] == "the EXIF's description"
    w = write(tmp_path / "o.jpg", Picture([smooth(6, 8)], "PNG", text={"Comment": "x" * 70000}))
    assert any("'Comment'" in n and "not kept" in n for n in w.notes), w.notes
    assert "comment" not in Image.open(tmp_path / "o.jpg").info
