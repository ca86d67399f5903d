"""The first five minutes: bench defaults and benchmark names, `dsrn models`, choices,
--help examples, and one line when a download cannot happen."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import dsrn_cli.model.weights as w
from dsrn_cli.evaluation.bench import published
from dsrn_cli.evaluation.datasets import folder_name
from dsrn_cli.runtime.device import pick_device
from tests.util import run_cli

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("one_thread")


def _invoke(*args: str):
    return run_cli(*args)


def _row(output: str, method: str) -> str:
    (line,) = [ln for ln in output.splitlines() if f" {method}" in ln and "x4" in ln]
    return line


@pytest.mark.slow
def test_bench_set5_default_methods_with_paper_numbers(set5) -> None:
    r = _invoke("bench", "--dataset", str(set5), "-s", "4", "--model", "lite", "--limit", "1")
    assert r.exit_code == 0, r.output
    assert "Set5" in r.output
    for method in ("bicubic", "dsrn"):
        psnr, ssim = published("Set5", 4, method)
        assert f"{psnr:.2f}" in _row(r.output, method) and f"{ssim:.3f}" in _row(r.output, method)


@pytest.mark.slow
def test_bench_folder_inside_a_benchmark_folder_is_named_after_it(set14, tmp_path) -> None:
    hr = tmp_path / "X" / "Set14" / "HR"
    hr.mkdir(parents=True)
    for name in ("comic.png", "face.png"):
        shutil.copy(set14 / name, hr / name)
    r = _invoke("bench", "--dataset", str(hr), "-s", "4", "--model", "lite", "--limit", "2",
                "--json", str(tmp_path / "r.json"))
    assert r.exit_code == 0, r.output
    assert "Set14: 2 images" in r.output
    for method in ("bicubic", "dsrn"):
        assert f"{published('Set14', 4, method)[0]:.2f}" in _row(r.output, method)
    doc = json.loads((tmp_path / "r.json").read_text())
    assert [(x["dataset"], x["method"]) for x in doc["results"]] == [
        ("Set14", "bicubic"), ("Set14", "dsrn")]


@pytest.mark.parametrize("folder, name", [
    ("Urban100/HR", "Urban100"), ("set5", "Set5"), ("BSD100", "BSD100"), ("B100/HR", "BSD100"),
    ("urban100", "Urban100"), ("Manga109/images", "Manga109"), ("mine/photos", "photos"),
])
def test_folder_names(tmp_path, folder, name) -> None:
    (tmp_path / folder).mkdir(parents=True)
    assert folder_name(tmp_path / folder) == name
    if name not in ("photos", "Manga109"):  # the paper's Table 1 has no Manga109
        assert published(name, 4, "bicubic") is not None


def test_models_lists_every_bundled_file_and_the_default() -> None:
    r = _invoke("models", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    folder = w.weights_dir()
    manifest = w.read_manifest(folder)
    files = sorted(p.name for p in folder.glob("dsrn_*_x*.safetensors"))
    assert sorted(m["file"] for m in doc["models"]) == files
    dev = pick_device("auto")
    for m in doc["models"]:
        assert m["sha256"] == manifest[m["file"]]["sha256"] and m["verified"]
        assert m["auto"] == (w.resolve(m["scale"], device=dev).name == m["file"])
        assert m["parameters"] > 0 and m["bytes"] == (folder / m["file"]).stat().st_size
    table = _invoke("models").output
    for m in doc["models"]:
        assert m["sha256"][:10] in table
    assert table.count("auto") >= sum(m["auto"] for m in doc["models"])


def test_models_reads_new_variants_from_the_folder(tmp_path, monkeypatch) -> None:
    src = w.available()[("lite", 2)]
    new = tmp_path / "dsrn_lite-jpeg_x2.safetensors"
    shutil.copy(src, new)
    results = {"Set5": {"psnr": 36.5, "ssim": 0.95}, "Set14": {"psnr": 32.25, "ssim": 0.9}}
    (tmp_path / "manifest.json").write_text(json.dumps(
        {new.name: {"sha256": w.sha256(new), "results": results}}))
    monkeypatch.setenv("DSRN_WEIGHTS_DIR", str(tmp_path))
    (row,) = w.describe()
    assert (row["name"], row["scale"], row["verified"]) == ("lite-jpeg", 2, True)
    assert (row["set5_psnr"], row["set14_psnr"]) == (36.5, 32.25)
    assert not row["auto"]  # auto only picks the configurations it knows
    assert "lite-jpeg" in _invoke("models").output


@pytest.mark.parametrize("args", [
    ["bench", "--dataset", ".", "--device", "gpu"],
    ["bench", "--dataset", ".", "--method", "nearest"],
    ["bench", "--dataset", ".", "--model", "huge"],
    ["upscale", "a.png", "-s", "2", "--device", "gpu"],
    ["upscale", "a.png", "-s", "2", "--format", "heic"],
    ["upscale", "a.png", "-s", "2", "--model", "huge"],
    ["train", "-s", "2", "--data", ".", "--out", "o", "--steps", "1", "--optimizer", "rmsprop"],
    ["train", "-s", "2", "--data", ".", "--out", "o", "--steps", "1", "--loss", "huber"],
])
def test_fixed_choices_are_usage_errors(args) -> None:
    r = _invoke(*args)
    assert r.exit_code == 2, r.output


@pytest.mark.parametrize("command", ["bench", "upscale", "train", "models"])
def test_help_shows_examples_and_choices(command) -> None:
    text = _invoke(command, "--help").output
    tail = text[text.index("Examples:"):]
    assert tail.count(f"dsrn {command}") >= 2
    if command != "models":
        assert "auto|cpu|cuda|mps" in text


@pytest.mark.slow
def test_hub_retry_log_is_quiet_unless_debug() -> None:
    """In a fresh process: huggingface_hub configures its logger lazily, on first use."""
    code = ("import logging, sys\n"
            "from dsrn_cli.cache import quiet_hub\n"
            "with quiet_hub(debug=sys.argv[1] == 'debug'):\n"
            "    import huggingface_hub.file_download\n"
            "    logging.getLogger('huggingface_hub.utils._http').warning('Retrying in 1s')\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for mode, shown in (("quiet", False), ("debug", True)):
        p = subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True,
                           env=env, timeout=120)
        assert p.returncode == 0, p.stderr
        assert ("Retrying" in p.stderr) == shown, p.stderr


@pytest.mark.slow
def test_offline_download_failure_is_one_line(tmp_path) -> None:
    """A real process (the Hub's log handler writes to the real stderr), offline, empty cache."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DSRN_CACHE": str(tmp_path),
           "PYTHONPATH": str(ROOT), "COLUMNS": "80"}
    p = subprocess.run([sys.executable, "-m", "dsrn_cli", "bench", "--dataset", "urban100",
                        "-s", "2", "--method", "bicubic"],
                       capture_output=True, text=True, env=env, timeout=300)
    lines = (p.stdout + p.stderr).strip().splitlines()
    assert p.returncode == 1
    assert len(lines) == 1 and lines[0].startswith("error: could not download Urban100"), lines
    assert not list(tmp_path.rglob("*.png"))


def test_bench_json_and_export_output_folders_are_usage_errors(tmp_path: Path) -> None:
    """A folder where a file is written: refused up front (exit 2), not a traceback after."""
    import re


    def said(r) -> str:  # the message without rich's box and line breaks
        return re.sub(r"[\s│╭╮╰╯─]+", " ", r.output)

    (tmp_path / "jd").mkdir()
    (tmp_path / "hr").mkdir()
    r = run_cli(*["bench", "--dataset", str(tmp_path / "hr"), "-s", "2",
                                 "--method", "bicubic", "--json", str(tmp_path / "jd")])
    assert r.exit_code == 2 and "is a folder" in said(r)
    r = run_cli(*["export", "-s", "2", "--model", "lite", "-o",
                                 str(tmp_path / "jd")])
    assert r.exit_code == 2 and "is a folder" in said(r)
    assert list((tmp_path / "jd").iterdir()) == []
