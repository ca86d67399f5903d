"""``--precision auto``: bf16 where the CPU computes it natively (OpenVINO), fp32 elsewhere,
and the measured bound on a real image where this CPU has bf16 units."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dsrn_cli.runtime import precision, selection
from dsrn_cli.runtime.engines import installed
from dsrn_cli.runtime.precision import resolve_precision
from tests.util import run_cli

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
HAS_OV = installed("openvino")


def _cpuinfo_flags() -> set[str] | None:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.split(":", 1)[-1].split())


@pytest.mark.parametrize("native", [True, False])
def test_auto_is_bf16_only_with_openvino_on_a_bf16_cpu(
    monkeypatch: pytest.MonkeyPatch, native: bool
) -> None:
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    assert resolve_precision("auto", "openvino", CPU) == ("bf16" if native else "fp32")
    assert resolve_precision("auto", "torch", CPU) == "fp32"
    assert resolve_precision("auto", "onnxruntime", CPU) == "fp32"
    assert resolve_precision("auto", "auto", CUDA) == "fp32"  # torch on a GPU: fp32
    if HAS_OV:  # auto on a CPU is OpenVINO where installed (without it, never native bf16)
        assert selection.resolve_backend("auto", CPU) == "openvino"
        assert resolve_precision("auto", "auto", CPU) == ("bf16" if native else "fp32")
    for explicit in ("fp32", "bf16", "fp16"):  # anything asked for is kept as it is
        assert resolve_precision(explicit, "openvino", CPU) == explicit
    for name, scale in [("lite", 2), ("paper", 4)]:  # excluded pairs stay fp32
        excluded = frozenset({(name, scale)})
        monkeypatch.setattr(precision, "BF16_EXCLUDED", excluded)
        assert resolve_precision("auto", "openvino", CPU, (name, scale)) == "fp32"


def test_cpu_has_native_bf16_agrees_with_the_cpu_flags() -> None:
    """Checked against /proc/cpuinfo (Linux x86), independently of OpenVINO."""
    flags = _cpuinfo_flags()
    if flags is None or not HAS_OV:
        pytest.skip("needs /proc/cpuinfo and OpenVINO")
    if flags & {"avx512_bf16", "amx_bf16"}:
        assert precision.cpu_has_native_bf16()
    elif not flags & {"avx512f", "avx_ne_convert", "avx2_vnni_2"}:
        assert not precision.cpu_has_native_bf16()


@pytest.mark.slow
@pytest.mark.skipif(not HAS_OV, reason="openvino not installed")
@pytest.mark.parametrize("native", [True, False])
def test_cli_default_records_the_precision_that_ran(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, native: bool
) -> None:
    """The --json record says which precision ran; --precision fp32 is torch's pixels."""
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    src = tmp_path / "a.png"
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(src)
    base = ["upscale", str(src), "-s", "2", "--model", "lite", "--device", "cpu", "-q"]
    got = {}
    for name, extra in [("auto", []), ("fp32", ["--precision", "fp32"]),
                        ("torch", ["--backend", "torch"])]:  # fmt: skip
        out, rec = tmp_path / f"{name}.png", tmp_path / f"{name}.json"
        r = run_cli(*base, "-o", out, "--json", rec, *extra)
        assert r.exit_code == 0, r.output
        records = json.loads(rec.read_text())
        got[name] = (records[0]["precision"], np.asarray(Image.open(out), dtype=np.int16))
    assert got["auto"][0] == ("bf16" if native else "fp32")
    assert got["fp32"][0] == got["torch"][0] == "fp32"
    assert np.abs(got["fp32"][1] - got["torch"][1]).max() <= 1  # exact up to float rounding
    assert np.abs(got["auto"][1] - got["fp32"][1]).max() <= 8


@pytest.mark.slow
@pytest.mark.skipif(not HAS_OV, reason="openvino not installed")
def test_python_api_default_follows_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    from dsrn_cli.api import upscale
    from dsrn_cli.runtime.backend import BackendError

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    img = np.random.default_rng(4).integers(0, 256, (16, 18, 3), dtype=np.uint8)
    fp32 = upscale(img, 2, model="lite", device="cpu", backend="openvino", precision="fp32")
    auto = upscale(img, 2, model="lite", device="cpu", backend="openvino")
    assert np.array_equal(auto, fp32)  # no native bf16: auto is fp32, the same pixels
    with pytest.raises(BackendError):
        upscale(img, 2, model="lite", device="cpu", backend="torch", precision="fp16")


@pytest.mark.slow
@pytest.mark.skipif(not HAS_OV, reason="openvino not installed")
def test_bf16_error_bound_on_a_real_image(set5: Path) -> None:
    """Where this CPU has bf16 units: Set5 'bird' x2 lite, bf16 vs f32 on the bench protocol.
    PSNR is computed here with numpy (Y of MATLAB rgb2ycbcr, 2 px shaved, peak 255)."""
    if not precision.cpu_has_native_bf16():
        pytest.skip("this CPU has no native bf16: auto is fp32 here")
    from dsrn_cli.evaluation.bench import sr_luma
    from dsrn_cli.pixels.resize import imresize
    from dsrn_cli.runtime.selection import get_model

    hr = np.asarray(Image.open(set5 / "bird.png").convert("RGB"))
    hr = hr[: hr.shape[0] // 2 * 2, : hr.shape[1] // 2 * 2]
    lr = imresize(hr, 0.5)
    f32 = get_model(2, "lite", device="cpu", backend="openvino")
    bf16 = selection.with_precision(f32, "bf16")
    assert bf16.precision == "bf16"
    a, b = sr_luma(f32, lr).astype(np.float64), sr_luma(bf16, lr).astype(np.float64)
    y_hr = np.floor(16 + hr.astype(np.float64) @ np.array([65.481, 128.553, 24.966]) / 255 + 0.5)

    def psnr(y: np.ndarray) -> float:
        d = (y - y_hr)[2:-2, 2:-2]
        return 10 * np.log10(255**2 / np.mean(d**2))

    assert not np.array_equal(a, b)  # bf16 did run
    assert np.abs(a - b).max() <= 3
    assert abs(psnr(b) - psnr(a)) <= precision.BF16_BOUND_DB


@pytest.mark.parametrize("native", [True, False])
def test_models_says_the_precision_upscale_uses(
    monkeypatch: pytest.MonkeyPatch, native: bool
) -> None:
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native and HAS_OV)
    r = run_cli("models", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    want = "bf16" if native and HAS_OV and doc["device"] == "cpu" else "fp32"
    assert doc["models"] and {m["precision"] for m in doc["models"]} == {want}
    table = run_cli("models").output
    assert f"computes in {want} here" in " ".join(table.split())


def test_train_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    from dsrn_cli.runtime.precision import train_in_bf16

    for amx in (True, False):
        monkeypatch.setattr(precision, "cpu_has_amx", lambda amx=amx: amx)
        assert train_in_bf16("auto", "cpu") is amx
        assert train_in_bf16("bf16", "cpu") and not train_in_bf16("fp32", "cpu")
        assert train_in_bf16("auto", "cuda") and not train_in_bf16("auto", "cuda", False)
        assert not train_in_bf16("auto", "mps")


def test_cpu_has_amx_reads_the_flags() -> None:
    flags = _cpuinfo_flags()
    if flags is None:
        pytest.skip("no /proc/cpuinfo")
    assert precision.cpu_has_amx() == ("amx_bf16" in flags)
