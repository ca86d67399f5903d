"""IFC: matched image by image against the SelfExSR benchmark's MATLAB numbers."""

import json

import numpy as np
import pytest

from dsrn_cli.evaluation.bench import evaluate
from dsrn_cli.evaluation.metrics import ifc
from dsrn_cli.files.imageio import list_images
from tests.util import run_cli

from ..conftest import DATA, need


def _smooth_image(rng: np.random.Generator, h: int = 96, w: int = 120) -> np.ndarray:
    """A photo stand-in: smoothed noise plus a gradient, 0..255."""
    img = rng.normal(0, 40, (h, w))
    k = np.ones(5) / 5
    img = np.apply_along_axis(np.convolve, 0, img, k, "same")
    img = np.apply_along_axis(np.convolve, 1, img, k, "same")
    return np.clip(img + np.linspace(60, 190, w), 0, 255)


def test_ifc_orders_quality_and_checks_input():
    rng = np.random.default_rng(0)
    ref = _smooth_image(rng)
    scores = [ifc(ref, np.clip(ref + rng.normal(0, sd, ref.shape), 0, 255)) for sd in (2, 8, 30)]
    same = ifc(ref, ref)
    assert same > scores[0] > scores[1] > scores[2] > 0
    # the distorted image is not the reference: the score is not symmetric
    blurred = (ref + np.roll(ref, 1, 0) + np.roll(ref, 1, 1)) / 3
    assert ifc(ref, blurred) != pytest.approx(ifc(blurred, ref), rel=1e-3)
    # a flat reference carries no information
    assert ifc(np.full((80, 80), 128.0), rng.uniform(0, 255, (80, 80))) == 0.0
    with pytest.raises(ValueError, match="one size"):
        ifc(ref, ref[:-1])
    with pytest.raises(ValueError, match="2-D"):
        ifc(np.stack([ref] * 3, -1), np.stack([ref] * 3, -1))
    with pytest.raises(ValueError, match="72 px"):
        ifc(ref[:70], ref[:70])
    # the shave cuts the border before anything else
    assert ifc(ref, blurred, shave=4) == ifc(ref[4:-4, 4:-4], blurred[4:-4, 4:-4])


def test_subbands_are_pyrtools_steerable_pyramid():
    from pyrtools.pyramids import SteerablePyramidSpace

    from dsrn_cli.evaluation.ifc import subbands

    img = _smooth_image(np.random.default_rng(1), 75, 101)
    full = SteerablePyramidSpace(img, height=4, order=5, edge_type="reflect1").pyr_coeffs
    mine = subbands(img)
    assert sorted(mine) == [(lev, b) for lev in range(4) for b in (0, 3)]
    for k, v in mine.items():
        np.testing.assert_array_equal(v, full[k])


@pytest.mark.slow
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_ifc_matches_selfexsr_per_image(scale):
    reference = json.loads(need(DATA / "reference" / "ifc_bicubic.json").read_text())
    for name in ("Set5", "Set14"):
        # bridge is excluded: SelfExSR scored that grayscale file on raw grey, not on luma
        want = {i["name"]: i["ifc"] for i in reference["bicubic"][name][f"x{scale}"]["images"]
                if i["name"] != "bridge"}
        paths = [p for p in list_images(need(DATA / "test" / name)) if p.stem in want]
        assert len(paths) == len(want)
        got = {i["name"]: i["ifc"] for i in evaluate(paths, scale, metrics=("ifc",))["images"]}
        for img, value in want.items():
            assert got[img] == pytest.approx(value, rel=0.01), (name, scale, img)
        mean_want = np.mean(list(want.values()))
        assert np.mean([got[k] for k in want]) == pytest.approx(mean_want, rel=0.005)


def test_bench_cli_ifc_column_json_and_metrics_option(set5, tmp_path):


    out = tmp_path / "r.json"
    res = run_cli(*["bench", "--dataset", str(set5), "-s", "4", "--limit", "1",
                              "--method", "bicubic", "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "IFC" in res.output.split("protocol")[0]
    assert "2.337" in res.output  # the paper's bicubic x4 IFC
    (r,) = json.loads(out.read_text())["results"]
    assert {"psnr", "ssim", "ifc"} <= set(r) and r["ifc"] == r["images"][0]["ifc"] > 0
    res = run_cli(*["bench", "--dataset", str(set5), "-s", "4", "--limit", "1",
                              "--method", "bicubic", "--metrics", "psnr", "--json", str(out)])
    assert res.exit_code == 0, res.output
    table = res.output.split("protocol")[0]
    assert "IFC" not in table and "SSIM" not in table
    (r,) = json.loads(out.read_text())["results"]
    assert "ifc" not in r and set(r["images"][0]) == {"name", "psnr"}
    for bad in ("psnr,lpips", ",", ""):
        res = run_cli(*["bench", "--dataset", str(set5), "--metrics", bad])
        assert res.exit_code == 2, (bad, res.output)
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate([], 2, metrics=("psnr", "vif"))
