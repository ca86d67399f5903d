"""ICC profiles: CMYK through its profile, never a profile of the wrong colour space.

Every input is made here, a few dozen pixels, and every expected value is computed
independently of dsrn's file code: with Pillow / OpenCV / tifffile directly, a formula,
or the pixel pipeline's array API (``upscale`` on an array) for the upscaled pixels.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from dsrn_cli.api import upscale_file
from dsrn_cli.files.imageio import Picture, WriteOptions, write
from dsrn_cli.model.network import DSRN

from ._helpers import cmyk_profile, smooth, srgb_of_grey


def test_cmyk_with_profile_goes_through_it(lite: DSRN, tmp_path: Path) -> None:
    icc = cmyk_profile()
    im = Image.new("CMYK", (40, 30), (0, 255, 255, 0))  # red without the profile, white with
    im.paste((255, 0, 0, 128), (20, 0, 40, 30))  # half black: a grey of Y = 1 - 128 / 255
    im.save(tmp_path / "c.jpg", quality=95, icc_profile=icc)
    k = float(np.asarray(Image.open(tmp_path / "c.jpg"))[15, 30, 3])  # as the JPEG kept it
    for ext in ("png", "jpg", "tif"):
        upscale_file(tmp_path / "c.jpg", tmp_path / f"o.{ext}", 2, lite, backend="torch")
        out = Image.open(tmp_path / f"o.{ext}")
        assert out.mode == "RGB"
        got = np.asarray(out, dtype=float)
        # away from the middle edge's ringing and the image border (zero padding)
        assert np.abs(got[2:-2, 2:24] - 255).max() <= 3, ext
        assert np.abs(got[2:-2, 56:-2] - srgb_of_grey(1 - k / 255)).max() <= 3, ext
        prof = out.info.get("icc_profile")
        assert prof is None or prof[16:20] == b"RGB "  # never the CMYK profile on RGB


def test_cmyk_without_profile_and_mismatched_profiles(lite: DSRN, tmp_path: Path) -> None:
    ink = (40, 100, 200, 30)
    Image.new("CMYK", (24, 16), ink).save(tmp_path / "c.jpg", quality=100)
    upscale_file(tmp_path / "c.jpg", tmp_path / "o.png", 2, lite, backend="torch")
    c, m, yel, k = (np.asarray(Image.new("CMYK", (1, 1), ink))[0, 0]).astype(float)
    want = [(255 - v) * (255 - k) / 255 for v in (c, m, yel)]  # no profile: plain formula
    got = np.asarray(Image.open(tmp_path / "o.png"), dtype=float)
    assert np.abs(got - want).max() <= 3
    assert "icc_profile" not in Image.open(tmp_path / "o.png").info
    gray_icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    Image.fromarray(smooth(16, 24)).save(tmp_path / "m.png", icc_profile=gray_icc)
    rec = upscale_file(tmp_path / "m.png", tmp_path / "m_o.png", 2, lite, backend="torch")
    assert "icc_profile" not in Image.open(tmp_path / "m_o.png").info  # Lab profile, RGB pixels
    assert any("profile not kept" in n for n in rec["notes"])


def _gray_profile(gamma: float = 2.2) -> bytes:
    """A valid ICC v2 grey display profile: D50 white, a pure-gamma kTRC."""
    s15 = lambda v: struct.pack(">i", round(v * 65536))  # noqa: E731
    d50 = (0.9642, 1.0, 0.8249)
    tags = {b"desc": b"desc\0\0\0\0" + struct.pack(">I", 5) + b"Gray\0" + b"\0" * 79,
            b"wtpt": b"XYZ \0\0\0\0" + b"".join(s15(v) for v in d50),
            b"cprt": b"text\0\0\0\0none\0\0\0\0",
            b"kTRC": b"curv\0\0\0\0" + struct.pack(">IHxx", 1, round(gamma * 256))}  # fmt: skip
    offset = 128 + 4 + 12 * len(tags)
    table, body = struct.pack(">I", len(tags)), b""
    for sig, data in tags.items():
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    hdr = bytearray(128)
    struct.pack_into(">I4sI4s4s4s", hdr, 0, offset + len(body), b"lcms", 0x02100000, b"mntr",
                     b"GRAY", b"XYZ ")  # fmt: skip
    hdr[36:40] = b"acsp"
    hdr[68:80] = b"".join(s15(v) for v in d50)
    return bytes(hdr) + table + body


def _grey_ramp(h: int = 12, w: int = 16) -> np.ndarray:
    return (np.add.outer(np.arange(h) * 7, np.arange(w) * 11) % 256).astype(np.uint8)


@pytest.mark.parametrize("layout", ["L", "I;16", "LA"])
@pytest.mark.parametrize("ext", ["png", "jpg", "webp", "tif", "gif", "bmp", "ppm"])
def test_never_a_grey_profile_on_rgb_pixels(tmp_path: Path, layout: str, ext: str) -> None:
    icc = _gray_profile()
    grey = _grey_ramp()
    alpha = np.where(np.arange(16) < 8, 255, 100).astype(np.uint8)[None].repeat(12, 0)
    px = {"L": grey, "I;16": grey.astype(np.uint16) * 257, "LA": np.dstack([grey, alpha])}[layout]
    write(tmp_path / f"o.{ext}", Picture([px], "PNG", icc=icc), WriteOptions(quality=100))
    out = Image.open(tmp_path / f"o.{ext}")
    prof = out.info.get("icc_profile")
    space = "GRAY" if out.mode in ("L", "LA", "I;16", "I") else "RGB"
    assert prof is None or prof[16:20].decode().strip() == space, (out.mode, prof[16:20])
    if ext == "webp":  # no grey in WebP: the grey through its profile into sRGB
        assert out.mode in ("RGB", "RGBA") and prof[16:20] == b"RGB "
        want = ImageCms.profileToProfile(Image.fromarray(grey), ImageCms.ImageCmsProfile(
            io.BytesIO(icc)), ImageCms.createProfile("sRGB"), outputMode="RGB")
        got = np.asarray(out.convert("RGB"), dtype=int)
        assert np.abs(got - np.asarray(want, dtype=int)).max() <= 3


@pytest.mark.parametrize("background", [(255, 0, 0), (128, 128, 128)])
def test_grey_alpha_onto_a_colour_background_is_rgb(tmp_path: Path, background: tuple) -> None:
    grey = _grey_ramp()
    alpha = np.where(np.arange(16) < 8, 100, 255).astype(np.uint8)[None].repeat(12, 0)
    pic = Picture([np.dstack([grey, alpha])], "PNG")
    w = write(tmp_path / "o.ppm", pic, WriteOptions(background=background))
    out = Image.open(tmp_path / "o.ppm")
    a = alpha[..., None] / 255.0
    want = np.floor(grey[..., None] * a + np.array(background) * (1 - a) + 0.5)
    if background[0] == background[1] == background[2]:  # a grey background: stays grey
        assert out.mode == "L"
        np.testing.assert_array_equal(np.asarray(out), want[..., 0])
    else:
        assert out.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(out), want)
    assert any(f"({background[0]},{background[1]},{background[2]};" in n for n in w.notes)
    write(tmp_path / "o.jpg", pic, WriteOptions(background=background, quality=100))
    jpg = Image.open(tmp_path / "o.jpg")
    assert jpg.mode == out.mode
    want = want if out.mode == "RGB" else want[..., 0]
    assert np.abs(np.asarray(jpg, dtype=float) - want).mean() <= 3  # JPEG: colour subsampled


def test_grey_alpha_with_a_grey_profile_onto_red(tmp_path: Path) -> None:
    icc = _gray_profile()
    grey = _grey_ramp()
    alpha = np.where(np.arange(16) < 8, 0, 255).astype(np.uint8)[None].repeat(12, 0)
    pic = Picture([np.dstack([grey, alpha])], "PNG", icc=icc)
    write(tmp_path / "o.ppm", pic, WriteOptions(background=(255, 0, 0)))
    write(tmp_path / "o.jpg", pic, WriteOptions(background=(255, 0, 0), quality=100))
    srgb = ImageCms.profileToProfile(Image.fromarray(grey), ImageCms.ImageCmsProfile(
        io.BytesIO(icc)), ImageCms.createProfile("sRGB"), outputMode="RGB")
    got = np.asarray(Image.open(tmp_path / "o.ppm"))
    np.testing.assert_array_equal(got[:, :8], np.full((12, 8, 3), (255, 0, 0)))  # transparent
    np.testing.assert_array_equal(got[:, 8:], np.asarray(srgb)[:, 8:])  # opaque: sRGB grey
    out = Image.open(tmp_path / "o.jpg")
    assert out.mode == "RGB" and out.info["icc_profile"][16:20] == b"RGB "


@pytest.mark.parametrize("ext", ["png", "jpg", "webp", "tif"])
def test_never_an_rgb_profile_on_grey_pixels(tmp_path: Path, ext: str) -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    w = write(tmp_path / f"o.{ext}", Picture([_grey_ramp()], "PNG", icc=srgb))
    out = Image.open(tmp_path / f"o.{ext}")
    prof = out.info.get("icc_profile")
    if out.mode == "L":  # an RGB profile cannot describe grey pixels: dropped, said
        assert prof is None and any("profile not kept" in n for n in w.notes), w.notes
    else:  # WebP: R = G = B, the sRGB profile fits
        assert prof == srgb
