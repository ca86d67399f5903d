import numpy as np
import pytest
import torch
from PIL import Image

from dsrn_cli.pixels.color import rgb_to_y, rgb_to_ycbcr, rgb_to_ycbcr_torch, y_uint8, ycbcr_to_rgb
from dsrn_cli.pixels.resize import imresize, imresize_torch, modcrop

from ..conftest import DATA, need


def _cases():
    ref = DATA / "reference" / "matlab-lr"
    for ds in ("Set5", "Set14"):
        for s in (2, 3, 4):
            folder = ref / ds / f"x{s}"
            if folder.exists():
                for p in sorted(folder.glob("*.png")):
                    yield pytest.param(ds, s, p.stem, id=f"{ds}-x{s}-{p.stem}")


@pytest.mark.parametrize("ds,scale,name", list(_cases()) or [pytest.param("", 0, "", marks=
                         pytest.mark.skip(reason="no MATLAB reference images"))])
def test_resize_matches_matlab(ds, scale, name):
    hr = np.asarray(Image.open(need(DATA / "test" / ds / f"{name}.png")).convert("RGB"))
    ref = np.asarray(Image.open(DATA / "reference" / "matlab-lr" / ds / f"x{scale}" /
                                f"{name}.png").convert("RGB")).astype(int)
    lr = imresize(modcrop(hr, scale), 1 / scale)
    assert lr.dtype == np.uint8 and lr.shape == ref.shape
    diff = np.abs(lr.astype(int) - ref)[4:-4, 4:-4]
    assert (diff == 0).mean() >= 0.99
    assert diff.max() <= 1


def test_resize_shapes_and_dtypes():
    img = np.random.default_rng(0).integers(0, 256, (17, 23, 3), dtype=np.uint8)
    assert imresize(img, 2).shape == (34, 46, 3)
    assert imresize(img, 1 / 3).shape == (6, 8, 3)
    assert imresize(img, size=(10, 40)).shape == (10, 40, 3)
    f = imresize(img.astype(np.float64) / 255, 0.5)
    assert f.dtype == np.float64


def test_resize_constant_is_constant():
    img = np.full((20, 30), 0.7)
    np.testing.assert_allclose(imresize(img, 0.37), 0.7, atol=1e-12)
    np.testing.assert_allclose(imresize(img, 3), 0.7, atol=1e-12)


def test_torch_upscale_equals_numpy():
    img = np.random.default_rng(1).random((13, 19))
    for s in (2, 3, 4):
        t = imresize_torch(torch.from_numpy(img)[None, None], s)[0, 0].numpy()
        np.testing.assert_allclose(t, imresize(img, s), atol=1e-12)


def test_uint8_halves_round_up_like_matlab():
    # Two pixels shrunk to one sample exactly between them: 100.5, which MATLAB rounds
    # away from zero (numpy's round would give 100).
    img = np.array([[100, 101]], dtype=np.uint8)
    assert imresize(img.astype(np.float64), size=(1, 1))[0, 0] == 100.5
    assert imresize(img, size=(1, 1))[0, 0] == 101


def test_ycbcr_round_trip_and_matlab_values():
    rgb = np.random.default_rng(2).integers(0, 256, (8, 9, 3)).astype(np.float64)
    np.testing.assert_allclose(ycbcr_to_rgb(rgb_to_ycbcr(rgb)), rgb, atol=1e-9)
    # MATLAB: rgb2ycbcr(uint8([255 255 255])) = [235 128 128], black = [16 128 128]
    np.testing.assert_allclose(rgb_to_ycbcr(np.array([[[255, 255, 255]]])), [[[235, 128, 128]]],
                               atol=1e-9)
    np.testing.assert_allclose(rgb_to_y(np.zeros((1, 1, 3))), 16)
    assert y_uint8(np.full((1, 1, 3), 255, np.uint8))[0, 0] == 235
    # grayscale images are R = G = B
    g = np.array([[0.0, 128.0]])
    np.testing.assert_allclose(rgb_to_y(g), rgb_to_y(np.repeat(g[..., None], 3, -1)))
    t = torch.from_numpy(rgb).permute(2, 0, 1)
    np.testing.assert_allclose(rgb_to_ycbcr_torch(t).permute(1, 2, 0).numpy(), rgb_to_ycbcr(rgb),
                               atol=1e-9)


def test_modcrop():
    assert modcrop(np.zeros((13, 10, 3)), 4).shape == (12, 8, 3)
