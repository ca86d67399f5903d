"""Self-ensemble: the eight views, their inverse, and the pipeline wired through it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dsrn_cli.api import upscale
from dsrn_cli.evaluation.bench import evaluate
from dsrn_cli.files.imageio import list_images
from dsrn_cli.model.network import DSRN
from dsrn_cli.runtime.engines import TorchBackend
from dsrn_cli.runtime.ensemble import VIEWS, backward, forward, self_ensemble, with_ensemble
from dsrn_cli.runtime.tiling import upscale_luma
from tests.util import tiny_net

RNG = np.random.default_rng(1)

# The dihedral group written out independently of ensemble.VIEWS: (transform, its inverse).
GROUP = [
    (lambda a: a, lambda a: a),
    (np.rot90, lambda a: np.rot90(a, -1)),
    (lambda a: np.rot90(a, 2), lambda a: np.rot90(a, 2)),
    (lambda a: np.rot90(a, -1), np.rot90),
    (np.fliplr, np.fliplr),
    (np.flipud, np.flipud),
    (np.transpose, np.transpose),
    (lambda a: np.rot90(a, 2).T, lambda a: np.rot90(a.T, 2)),
]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny() -> DSRN:
    torch.manual_seed(0)
    return tiny_net()


def _skewed(y: np.ndarray) -> np.ndarray:
    """A 2x upscaler that is deliberately not flip/rotation equivariant."""
    up = np.kron(y, np.ones((2, 2), dtype=np.float32))
    h, w = up.shape
    return up + np.arange(h, dtype=np.float32)[:, None] * 0.01 + np.arange(w) * 0.003


def test_views_are_the_eight_symmetries_and_invert() -> None:
    x = RNG.random((5, 7)).astype(np.float32)
    seen = {forward(x, k, f).tobytes() + bytes(forward(x, k, f).shape) for k, f in VIEWS}
    assert len(VIEWS) == 8 and len(seen) == 8
    for k, f in VIEWS:
        assert np.array_equal(backward(forward(x, k, f), k, f), x)


def test_ensemble_is_the_mean_of_the_eight_transformed_runs() -> None:
    y = RNG.random((6, 9)).astype(np.float32)
    want = np.mean([inv(_skewed(np.ascontiguousarray(t(y)))) for t, inv in GROUP], axis=0)
    got = self_ensemble(_skewed, y)
    assert got.shape == (12, 18) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    assert np.abs(got - _skewed(y)).max() > 0.01  # the views really differ for this fn


def test_ensemble_of_an_equivariant_upscaler_changes_nothing() -> None:
    y = RNG.random((6, 9)).astype(np.float32)

    def nearest(a: np.ndarray) -> np.ndarray:
        return np.kron(a, np.ones((3, 3), dtype=np.float32))

    np.testing.assert_allclose(self_ensemble(nearest, y), nearest(y), rtol=0, atol=1e-6)


def test_ensemble_per_tile_equals_whole_image(tiny: DSRN) -> None:
    """Tiles carry the receptive-field margin, so ensembling each tile (where a backend
    runs) equals ensembling the whole plane."""
    y = RNG.random((40, 52)).astype(np.float32)
    be = TorchBackend(tiny)
    whole = self_ensemble(lambda a: upscale_luma(be, a, tile=1000), y)
    tiled = upscale_luma(with_ensemble(be), y, tile=16)
    assert np.abs(whole - tiled).max() * 255 <= 1e-3


@pytest.mark.slow
def test_api_ensemble_tiled_equals_untiled_and_differs_from_plain(tiny: DSRN) -> None:
    img = RNG.integers(0, 256, (30, 44, 3), dtype=np.uint8)
    a = upscale(img, 2, model=tiny, tile=1000, ensemble=True).astype(np.int16)
    b = upscale(img, 2, model=tiny, tile=12, ensemble=True).astype(np.int16)
    plain = upscale(img, 2, model=tiny, tile=1000).astype(np.int16)
    assert a.shape == (60, 88, 3)
    assert np.abs(a - b).max() <= 1 and np.mean(a != b) < 0.01
    assert np.abs(a - plain).max() >= 1


def test_api_ensemble_is_the_rounded_mean_on_gray(tiny: DSRN) -> None:
    img = RNG.integers(0, 256, (20, 26), dtype=np.uint8)
    y = img.astype(np.float32) / 255.0
    views = [inv(upscale_luma(TorchBackend(tiny), np.ascontiguousarray(t(y)))) for t, inv in GROUP]
    want = np.clip(np.floor(np.mean(views, axis=0) * 255.0 + 0.5), 0, 255)
    got = upscale(img, 2, model=tiny, ensemble=True, precision="fp32").astype(np.float64)
    assert np.abs(got - want).max() <= 1 and np.mean(got != want) < 0.01


@pytest.mark.slow
def test_bench_ensemble_on_a_set5_crop(set5, tmp_path, tiny: DSRN) -> None:
    from PIL import Image

    crop = tmp_path / "crop.png"
    Image.open(list_images(set5)[0]).convert("RGB").crop((100, 100, 164, 148)).save(crop)
    plain = evaluate([crop], 2, "dsrn", tiny, metrics=("psnr", "ssim"))
    ens = evaluate([crop], 2, "dsrn", tiny, ensemble=True, metrics=("psnr", "ssim"))
    assert ens["ensemble"] and not plain["ensemble"]
    assert ens["psnr"] != plain["psnr"]
