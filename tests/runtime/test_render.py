"""The pixel side of upscaling: partial alpha resampled premultiplied, flat images stay
flat at the border, float32 arrays upscaled in float.

Bundled ``lite`` with the torch backend, on images of a few dozen pixels. Every expected
value is the input's own colour or comes from numpy / np.pad, not from the code tested.
"""

from __future__ import annotations

import numpy as np
import pytest

import dsrn_cli
from dsrn_cli.runtime.backend import Backend
from dsrn_cli.runtime.render import upscale_array
from dsrn_cli.runtime.selection import get_model
from dsrn_cli.runtime.tiling import upscale_luma

RNG = np.random.default_rng(16)
DISC = (255, 40, 40)


@pytest.fixture(scope="module")
def nets(one_thread) -> dict[int, Backend]:
    return {s: get_model(s, "lite", device="cpu", backend="torch") for s in (2, 3, 4)}


def _peak(dtype: type) -> float:
    return 1.0 if dtype == np.float32 else float(np.iinfo(dtype).max)


def _disc(color: tuple[int, ...], dtype: type, size: int = 48, radius: float = 15) -> np.ndarray:
    """A disc of ``color`` (on 0..255, alpha 255) on transparent black, in ``dtype``."""
    yy, xx = np.mgrid[:size, :size]
    inside = (yy - (size - 1) / 2) ** 2 + (xx - (size - 1) / 2) ** 2 <= radius**2
    arr = np.zeros((size, size, len(color) + 1), dtype=np.float64)
    arr[inside] = (*color, 255)
    return (arr * (_peak(dtype) / 255.0)).astype(dtype)


# ------------------------------------------------------------------ row 7: partial alpha


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("color", [DISC, (180,)], ids=["rgba", "la"])
def test_edge_pixels_keep_the_disc_colour(nets, color: tuple[int, ...], dtype: type) -> None:
    """Half-transparent edge pixels were (115,19,19) for the red disc: a dark rim."""
    out = upscale_array(_disc(color, dtype), 2, nets[2])
    assert out.dtype == dtype and out.shape == (96, 96, len(color) + 1)
    x = out.astype(np.float64) * (255.0 / _peak(dtype))  # on 0..255
    alpha = x[..., -1]
    edge = (alpha >= 0.5) & (alpha <= 254.5)
    assert edge.sum() > 100  # a ring of them
    assert np.abs(x[edge][:, :-1] - np.array(color)).max() <= 3.0
    inside = alpha > 254.5
    assert np.abs(x[inside][:, :-1] - np.array(color)).max() <= 3.0
    least = 0.5 / 65535 if dtype == np.float32 else 1  # alpha rounds to 0 below this
    invisible = out[..., -1] < least
    assert invisible.sum() > 1000 and np.all(out[invisible] == 0)  # transparent black
    assert out[..., -1].min() >= 0 and out[..., -1].max() <= _peak(dtype)


def test_hidden_colour_never_shows(nets) -> None:
    """What fully transparent pixels hide does not change a single output value."""
    black = _disc(DISC, np.uint8)
    green = black.copy()
    green[black[..., 3] == 0] = (0, 255, 0, 0)
    assert np.array_equal(upscale_array(black, 2, nets[2]), upscale_array(green, 2, nets[2]))


def test_opaque_alpha_changes_nothing(nets) -> None:
    """Alpha 255 everywhere: the colour bit-identical to the same image without alpha."""
    rgb = RNG.integers(0, 256, (20, 26, 3), dtype=np.uint8)
    rgba = np.concatenate([rgb, np.full((20, 26, 1), 255, np.uint8)], axis=2)
    out = upscale_array(rgba, 2, nets[2])
    assert np.array_equal(out[..., :3], upscale_array(rgb, 2, nets[2]))
    assert np.all(out[..., 3] == 255)
    grey = rgb[..., 0]
    la = np.stack([grey, np.full_like(grey, 255)], axis=2)
    assert np.array_equal(upscale_array(la, 2, nets[2])[..., 0], upscale_array(grey, 2, nets[2]))


