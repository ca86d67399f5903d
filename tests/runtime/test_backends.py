"""Backends against torch, the converted-graph cache, ONNX export, missing-runtime hints.

A tiny DSRN (8 channels, T=2) keeps each conversion well under a second.
"""

from __future__ import annotations

import builtins
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dsrn_cli.evaluation.bench import evaluate
from dsrn_cli.files.imageio import list_images
from dsrn_cli.model.network import DSRN
from dsrn_cli.model.weights import save_weights, sha256
from dsrn_cli.runtime import selection
from dsrn_cli.runtime.backend import BackendError
from dsrn_cli.runtime.engines import TorchBackend, installed
from dsrn_cli.runtime.selection import pick_backend
from dsrn_cli.runtime.tiling import upscale_luma
from tests.util import run_cli, tiny_net

RNG = np.random.default_rng(0)
OPTIONAL = [b for b in ("openvino", "onnxruntime") if installed(b)]


def _tiny(scale: int = 2, seed: int = 0) -> DSRN:
    torch.manual_seed(seed)
    net = tiny_net(scale)
    with torch.no_grad():  # PReLU slopes off their init, so every path matters
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net


@pytest.fixture(autouse=True, scope="module")
def module_cache(tmp_path_factory: pytest.TempPathFactory):
    """One cache for the module, so each tiny model converts once per runtime."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DSRN_CACHE", str(tmp_path_factory.mktemp("cache")))
        mp.setattr(selection, "_BUILT", {})
        yield


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DSRN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(selection, "_BUILT", {})
    return tmp_path / "cache" / "backends"


def _hide(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Make ``import name`` fail as it would where the package is not installed."""
    real = builtins.__import__

    def fake(mod, *args, **kwargs):
        if mod == name or mod.startswith(name + "."):
            raise ImportError(f"No module named {name!r}")
        return real(mod, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)


@pytest.mark.slow
@pytest.mark.parametrize("name", OPTIONAL)
@pytest.mark.parametrize("scale", [2, 3])
def test_backend_matches_torch_on_odd_tiles(name: str, scale: int) -> None:
    net = _tiny(scale)
    ref, be = TorchBackend(net), pick_backend(name, net)
    assert be.name == name
    x = RNG.random((37, 53)).astype(np.float32)
    assert be.residual(x).shape == (37 * scale, 53 * scale)
    assert np.abs(be.residual(x) - ref.residual(x)).max() * 255 < 1e-2
    # Tiled over an odd-sized plane: interior, edge and corner tiles all differ in shape.
    y = RNG.random((45, 61)).astype(np.float32)
    a, b = upscale_luma(ref, y, tile=16), upscale_luma(be, y, tile=16)
    assert a.shape == (45 * scale, 61 * scale)
    assert np.abs(a - b).max() * 255 < 1e-2


def test_torch_channels_last_matches_the_model() -> None:
    net = _tiny()
    x = RNG.random((20, 27)).astype(np.float32)
    with torch.no_grad():
        want = net(torch.from_numpy(x)[None, None])[0, 0].numpy()
    be = TorchBackend(net)
    assert be.channels_last and next(net.parameters()).is_contiguous()  # caller's untouched
    assert np.abs(be.sr(x) - want).max() * 255 < 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("name", OPTIONAL)
def test_same_psnr_on_set5_every_backend(set5: Path, name: str) -> None:
    paths = list_images(set5)[:2]
    net = _tiny()
    ref = evaluate(paths, 2, "dsrn", net, backend="torch")
    got = evaluate(paths, 2, "dsrn", net, backend=name)
    assert abs(got["psnr"] - ref["psnr"]) < 0.01


@pytest.mark.slow
@pytest.mark.skipif(not OPTIONAL, reason="no optional backend installed")
def test_corrupt_or_stale_cache_entry_is_rebuilt(fresh_cache: Path) -> None:
    name = OPTIONAL[0]
    net = _tiny()
    x = RNG.random((24, 30)).astype(np.float32)
    want = pick_backend(name, net).residual(x)
    (entry,) = fresh_cache.iterdir()
    (entry / "model.onnx").write_bytes(b"not a model")
    selection._BUILT.clear()
    got = pick_backend(name, net).residual(x)  # rebuilt, not trusted
    assert np.array_equal(got, want)
    files = json.loads((entry / "manifest.json").read_text())["files"]
    assert sha256(entry / "model.onnx") == files["model.onnx"]
    # Other weights (same shapes): a new entry, and their own output.
    other = _tiny(seed=1)
    assert not np.allclose(pick_backend(name, other).residual(x), want)
    assert len(list(fresh_cache.iterdir())) == 2


