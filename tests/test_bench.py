import json

import numpy as np
import pytest
from typer.testing import CliRunner

from dsrn_cli.bench import evaluate, published
from dsrn_cli.cli import app
from dsrn_cli.imageio import list_images
from dsrn_cli.metrics import psnr, ssim


def test_psnr_ssim_basics():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (40, 40)).astype(np.float64)
    assert psnr(a, a) == float("inf")
    assert ssim(a, a) == pytest.approx(1.0)
    b = a + 1
    assert psnr(b, a) == pytest.approx(10 * np.log10(255**2))
    noisy = [ssim(np.clip(a + rng.normal(0, sd, a.shape), 0, 255), a) for sd in (5, 40)]
    assert 1.0 > noisy[0] > noisy[1]
    # the shave removes the border
    c = a.copy()
    c[:2] = 0
    assert psnr(c, a, shave=2) == float("inf")


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_set5_bicubic_matches_paper(set5, scale):
    r = evaluate(list_images(set5), scale, "bicubic", metrics=("psnr", "ssim"))
    want = {2: (33.64, 0.929), 3: (30.39, 0.868), 4: (28.42, 0.810)}[scale]
    assert abs(r["psnr"] - want[0]) <= 0.01
    assert abs(r["ssim"] - want[1]) <= 0.001
    assert len(r["images"]) == 5


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_set14_bicubic_near_paper(set14, scale):
    r = evaluate(list_images(set14), scale, "bicubic", metrics=("psnr", "ssim"))
    assert abs(r["psnr"] - published("set14", scale, "bicubic")[0]) <= 0.05


def test_bench_cli_json(set5, tmp_path):
    out = tmp_path / "r.json"
    res = CliRunner().invoke(app, ["bench", "--dataset", str(set5), "-s", "4", "--limit", "2",
                                   "--method", "bicubic", "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "28.42" in res.output  # the paper's bicubic x4 beside ours
    doc = json.loads(out.read_text())
    assert doc["protocol"]
    (r,) = doc["results"]
    assert r["dataset"] == "Set5" and r["scale"] == 4 and r["method"] == "bicubic"
    assert len(r["images"]) == 2 and {"name", "psnr", "ssim"} <= set(r["images"][0])


def test_bench_dsrn_with_bundled_weights(set5):
    res = CliRunner().invoke(app, ["bench", "--dataset", str(set5), "-s", "2", "--method",
                                   "dsrn", "--model", "lite", "--limit", "1"])
    assert res.exit_code == 0, res.output
    assert "dsrn" in res.output


def test_bench_bad_inputs(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["bench", "--dataset", str(tmp_path)])
    assert res.exit_code == 1
    res = runner.invoke(app, ["bench", "--dataset", str(tmp_path), "-s", "5"])
    assert res.exit_code == 2


def test_version_and_help():
    runner = CliRunner()
    assert runner.invoke(app, ["--version"]).output.startswith("dsrn ")
    assert "bench" in runner.invoke(app, ["--help"]).output


def test_data_option_takes_several_folders():
    from dsrn_cli.cli import expand_multi

    argv = ["train", "--data", "a", "b", "--scale", "2", "--data", "c", "--val", "v"]
    assert expand_multi(argv) == ["train", "--data", "a", "--data", "b", "--scale", "2",
                                  "--data", "c", "--val", "v"]


def test_published_lookup_by_any_name():
    assert published("BSD100", 2, "bicubic") == published("b100", 2, "bicubic") == (29.56, 0.844)
    assert published("Urban100", 4, "dsrn")[0] == 25.08
    assert published("myfolder", 2, "bicubic") is None


def test_bench_jpeg_rows_lower_bicubic(set5, tmp_path):
    out = tmp_path / "r.json"
    res = CliRunner().invoke(app, ["bench", "--dataset", str(set5), "-s", "2", "--limit", "2",
                                   "--jpeg", "75", "--jpeg", "20", "--json", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert "JPEG" in doc["protocol"] and "4:2:0" in doc["protocol"]
    psnrs = {r["jpeg"]: r["psnr"] for r in doc["results"]}
    assert list(psnrs) == [None, 75, 20]
    assert psnrs[None] > psnrs[75] > psnrs[20]  # compression costs the bicubic baseline