def test_far_from_transparency_as_if_opaque(nets) -> None:
    """One transparent pixel in a corner: pixels past the network's reach of it match the
    opaque image within a level (float64 vs float32 base)."""
    be = nets[2]
    rgb = RNG.integers(0, 256, (44, 44, 3), dtype=np.uint8)
    rgba = np.concatenate([rgb, np.full((44, 44, 1), 255, np.uint8)], axis=2)
    rgba[0, 0, 3] = 0
    got = upscale_array(rgba, 2, be).astype(int)
    want = upscale_array(rgb, 2, be).astype(int)
    far = 2 * (be.radius + 3)
    assert np.abs(got[far:, far:, :3] - want[far:, far:]).max() <= 1


@pytest.mark.slow
def test_alpha_path_does_not_depend_on_tiles(nets) -> None:
    arr = RNG.integers(0, 256, (40, 37, 4), dtype=np.uint8)
    whole = upscale_array(arr, 2, nets[2], tile=1000).astype(int)
    tiled = upscale_array(arr, 2, nets[2], tile=16).astype(int)
    assert np.abs(whole - tiled).max() <= 1


# ------------------------------------------------------------- row 9: flat stays flat


FLAT = (89, 159, 32)


@pytest.mark.parametrize(
    "size",
    [(1, 1), (1, 7), (3, 3), (2, 5), (17, 1), (7, 2),
     pytest.param((30, 41), marks=pytest.mark.slow)],  # fmt: skip
)
def test_one_colour_images_stay_flat(nets, size: tuple[int, int]) -> None:
    """Zero padding at the border gave up to 14 grey levels of texture (1x1, 1x7, 3x3)."""
    img = np.empty((*size, 3), np.uint8)
    img[...] = FLAT
    for scale in (2, 3, 4):
        out = upscale_array(img, scale, nets[scale]).astype(int)
        assert out.shape == (size[0] * scale, size[1] * scale, 3)
        assert np.abs(out - np.array(FLAT)).max() <= 1, (size, scale)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_flat_grey_and_alpha_stay_flat(nets, dtype: type) -> None:
    peak = _peak(dtype)
    grey = np.full((3, 5), 0.3 * peak, np.float64).astype(dtype)
    out = upscale_array(grey, 2, nets[2]).astype(np.float64)
    assert np.abs(out - float(grey[0, 0])).max() <= peak / 255.0
    la = np.stack([grey, np.full_like(grey, int(peak * 0.5) if peak > 1 else 0.5)], 2)
    out = upscale_array(la, 2, nets[2]).astype(np.float64)
    assert np.abs(out - la[0, 0].astype(np.float64)).max() <= peak / 255.0


def test_border_windows_see_the_mirrored_image(nets) -> None:
    """Tiles past the border get the image mirrored (np.pad 'symmetric'), not zeros."""
    be = nets[2]
    r = be.radius
    y = RNG.random((23, 30), dtype=np.float32)
    want = be.sr(np.pad(y, r, mode="symmetric"))[2 * r : -2 * r, 2 * r : -2 * r]
    for tile in (1000, 10):
        assert np.abs(upscale_luma(be, y, tile) - want).max() * 255 <= 1e-3


# --------------------------------------------------------------- row 2: float32 arrays