@pytest.mark.slow
def test_missing_backend_gives_a_hint_and_auto_skips_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_cache: Path, cli
) -> None:
    _hide(monkeypatch, "openvino")
    net = _tiny()
    with pytest.raises(BackendError, match=r'pip install "dsrn\[openvino\]"'):
        pick_backend("openvino", net)
    assert pick_backend("auto", net).name != "openvino"
    # The CLI: exit 2 and the one-line hint, no traceback.
    path = tmp_path / "tiny.safetensors"
    save_weights(net, path, {})
    img = tmp_path / "in.png"
    from PIL import Image

    Image.fromarray(RNG.integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(img)
    res = run_cli("upscale", img, "-s", "2", "--weights", path, "--backend", "openvino",
                  "-o", tmp_path / "o.png", app=cli)
    assert res.exit_code == 2
    assert 'pip install "dsrn[openvino]"' in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o.png").exists()


def test_auto_is_torch_off_the_cpu_and_others_refuse_it() -> None:
    assert selection.resolve_backend("auto", torch.device("cuda")) == "torch"
    assert selection.resolve_backend("auto", torch.device("cpu")) == next(
        n for n in selection.AUTO_ORDER if installed(n)
    )
    with pytest.raises(BackendError, match="runs on the CPU"):
        selection.resolve_backend("openvino", torch.device("cuda"))
    with pytest.raises(BackendError, match="unknown backend"):
        selection.resolve_backend("tensorrt", torch.device("cpu"))


@pytest.mark.skipif(
    not (installed("onnxruntime") and installed("onnx")), reason="onnx/onnxruntime not installed"
)
@pytest.mark.slow
def test_export_runs_in_onnxruntime_on_an_odd_input(tmp_path: Path) -> None:
    import onnx
    import onnxruntime as ort

    net = _tiny(3)
    weights = tmp_path / "tiny_x3.safetensors"
    digest = save_weights(net, weights, {})
    out = tmp_path / "tiny.onnx"
    res = run_cli("export", "-s", "3", "--weights", weights, "-o", out)
    assert res.exit_code == 0, res.output
    m = onnx.load(str(out))
    assert max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")) >= 17
    meta = {p.key: p.value for p in m.metadata_props}
    assert meta["source_sha256"] == digest and meta["scale"] == "3"
    assert json.loads(meta["dsrn_config"]) == net.cfg.to_dict()
    x = RNG.random((1, 1, 29, 43)).astype(np.float32)
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(
        None, {"lr": x}
    )[0]
    with torch.no_grad():
        want = net.residual(torch.from_numpy(x)).numpy()
    assert got.shape == (1, 1, 87, 129)
    assert np.abs(got - want).max() <= 1e-3
    # A wrong scale is a one-line error, and nothing is written.
    res = run_cli("export", "-s", "2", "--weights", weights, "-o", tmp_path / "x.onnx")
    assert res.exit_code == 1 and not (tmp_path / "x.onnx").exists()


def test_export_without_onnx_gives_a_hint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    net = _tiny()
    weights = tmp_path / "tiny.safetensors"
    save_weights(net, weights, {})
    _hide(monkeypatch, "onnx")
    res = run_cli("export", "-s", "2", "--weights", weights, "-o", tmp_path / "t.onnx")
    assert res.exit_code == 2 and 'pip install "dsrn[onnx]"' in res.output
    assert not (tmp_path / "t.onnx").exists()


def test_default_install_has_what_the_openvino_path_imports() -> None:
    """`auto` on a CPU is OpenVINO, which reads torch's ONNX export: a default install
    without `onnx` silently fell back to torch (found by fresh-check)."""
    import re
    from pathlib import Path

    import tomllib

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    names = {re.split(r"[<>=;\[ ]", d, maxsplit=1)[0] for d in project["project"]["dependencies"]}
    assert {"openvino", "onnx", "torch"} <= names


@pytest.mark.slow
@pytest.mark.skipif("openvino" not in OPTIONAL, reason="openvino not installed")
def test_openvino_bf16_is_opt_in_and_close_to_f32() -> None:
    """``--precision bf16`` on a CPU: OpenVINO's bf16 hint, a copy; f32 stays the default.

    On a CPU without bf16 units OpenVINO keeps f32 and the two are equal."""
    from dsrn_cli.runtime.selection import with_precision

    be = pick_backend("openvino", _tiny(), "cpu")
    half = with_precision(be, "bf16")
    assert (be.name, half.name) == ("openvino", "openvino bf16")
    y = RNG.random((37, 29)).astype(np.float32)
    a, b = be.sr(y), half.sr(y)
    assert np.array_equal(a, be.sr(y))  # the f32 backend is untouched
    assert np.abs(a - b).max() * 255 < 8
    with pytest.raises(BackendError):
        with_precision(be, "fp16")


@pytest.mark.slow
def test_cli_precision_on_a_cpu(tmp_path: Path) -> None:
    """bf16 is accepted with openvino (or auto resolving to it); anything else exits 2."""
    src = tmp_path / "a.png"
    from PIL import Image

    Image.fromarray(RNG.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(src)
    base = ["upscale", str(src), "-s", "2", "--model", "lite", "--device", "cpu"]
    for bad in (["--precision", "bf16", "--backend", "torch"], ["--precision", "fp16"]):
        r = run_cli(*base, "-o", tmp_path / "x.png", *bad)
        assert r.exit_code == 2 and "needs a CUDA GPU" in r.output, (bad, r.output)
    assert not (tmp_path / "x.png").exists()
    if "openvino" in OPTIONAL:
        out = tmp_path / "bf16.png"
        r = run_cli(*base, "-o", out, "--precision", "bf16")
        assert r.exit_code == 0, r.output
        assert Image.open(out).size == (48, 40)


def test_torch_backend_runs_without_tf32_and_restores_the_setting(monkeypatch):
    """fp32 means fp32 on CUDA too: TF32 (PyTorch's default for cuDNN convolutions) is off
    while the torch backend runs, and the caller's setting is back afterwards."""
    seen = []
    model = tiny_net(width=4, steps=1)
    real = model.residual

    def spy(x):
        seen.append((torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32))
        return real(x)

    backend = TorchBackend(model, "cpu", channels_last=False)
    monkeypatch.setattr(backend.model, "residual", spy)
    lr = np.random.default_rng(0).random((6, 5), dtype=np.float32)
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    try:
        backend.sr(lr)
        backend.residual(lr)
        after = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before
    assert seen == [(False, False), (False, False)]
    assert after == (True, True)
