"""TIFF colour: CMYK and CIELab pages at every depth, associated alpha.

Every input is made here, a few dozen pixels, and every expected value is computed
independently of dsrn's file code: with Pillow / OpenCV / tifffile directly, a formula,
or the pixel pipeline's array API (``upscale`` on an array) for the upscaled pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from dsrn_cli.api import upscale, upscale_file
from dsrn_cli.files.imageio import read
from dsrn_cli.model.network import DSRN

from ._helpers import cmyk_profile, smooth, srgb_of_grey


def test_16_bit_cmyk_tiff_to_rgb(lite: DSRN, tmp_path: Path) -> None:
    rng = np.random.default_rng(10)
    cmyk = rng.integers(0, 65536, (6, 8, 4)).astype(np.uint16)
    alpha = rng.integers(0, 65536, (6, 8)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "c.tif", cmyk, photometric="separated")
    tifffile.imwrite(tmp_path / "ca.tif", np.dstack([cmyk, alpha]), photometric="separated",
                     extrasamples=["unassalpha"], planarconfig="contig")  # fmt: skip
    x = cmyk.astype(np.float64) / 65535  # no profile: Pillow's formula, (1 - C) (1 - K)
    want = np.floor((1 - x[..., :3]) * (1 - x[..., 3:]) * 65535 + 0.5).astype(np.uint16)
    pic = read(tmp_path / "c.tif")
    np.testing.assert_array_equal(pic.arr, want)
    assert any("without an ICC profile" in n for n in pic.notes)
    np.testing.assert_array_equal(read(tmp_path / "ca.tif").arr, np.dstack([want, alpha]))
    # with a profile (only K counts): through it, at 8 bits, said
    ink = np.zeros((6, 8, 4), np.uint16)
    ink[..., 1:3] = 65535  # "red" without the profile, white through it
    ink[:, 4:, 3] = 32896  # half black: a grey of Y = 1 - 128 / 255
    tifffile.imwrite(tmp_path / "p.tif", ink, photometric="separated", iccprofile=cmyk_profile())
    rec = upscale_file(tmp_path / "p.tif", tmp_path / "o.tif", 2, lite, backend="torch")
    assert any("16-bit CMYK converted to RGB at 8 bits" in n for n in rec["notes"])
    out = Image.open(tmp_path / "o.tif")
    assert out.mode == "RGB" and out.info["icc_profile"][16:20] == b"RGB "
    got = np.asarray(out, dtype=float)
    assert np.abs(got[2:-2, 2:5] - 255).max() <= 3
    assert np.abs(got[2:-2, 12:-2] - srgb_of_grey(1 - 128 / 255)).max() <= 3  # past the ringing


def _lab_of(rgb: np.ndarray) -> np.ndarray:
    """CIELab (D50, as ICC and TIFF use) of sRGB 0..1, by the textbook formulas."""
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4360747, 0.3850649, 0.1430804], [0.2225045, 0.7168786, 0.0606169],
                  [0.0139322, 0.0971045, 0.7141733]])  # fmt: skip
    xyz = (lin @ m.T / [0.9642, 1.0, 0.8249]).transpose(2, 0, 1)
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])], -1)


@pytest.mark.parametrize("kind", ["tifffile8", "tifffile16", "pillow8"])
def test_cielab_tiff_is_rgb_without_alpha(tmp_path: Path, kind: str) -> None:
    rgb = smooth(12, 16)
    lab = _lab_of(rgb / 255.0)
    src = tmp_path / "lab.tif"
    if kind == "tifffile8":
        ab = np.round(lab[..., 1:]).astype(np.int8).view(np.uint8)
        tifffile.imwrite(src, np.dstack([np.round(lab[..., 0] * 2.55).astype(np.uint8), ab]),
                         photometric="cielab")  # fmt: skip
    elif kind == "tifffile16":  # a*, b*: signed, 256 per unit
        ab = np.round(lab[..., 1:] * 256).astype(np.int16).view(np.uint16)
        tifffile.imwrite(src, np.dstack([np.round(lab[..., 0] * 655.35).astype(np.uint16), ab]),
                         photometric="cielab")  # fmt: skip
    else:
        Image.fromarray(rgb).convert("LAB").save(src)
    pic = read(src)
    assert pic.arr.dtype == np.uint8 and pic.arr.shape == (12, 16, 3)  # no alpha
    if kind != "pillow8":  # Pillow's own Lab TIFF: a* and b* are not stored as TIFF says
        delta_e = np.sqrt(((_lab_of(pic.arr / 255.0) - lab) ** 2).sum(-1))
        assert delta_e.max() <= 3  # 8-bit Lab steps (a*, b* whole units) and 8-bit sRGB
    assert ("16-bit Lab" in " ".join(pic.notes)) == (kind == "tifffile16")


def _alpha_plane(h: int, w: int, dtype: type) -> np.ndarray:
    """Alpha 0 on the left quarter, half in the middle quarter, full on the right half."""
    top = np.iinfo(dtype).max
    a = np.full((h, w), top, dtype)
    a[:, : w // 4] = 0
    a[:, w // 4 : w // 2] = top // 2 + 1
    return a


def _with_alpha(colour: np.ndarray, alpha: np.ndarray | None, assoc: bool) -> np.ndarray:
    """``colour`` (float, in stored units) with ``alpha`` after it; premultiplied by it
    (rounded) for associated alpha."""
    if alpha is None:
        return colour
    if assoc:
        colour = np.round(colour * (alpha / float(np.iinfo(alpha.dtype).max))[..., None])
    return np.dstack([colour, alpha])


_ALPHAS = [None, "unassalpha", "assocalpha"]


@pytest.mark.parametrize("extra", _ALPHAS)
@pytest.mark.parametrize("bits", [8, 16])
def test_cielab_tiff_with_alpha_is_rgba(tmp_path: Path, bits: int, extra: str | None) -> None:
    """Lab TIFF at 8 or 16 bits, alpha (associated or not) or none: sRGB by the CIE
    formulas within 8-bit steps, the alpha exactly as stored, at its depth."""
    rgb = smooth(12, 16)
    lab = _lab_of(rgb / 255.0)
    dtype = np.uint8 if bits == 8 else np.uint16
    alpha = None if extra is None else _alpha_plane(12, 16, dtype)
    unit = (2.55, 1.0) if bits == 8 else (655.35, 256.0)  # L* and a*, b* per stored step
    stored = _with_alpha(np.dstack([lab[..., :1] * unit[0], lab[..., 1:] * unit[1]]),
                         alpha, extra == "assocalpha")  # fmt: skip
    raw = np.round(stored)
    signed = np.int8 if bits == 8 else np.int16
    samples = raw.astype(dtype)
    samples[..., 1:3] = raw[..., 1:3].astype(signed).view(dtype)
    tifffile.imwrite(tmp_path / "lab.tif", samples, photometric="cielab",
                     extrasamples=[extra] if extra else None)  # fmt: skip
    pic = read(tmp_path / "lab.tif")
    out_dtype = dtype if alpha is not None else np.uint8  # colour at 8 bits, alpha kept
    assert pic.arr.dtype == out_dtype and pic.arr.shape == (12, 16, 3 if alpha is None else 4)
    colour = pic.arr[..., :3] / float(np.iinfo(out_dtype).max)
    seen = slice(None) if alpha is None else slice(4, None)  # where alpha > 0
    delta_e = np.sqrt(((_lab_of(colour) - lab)[:, seen] ** 2).sum(-1))
    assert delta_e.max() <= 3  # 8-bit Lab steps (a*, b* whole units) and 8-bit sRGB
    if alpha is not None:
        np.testing.assert_array_equal(pic.arr[..., 3], alpha)
    assert not any("not kept" in n for n in pic.notes)
    assert ("16-bit Lab" in " ".join(pic.notes)) == (bits == 16)


@pytest.mark.parametrize("extra", _ALPHAS)
def test_float_cielab_tiff_is_srgb(tmp_path: Path, extra: str | None) -> None:
    """Float32 Lab TIFF (L* 0..100, a*, b* in CIE units), alpha (0..1, associated or not)
    or none: sRGB by the CIE formulas within 8-bit steps, the alpha as stored, said."""
    rgb = smooth(12, 16)
    lab = _lab_of(rgb / 255.0)
    alpha = None if extra is None else _alpha_plane(12, 16, np.uint8) / np.float32(255)
    colour = lab if extra != "assocalpha" else lab * alpha[..., None]
    samples = (colour if alpha is None else np.dstack([colour, alpha])).astype(np.float32)
    tifffile.imwrite(tmp_path / "lab.tif", samples, photometric="cielab",
                     extrasamples=[extra] if extra else None)  # fmt: skip
    pic = read(tmp_path / "lab.tif")
    assert pic.arr.shape == (12, 16, 3 if alpha is None else 4)
    top = 255.0 if pic.arr.dtype == np.uint8 else 1.0
    seen = slice(None) if alpha is None else slice(4, None)  # where alpha > 0
    delta_e = np.sqrt(((_lab_of(pic.arr[..., :3] / top) - lab)[:, seen] ** 2).sum(-1))
    assert delta_e.max() <= 3  # 8-bit Lab steps (a*, b* whole units) and 8-bit sRGB
    if alpha is not None:
        np.testing.assert_allclose(pic.arr[..., 3] / top, alpha, atol=1e-6)
    assert "32-bit float Lab converted to RGB at 8 bits" in " ".join(pic.notes)


@pytest.mark.parametrize("profile", [False, True])
@pytest.mark.parametrize("extra", _ALPHAS)
@pytest.mark.parametrize("bits", [8, 16])
def test_cmyk_tiff_keeps_its_depth_and_alpha(
    tmp_path: Path, bits: int, extra: str | None, profile: bool
) -> None:
    """CMYK TIFF at 8 or 16 bits, alpha (associated or not) or none, with or without an
    ICC profile: RGB(A) at the input's depth (through a profile: colour at 8 bits, the
    alpha at its depth), the alpha exactly as stored."""
    dtype = np.uint8 if bits == 8 else np.uint16
    top = np.iinfo(dtype).max
    ink = np.zeros((12, 16, 4))
    ink[..., 0] = np.linspace(0, top, 16)  # cyan across, black down
    ink[..., 3] = np.linspace(0, top // 2, 12)[:, None]
    ink[:, :, 1:3] = top if profile else 0  # "red" without the profile, white through it
    alpha = None if extra is None else _alpha_plane(12, 16, dtype)
    stored = np.round(_with_alpha(np.round(ink), alpha, extra == "assocalpha")).astype(dtype)
    tifffile.imwrite(tmp_path / "c.tif", stored, photometric="separated",
                     extrasamples=[extra] if extra else None,
                     iccprofile=cmyk_profile() if profile else None)  # fmt: skip
    pic = read(tmp_path / "c.tif")
    out_dtype = np.uint8 if profile and alpha is None else dtype
    assert pic.arr.dtype == out_dtype and pic.arr.shape == (12, 16, 3 if alpha is None else 4)
    x = np.round(ink) / top
    k = x[..., 3:]
    if profile:  # only K counts: a grey of Y = 1 - K (at 8 bits)
        grey = np.vectorize(srgb_of_grey)(1 - np.round(k * 255) / 255)
        want = np.repeat(grey, 3, -1) / 255
        tol = 3 / 255
    else:  # Pillow's formula, (1 - C) (1 - K)
        want = (1 - x[..., :3]) * (1 - k)
        tol = 1.5 / top if extra != "assocalpha" else 2 * 2 / top  # premultiplied rounding
    got = pic.arr[..., :3] / float(np.iinfo(out_dtype).max)
    seen = slice(None) if alpha is None else slice(4, None)
    assert np.abs(got - want)[:, seen].max() <= tol
    if alpha is not None:
        np.testing.assert_array_equal(pic.arr[..., 3], alpha)
    assert ("CMYK converted to RGB at 8 bits" in " ".join(pic.notes)) == (profile and bits == 16)


def test_8_bit_cmyk_with_alpha_to_8_bit_png(lite: DSRN, tmp_path: Path) -> None:
    """8-bit CMYK + alpha in, 8-bit RGBA PNG out: the pipeline's upscaling of the RGBA."""
    ink = np.zeros((12, 16, 4), np.uint8)
    ink[..., 0] = 200
    alpha = _alpha_plane(12, 16, np.uint8)
    tifffile.imwrite(tmp_path / "c.tif", np.dstack([ink, alpha]), photometric="separated",
                     extrasamples=["unassalpha"])  # fmt: skip
    upscale_file(tmp_path / "c.tif", tmp_path / "o.png", 2, lite, backend="torch")
    out = Image.open(tmp_path / "o.png")
    assert out.mode == "RGBA"
    rgba = np.dstack([np.full((12, 16, 3), (55, 255, 255), np.uint8), alpha])  # (1 - C), 1, 1
    want = upscale(rgba, 2, model=lite, backend="torch")
    np.testing.assert_array_equal(np.asarray(out), want)