@pytest.mark.parametrize("shape", [(13, 11), (13, 11, 3), (13, 11, 4)])
def test_float_arrays_upscale_in_float(nets, shape: tuple[int, ...]) -> None:
    """float32 0..1 maps as uint8 0..255: the same pixels before the uint8 rounding."""
    u8 = RNG.integers(0, 256, shape, dtype=np.uint8)
    if len(shape) == 3 and shape[2] == 4:
        u8[..., 3] = 255
    f = u8.astype(np.float32) / np.float32(255.0)
    out = upscale_array(f, 2, nets[2])
    assert out.dtype == np.float32 and out.shape == (26, 22) + shape[2:]
    ref = upscale_array(u8, 2, nets[2]).astype(np.float64)
    # within the uint8 path's rounding (half a level) plus float noise
    inside = (out > 0) & (out < 1)  # the uint8 path also clips
    assert np.abs(out[inside] * 255.0 - ref[inside]).max() <= 0.5 + 1e-3
    assert np.mean(np.abs(out * 255.0 - np.round(out * 255.0)) > 0.01) > 0.5  # not levels
    via_api = dsrn_cli.upscale(f, 2, model=nets[2])
    assert via_api.dtype == np.float32 and np.array_equal(via_api, out)


def test_float_out_of_range_is_kept(nets) -> None:
    flat = np.full((4, 6), 1.02, np.float32)
    out = upscale_array(flat, 2, nets[2])
    assert out.min() > 1.0 and np.abs(out - 1.02).max() <= 2 / 255  # not clipped to 1.0
    low = np.full((4, 6), -0.01, np.float32)
    assert upscale_array(low, 2, nets[2]).max() < 0


@pytest.mark.parametrize("lo, span", [(1000.0, 1.0), (1_000_000.0, 161.0), (-3e9, 2.5e3)])
def test_float_far_from_0_1_maps_its_own_range(nets, lo: float, span: float) -> None:
    """Colour beyond 0..1 goes through the network as its own min..max on 0..1: the result
    is the 0..1 image's upscale mapped back, within a small fraction of the data's range
    (it was anchored at 0: data at 1000..1001 came back 2.7 too high)."""
    unit = RNG.random((12, 10, 3), dtype=np.float32)
    unit[0, 0], unit[1, 1] = 0.0, 1.0  # its own min and max
    data = (unit.astype(np.float64) * span + lo).astype(np.float32)
    out = upscale_array(data, 2, nets[2]).astype(np.float64)
    # the expected value from the data's own normalised values through the 0..1 path
    d = data.astype(np.float64)
    norm = ((d - d.min()) / (d.max() - d.min())).astype(np.float32)
    ref = upscale_array(norm, 2, nets[2]).astype(np.float64) * (d.max() - d.min()) + d.min()
    ulp = float(np.spacing(np.float32(abs(lo) + span)))  # float32's step at that size
    assert np.abs(out - ref).max() <= 1e-4 * span + 2 * ulp


@pytest.mark.parametrize("value", [100000.0, -1234.0, 3e9, 7.5])
def test_flat_beyond_0_1_stays_flat(nets, value: float) -> None:
    """A flat image beyond 0..1 comes back exactly flat, with and without alpha."""
    flat = np.full((9, 7), value, np.float32)
    assert np.array_equal(upscale_array(flat, 2, nets[2]), np.full((18, 14), flat[0, 0]))
    rgba = np.dstack([np.full((9, 7, 3), value, np.float32), RNG.random((9, 7), np.float32)])
    out = upscale_array(rgba, 2, nets[2])
    assert np.array_equal(out[..., :3], np.full((18, 14, 3), flat[0, 0]))


def test_float_checks(nets) -> None:
    bad = np.zeros((4, 4), np.float32)
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        upscale_array(bad, 2, nets[2])
    with pytest.raises(TypeError, match="float32"):
        upscale_array(np.zeros((4, 4)), 2, nets[2])


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_outscale_resize_keeps_edges_and_float(nets, dtype: type) -> None:
    """x1.5 = x2, then MATLAB's bicubic down: premultiplied there too, float stays float."""
    out = dsrn_cli.upscale(_disc(DISC, dtype), model=nets[2], outscale=1.5)
    assert out.dtype == dtype and out.shape == (72, 72, 4)
    x = out.astype(np.float64) * (255.0 / _peak(dtype))
    edge = (x[..., 3] >= 0.5) & (x[..., 3] <= 254.5)
    assert edge.sum() > 50 and np.abs(x[edge][:, :3] - np.array(DISC)).max() <= 3.0
