import numpy as np
import pytest
import torch

from dsrn_cli.model.config import DSRNConfig
from dsrn_cli.model.network import DSRN
from dsrn_cli.runtime.engines import TorchBackend
from dsrn_cli.runtime.tiling import spans, upscale_luma


@pytest.mark.parametrize("n", [1, 5, 17, 100, 383, 384, 385, 1000, 2001])
@pytest.mark.parametrize("tile, radius", [(1, 0), (16, 3), (80, 17), (384, 17), (512, 32)])
def test_spans_cover_once_with_enough_context_and_one_window_shape(
    n: int, tile: int, radius: int
) -> None:
    for start in (0, n // 3):
        got = spans(n, tile, radius, start)
        kept = [i for a, b, _, _ in got for i in range(a, b)]
        assert kept == list(range(start, n))  # every index once, in order
        assert len({hi - lo for _, _, lo, hi in got}) == 1  # one window shape
        for a, b, lo, hi in got:
            assert b - a <= tile
            assert lo <= a - radius and hi >= b + radius  # past the border: mirrored


def test_spans_are_balanced() -> None:
    """2000 px in tiles of 384: six spans of 334/330, not five of 384 and a thin 80."""
    sizes = [b - a for a, b, _, _ in spans(2000, 384, 17)]
    assert sizes == [334] * 5 + [330]


class _OOMOnce(TorchBackend):
    """Runs out of memory on the first tile larger than ``limit`` LR pixels."""

    def __init__(self, model: DSRN, limit: int) -> None:
        super().__init__(model)
        self.limit, self.failed = limit, False

    def sr(self, lr: np.ndarray) -> np.ndarray:
        if lr.size > self.limit and not self.failed:
            self.failed = True
            raise RuntimeError("CPU out of memory (simulated)")
        return super().sr(lr)


def test_out_of_memory_halves_the_tile_and_keeps_the_pixels() -> None:
    torch.manual_seed(0)
    net = DSRN(DSRNConfig(scale=2, c_lr=8, c_hr=4, c_first=8, steps=2)).eval()  # narrow HR
    y = np.random.default_rng(0).random((70, 90), dtype=np.float32)
    whole = upscale_luma(TorchBackend(net), y, tile=1000)
    be = _OOMOnce(net, limit=40 * 40)
    tiled = upscale_luma(be, y, tile=64)
    assert be.failed
    assert np.abs(whole - tiled).max() * 255 <= 1e-3


@pytest.mark.parametrize("mode", ["symmetric", "edge", "reflect"])
@pytest.mark.parametrize("n", [1, 2, 3, 7, 40])
def test_window_past_the_border_is_np_pad(monkeypatch, mode: str, n: int) -> None:
    """The context past the border is the image padded as np.pad pads it (any width)."""
    from dsrn_cli.runtime import tiling

    monkeypatch.setattr(tiling, "PAD", mode)
    y = np.random.default_rng(n).random((n, n + 1)).astype(np.float32)
    pad = 20
    want = np.pad(y, ((pad, pad), (0, 0)), mode="edge" if n == 1 else mode)  # 1 px: edge
    want = np.pad(want, ((0, 0), (pad, pad)), mode=mode)
    for r0, r1, c0, c1 in [(-pad, n + pad, -pad, n + 1 + pad), (0, n, 0, n + 1), (-3, 2, 1, n + 5)]:
        got = tiling.window(y, (r0, r1), (c0, c1))
        assert np.array_equal(got, want[r0 + pad : r1 + pad, c0 + pad : c1 + pad])
