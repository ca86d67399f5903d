import io

import numpy as np
import pytest
from PIL import Image

from dsrn_cli.jpeg import estimate_quality, ijg_table, quality_from_table, roundtrip


@pytest.fixture
def photo() -> np.ndarray:
    yy, xx = np.mgrid[0:48, 0:64] / 48.0
    g = 127 + 90 * np.sin(9 * xx + 3 * yy) * np.cos(7 * yy)
    return np.stack([g, g[::-1], 255 - g], -1).clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize("quality", [30, 42, 50, 60, 75, 83, 90, 95])
def test_quality_of_pillow_files(photo, tmp_path, quality):
    path = tmp_path / "a.jpg"
    Image.fromarray(photo).save(path, quality=quality)
    assert abs(estimate_quality(path) - quality) <= 5
    gray = tmp_path / "g.jpg"
    Image.fromarray(photo[..., 0]).save(gray, quality=quality)
    assert abs(estimate_quality(gray) - quality) <= 5


def test_non_ijg_tables_and_other_formats_give_none(photo, tmp_path):
    flat = tmp_path / "flat.jpg"
    Image.fromarray(photo).save(flat, qtables=[[12] * 64, [12] * 64])
    assert estimate_quality(flat) is None
    rng = np.random.default_rng(1)
    assert quality_from_table(rng.integers(1, 100, 64)) is None
    png = tmp_path / "a.png"
    Image.fromarray(photo).save(png)
    assert estimate_quality(png) is None
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    assert estimate_quality(bad) is None


def test_ijg_table_matches_what_pillow_writes(photo):
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, "JPEG", quality=37)
    buf.seek(0)
    with Image.open(buf) as im:
        assert list(im.quantization[0]) == ijg_table(37).tolist()


def test_roundtrip_keeps_shape_and_degrades_with_quality(photo):
    errs = []
    for q in (95, 50, 10):
        out = roundtrip(photo, q)
        assert out.shape == photo.shape and out.dtype == np.uint8
        errs.append(np.abs(out.astype(int) - photo).mean())
    assert 0 < errs[0] < errs[1] < errs[2]
    assert roundtrip(photo[..., 0], 50).shape == photo.shape[:2]
