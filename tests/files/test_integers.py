"""Integer samples beyond 8/16-bit unsigned: read as float, written as integers.

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

from ._helpers import cv2_read


def _own_range_reference(lite: DSRN, v: np.ndarray) -> np.ndarray:
    """The upscale of integer data as its own min..max on 0..1 would be, mapped back."""
    lo, hi = float(v.min()), float(v.max())
    unit = ((v.astype(np.float64) - lo) / (hi - lo)).astype(np.float32)
    return upscale(unit, 2, model=lite, backend="torch").astype(np.float64) * (hi - lo) + lo


@pytest.mark.parametrize("dtype", [np.int32, np.uint32, np.int16, np.int8])
def test_wide_integer_tiff_kept_in_its_type(lite: DSRN, tmp_path: Path, dtype: type) -> None:
    """Read as float32 with every value, upscaled as its own min..max on 0..1, written into
    TIFF in its own integer type (was float32, mapped from 0..max: off by a third of the
    range for data in the millions, by 2.7 for data at 1000..1001)."""
    yy, xx = np.mgrid[:12, :16]
    v = xx * 100_000 - 300_000 + yy * 20_000
    v = {np.int32: v + 1_000_000_000, np.uint32: v + 3_000_000_000, np.int16: v // 100,
         np.int8: v // 20_000}[dtype].astype(dtype)  # fmt: skip
    tifffile.imwrite(tmp_path / "i.tif", v, photometric="minisblack")
    pic = read(tmp_path / "i.tif")
    assert pic.arr.dtype == np.float32 and pic.source_dtype == np.dtype(dtype).name
    np.testing.assert_array_equal(pic.arr, v.astype(np.float32))  # values kept (float32)
    bits = np.dtype(dtype).itemsize * 8
    assert any(f"{bits}-bit" in n and "integer samples" in n for n in pic.notes)
    rec = upscale_file(tmp_path / "i.tif", tmp_path / "o.tif", 2, lite, backend="torch")
    out = tifffile.imread(tmp_path / "o.tif")
    assert out.dtype == dtype and out.shape == (24, 32)
    ref = _own_range_reference(lite, v)
    info = np.iinfo(dtype)
    want = np.clip(np.round(ref), info.min, info.max)
    span = float(v.max()) - float(v.min())
    ulp = float(np.spacing(np.float32(np.abs(v).max())))  # float32's step at that size
    assert np.abs(out.astype(np.float64) - want).max() <= 1e-4 * span + ulp + 1
    assert not any("cannot hold" in n for n in rec["notes"])


@pytest.mark.parametrize("fmt, peak", [("png", 65535), ("bmp", 255)])
def test_wide_integer_into_png_bmp_maps_its_range(lite: DSRN, tmp_path: Path, fmt: str,
                                                  peak: int) -> None:  # fmt: skip
    """Integer data that does not fit the output's 0..peak is mapped linearly from its own
    min..max onto it (said); it was clipped as float to 0..1 (every pixel 65535)."""
    yy, xx = np.mgrid[:12, :16]
    v = (-2400 + xx * 300 + yy * 60).astype(np.int16)
    tifffile.imwrite(tmp_path / "i.tif", v, photometric="minisblack")
    rec = upscale_file(tmp_path / "i.tif", tmp_path / f"o.{fmt}", 2, lite, backend="torch")
    out = np.asarray(Image.open(tmp_path / f"o.{fmt}").convert("I")).astype(np.float64)
    ref = np.round(_own_range_reference(lite, v))
    want = (ref - ref.min()) / (ref.max() - ref.min()) * peak
    assert np.abs(out - want).max() <= 1 + 1e-3 * peak
    assert out.min() == 0 and out.max() == peak and len(np.unique(out)) > min(200, peak // 4)
    assert any(f"min..max onto 0..{peak}" in n for n in rec["notes"])
    assert not any("clipped to 0..1" in n for n in rec["notes"])


def test_wide_integer_that_fits_png_is_written_as_it_is(lite: DSRN, tmp_path: Path) -> None:
    """int16 values 50..5650 into 16-bit PNG: the values themselves (was all 65535)."""
    yy, xx = np.mgrid[:12, :16]
    v = (50 + xx * 300 + yy * 100).astype(np.int16)
    tifffile.imwrite(tmp_path / "i.tif", v, photometric="minisblack")
    rec = upscale_file(tmp_path / "i.tif", tmp_path / "o.png", 2, lite, backend="torch")
    out = cv2_read(tmp_path / "o.png")
    assert out.dtype == np.uint16
    want = np.clip(np.round(_own_range_reference(lite, v)), 0, 65535)
    assert np.abs(out.astype(np.float64) - want).max() <= 1 + 1e-4 * float(np.ptp(v))
    assert any("written as 16-bit (values kept)" in n for n in rec["notes"])


def test_flat_and_alpha_integer_tiff(lite: DSRN, tmp_path: Path) -> None:
    """A flat int32 image stays exactly flat; int16 alpha comes back on its own scale."""
    tifffile.imwrite(tmp_path / "f.tif", np.full((10, 12), 100_000, np.int32))
    upscale_file(tmp_path / "f.tif", tmp_path / "of.tif", 2, lite, backend="torch")
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "of.tif"),
                                  np.full((20, 24), 100_000, np.int32))  # fmt: skip
    yy, xx = np.mgrid[:10, :12]
    ga = np.dstack([xx * 100 - 300, np.where(xx < 6, 0, 32767)]).astype(np.int16)
    tifffile.imwrite(tmp_path / "a.tif", ga, photometric="minisblack", extrasamples=["unassalpha"])
    assert read(tmp_path / "a.tif").arr[..., 1].max() == 1.0  # alpha on 0..1
    upscale_file(tmp_path / "a.tif", tmp_path / "oa.tif", 2, lite, backend="torch")
    out = tifffile.imread(tmp_path / "oa.tif")
    assert out.dtype == np.int16 and out.shape == (20, 24, 2)
    assert (out[:, :8, 1] == 0).all() and (out[:, 16:, 1] == 32767).all()


def test_float64_tiff_is_said(tmp_path: Path) -> None:
    v = np.linspace(-0.5, 1.5, 12 * 16).reshape(12, 16)
    tifffile.imwrite(tmp_path / "f.tif", v, photometric="minisblack")
    pic = read(tmp_path / "f.tif")
    np.testing.assert_array_equal(pic.arr, v.astype(np.float32))
    assert any("64-bit float samples" in n for n in pic.notes)
