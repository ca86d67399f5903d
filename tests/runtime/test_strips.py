"""Streaming assembly: the same pixels as the whole-image float pipeline it replaced."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dsrn_cli.pixels.color import rgb_to_ycbcr, ycbcr_to_rgb
from dsrn_cli.pixels.resize import imresize
from dsrn_cli.runtime import strips as asm
from dsrn_cli.runtime.engines import TorchBackend
from dsrn_cli.runtime.tiling import upscale_luma
from tests.util import tiny_net

RNG = np.random.default_rng(1)


@pytest.fixture(scope="module")
def net() -> TorchBackend:
    torch.manual_seed(0)
    return TorchBackend(tiny_net())


def _whole_image(net: TorchBackend, arr: np.ndarray, scale: int, tile: int) -> np.ndarray:
    """The pipeline before streaming (commit 627427d), kept verbatim as the reference."""
    peak = 255.0 if arr.dtype == np.uint8 else 65535.0
    x = arr.astype(np.float32) * np.float32(255.0 / peak)

    def luma(y255: np.ndarray) -> np.ndarray:
        y = (np.asarray(y255, dtype=np.float32) / 255.0).astype(np.float32)
        return upscale_luma(net, y, tile) * np.float32(255.0)

    def finish(v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=np.float32)
        if peak != 255.0:
            v *= np.float32(peak / 255.0)
        v += np.float32(0.5)
        np.floor(v, out=v)
        np.clip(v, 0, peak, out=v)
        return v.astype(arr.dtype)

    if x.ndim == 2:
        return finish(luma(x))
    color, alpha = (x[..., :3], x[..., 3:]) if x.shape[2] >= 3 else (x[..., :1], x[..., 1:])
    if color.shape[2] == 3:
        ycc = rgb_to_ycbcr(color)
        y_hr = luma(ycc[..., 0])
        chroma = imresize(ycc[..., 1:], scale=scale).astype(np.float32)
        up = np.empty(y_hr.shape + (3,), dtype=np.float32)
        for r in range(0, y_hr.shape[0], 256):
            strip = np.concatenate([y_hr[r : r + 256, :, None], chroma[r : r + 256]], axis=2)
            up[r : r + 256] = ycbcr_to_rgb(strip)
    else:
        up = luma(color[..., 0])[..., None]
    if alpha.shape[2]:
        up = np.concatenate([up, imresize(alpha, scale=scale).astype(np.float32)], axis=2)
    return finish(up)


CASES = [((150, 41, 3), np.uint8), ((140, 37, 4), np.uint8), ((133, 30), np.uint8),
         ((131, 29, 2), np.uint16), ((129, 33, 3), np.uint16), ((10, 7, 1), np.uint8)]  # fmt: skip




def _random(shape: tuple, dtype: type) -> np.ndarray:
    """Random pixels; alpha (2 or 4 channels) opaque: partial alpha takes another path
    (premultiplied, tests/runtime/test_render.py)."""
    arr = RNG.integers(0, np.iinfo(dtype).max + 1, shape).astype(dtype)
    if len(shape) == 3 and shape[2] in (2, 4):
        arr[..., -1] = np.iinfo(dtype).max
    return arr


@pytest.mark.parametrize(("shape", "dtype"), CASES)
def test_strips_equal_whole_image_on_cpu(net: TorchBackend, shape: tuple, dtype: type) -> None:
    arr = _random(shape, dtype)
    want = _whole_image(net, arr, 2, 48)
    got = asm.assemble_array(net, arr, 2, 48)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(got, want)  # identical, not merely close


@pytest.mark.slow
def test_torch_path_within_one_level(net: TorchBackend) -> None:
    """The accelerator's code path, run here on the CPU: within one grey level."""
    for shape, dtype in CASES:
        arr = _random(shape, dtype)
        want = asm.assemble_array(net, arr, 2, 48).astype(np.int64)
        strips = list(asm._strips_torch(net, arr, 2, 48, float(np.iinfo(dtype).max),
                                        torch.device("cpu")))  # fmt: skip
        got = np.concatenate(strips).astype(np.int64)
        step = 1 if dtype == np.uint8 else 257
        assert got.shape == want.shape and np.abs(got - want).max() <= step


def test_strip_resize_matches_imresize() -> None:
    lr = RNG.random((23, 9, 2))
    full = imresize(lr, scale=3)
    rows = asm._resize_rows(lambda lo, hi: lr[lo:hi], 23, 9, 3, 5, 40)
    assert np.array_equal(rows, full[5:40])
    t = torch.from_numpy(lr).permute(2, 0, 1)
    assert np.allclose(asm._resize_rows_torch(t, 3, 5, 40).permute(1, 2, 0).numpy(), full[5:40])


def test_rechunk_regroups_rows() -> None:
    bands = [np.full((n, 2), i) for i, n in enumerate([3, 7, 1, 5])]
    out = list(asm._rechunk(iter(bands), 4))
    assert [len(s) for s in out] == [4, 4, 4, 4]
    assert np.array_equal(np.concatenate(out), np.concatenate(bands))


def test_precision_wrapper_runs_the_network_in_bf16(net: TorchBackend) -> None:
    """--precision's wrapper (CUDA in use; CPU autocast here): close to fp32, not equal."""
    from dsrn_cli.runtime.selection import with_precision

    assert with_precision(net, "fp32") is net
    y = RNG.random((20, 24)).astype(np.float32)
    half = with_precision(net, "bf16")
    assert half.scale == 2 and half.device == net.device and "bf16" in half.name
    a, b = net.sr(y), half.sr(y)
    assert a.dtype == b.dtype == np.float32 and a.shape == b.shape
    assert 0 < np.abs(a - b).max() < 0.05


def test_float32_on_both_paths(net: TorchBackend) -> None:
    """float32 0..1: the uint8 pipeline's values before rounding, on the numpy and the
    accelerator's path (run here on the CPU), not clipped, not rounded."""
    u8 = RNG.integers(0, 256, (30, 21, 3), dtype=np.uint8)
    f = u8.astype(np.float32) / np.float32(255.0)
    got = asm.assemble_array(net, f, 2, 48)
    assert got.dtype == np.float32
    ref = asm.assemble_array(net, u8, 2, 48).astype(np.float64)
    inside = (got > 0) & (got < 1)
    assert np.abs(got[inside] * 255.0 - ref[inside]).max() <= 0.5 + 1e-3
    dev = np.concatenate(list(asm._strips_torch(net, f, 2, 48, 1.0, torch.device("cpu"))))
    assert dev.dtype == np.float32 and np.abs(dev - got).max() * 255.0 <= 1e-2