@pytest.mark.parametrize("kind", ["rgba8", "rgba16", "grey_alpha16", "rgba_float"])
def test_tiff_associated_alpha_is_divided_out(tmp_path: Path, kind: str) -> None:
    """A TIFF whose alpha is associated (colour premultiplied) reads as straight colour
    at its depth, as Pillow reads 8-bit "RGBa": within rounding of the colour built."""
    dtype = {"rgba8": np.uint8, "rgba_float": np.float32}.get(kind, np.uint16)
    top = 1.0 if kind == "rgba_float" else float(np.iinfo(dtype).max)
    colour = smooth(12, 16)[..., :1 if kind == "grey_alpha16" else 3] / 255.0
    alpha = np.repeat(np.linspace(0.2, 1, 16)[None, :, None], 12, 0)
    stored = np.dstack([colour * alpha, alpha]) * top
    if kind != "rgba_float":
        stored = np.round(stored)
    tifffile.imwrite(tmp_path / "a.tif", stored.astype(dtype), extrasamples=["assocalpha"],
                     photometric="minisblack" if kind == "grey_alpha16" else "rgb")  # fmt: skip
    pic = read(tmp_path / "a.tif")
    assert pic.arr.dtype == dtype and pic.arr.shape == stored.shape
    np.testing.assert_array_equal(pic.arr[..., -1], stored[..., -1].astype(dtype))
    # premultiplied rounding: half a step over the smallest alpha (0.2), and the 8-bit read
    tol = 1e-6 if kind == "rgba_float" else 3.5 / top
    assert np.abs(pic.arr[..., :-1] / top - colour).max() <= tol
