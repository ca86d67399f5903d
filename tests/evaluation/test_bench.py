import json

import numpy as np
import pytest

from dsrn_cli.evaluation.bench import evaluate, published
from dsrn_cli.evaluation.metrics import psnr, ssim
from dsrn_cli.files.imageio import list_images
from tests.util import run_cli


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


@pytest.mark.slow
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_set14_bicubic_near_paper(set14, scale):
    r = evaluate(list_images(set14), scale, "bicubic", metrics=("psnr", "ssim"))
    assert abs(r["psnr"] - published("set14", scale, "bicubic")[0]) <= 0.05


def test_bench_cli_json(set5, tmp_path):
    out = tmp_path / "r.json"
    res = run_cli(*["bench", "--dataset", str(set5), "-s", "4", "--limit", "2",
                                   "--method", "bicubic", "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "28.42" in res.output  # the paper's bicubic x4 beside ours
    doc = json.loads(out.read_text())
    assert doc["protocol"]
    (r,) = doc["results"]
    assert r["dataset"] == "Set5" and r["scale"] == 4 and r["method"] == "bicubic"
    assert len(r["images"]) == 2 and {"name", "psnr", "ssim"} <= set(r["images"][0])


@pytest.mark.slow
def test_bench_dsrn_with_bundled_weights(set5):
    res = run_cli(*["bench", "--dataset", str(set5), "-s", "2", "--method",
                                   "dsrn", "--model", "lite", "--limit", "1"])
    assert res.exit_code == 0, res.output
    assert "dsrn" in res.output


def test_bench_bad_inputs(tmp_path):
    res = run_cli(*["bench", "--dataset", str(tmp_path)])
    assert res.exit_code == 1
    res = run_cli(*["bench", "--dataset", str(tmp_path), "-s", "5"])
    assert res.exit_code == 2


def test_version_and_help():
    assert run_cli(*["--version"]).output.startswith("dsrn ")
    assert "bench" in run_cli(*["--help"]).output


def test_data_option_takes_several_folders():
    from dsrn_cli.cli.app import expand_multi

    argv = ["train", "--data", "a", "b", "--scale", "2", "--data", "c", "--val", "v"]
    assert expand_multi(argv) == ["train", "--data", "a", "--data", "b", "--scale", "2",
                                  "--data", "c", "--val", "v"]


def test_published_lookup_by_any_name():
    assert published("BSD100", 2, "bicubic") == published("b100", 2, "bicubic") == (29.56, 0.844)
    assert published("Urban100", 4, "dsrn")[0] == 25.08
    assert published("myfolder", 2, "bicubic") is None


@pytest.mark.slow
def test_bench_jpeg_rows_lower_bicubic(set5, tmp_path):
    out = tmp_path / "r.json"
    res = run_cli(*["bench", "--dataset", str(set5), "-s", "2", "--limit", "2",
                                   "--jpeg", "75", "--jpeg", "20", "--json", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert "JPEG" in doc["protocol"] and "4:2:0" in doc["protocol"]
    psnrs = {r["jpeg"]: r["psnr"] for r in doc["results"]}
    assert list(psnrs) == [None, 75, 20]
    assert psnrs[None] > psnrs[75] > psnrs[20]  # compression costs the bicubic baseline


@pytest.mark.slow
def test_bench_jpeg_without_model_measures_what_auto_picks(set5, tmp_path):
    """--jpeg Q without --model: the JPEG row uses the weights upscale's auto gives a JPEG of
    quality Q (the -jpeg file at Q <= 90), the clean row the clean file."""
    from dsrn_cli.model.weights import available, load_model

    found = available()
    if ("lite-jpeg", 2) not in found:
        pytest.skip("no lite-jpeg x2 bundled")
    out = tmp_path / "r.json"
    res = run_cli(*["bench", "--dataset", str(set5), "-s", "2", "--limit", "1",
                                   "--method", "dsrn", "--device", "cpu", "--metrics", "psnr",
                                   "--jpeg", "75", "--jpeg", "95", "--json", str(out)])
    assert res.exit_code == 0, res.output
    rows = {r["jpeg"]: r for r in json.loads(out.read_text())["results"]}
    assert rows[75]["weights"] == "dsrn_lite-jpeg_x2.safetensors"
    assert rows[None]["weights"] == rows[95]["weights"] == "dsrn_lite_x2.safetensors"
    # the number is the -jpeg file's: the same image through that file directly
    (hr,) = list_images(set5)[:1]
    direct = evaluate([hr], 2, "dsrn", load_model(found[("lite-jpeg", 2)]), "cpu",
                      metrics=("psnr",), jpeg=75)
    assert rows[75]["psnr"] == pytest.approx(direct["psnr"], abs=0.01)


def test_bench_footer_names_only_the_metrics_measured(set5, tmp_path):
    out = tmp_path / "r.json"
    args = ["bench", "--dataset", str(set5), "-s", "2", "--limit", "1", "--method", "bicubic",
            "--json", str(out)]
    res = run_cli(*[*args, "--metrics", "psnr,ssim"])
    assert res.exit_code == 0, res.output
    text = json.loads(out.read_text())["protocol"]
    assert "IFC" not in text and "ifcvec" not in res.output and "SSIM 11x11" in text
    res = run_cli(*[*args, "--metrics", "psnr,ifc"])
    text = json.loads(out.read_text())["protocol"]
    assert "IFC as MATLAB ifcvec" in text and "SSIM" not in text


def test_bench_offline_name_is_one_whole_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("DSRN_CACHE", str(tmp_path / "empty-cache"))
    res = run_cli(*["bench", "--dataset", "set5"])
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.output
    assert lines[0].startswith("error: could not download Set5")
    assert lines[0].endswith("e.g. dsrn bench --dataset ../shared/data/test/Set5")
