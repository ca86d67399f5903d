import pytest
import torch

import dsrn_cli.model.weights as w
from tests.util import run_cli


def test_bundled_files_match_manifest_and_load():
    found = w.available()
    assert {(n, s) for n in ("lite", "paper") for s in (2, 3, 4)} <= set(found)
    manifest = w.read_manifest(w.weights_dir())
    for (name, scale), path in found.items():
        assert manifest[path.name]["sha256"] == w.sha256(path)
        meta = w.read_metadata(path)
        assert int(meta["scale"]) == scale and meta["config_name"] == name
    model = w.load_model(found[("lite", 3)])
    assert model.cfg.scale == 3 and model.cfg.c_hr == 32


def test_default_model_depends_on_device():
    assert w.resolve(2).name == "dsrn_lite_x2.safetensors"
    assert w.resolve(2, device=torch.device("cuda")).name == "dsrn_paper_x2.safetensors"
    assert w.resolve(4, "paper").name == "dsrn_paper_x4.safetensors"
    with pytest.raises(w.WeightsError, match="no bundled weights"):
        w.resolve(2, "huge")


def test_hf_weights_download_uses_cache(monkeypatch, tmp_path):
    local = w.available()[("lite", 2)]
    calls = []

    def fake_download(repo, filename, cache_dir):
        calls.append((repo, filename))
        return str(local)

    monkeypatch.setattr("huggingface_hub.hf_hub_download", fake_download)
    monkeypatch.setenv("DSRN_CACHE", str(tmp_path))
    assert w.fetch_weights("hf://someone/dsrn/x2/model.safetensors") == local
    assert calls == [("someone/dsrn", "x2/model.safetensors")]
    assert w.fetch_weights(local) == local


def test_hf_weights_offline_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("DSRN_CACHE", str(tmp_path))

    def offline(*a, **k):
        raise OSError("offline")

    monkeypatch.setattr("huggingface_hub.hf_hub_download", offline)
    with pytest.raises(w.WeightsError, match="local .safetensors"):
        w.fetch_weights("hf://someone/dsrn/model.safetensors")
    with pytest.raises(w.WeightsError, match="hf://OWNER/REPO/FILE"):
        w.fetch_weights("hf://nofile")


def test_corrupted_file_is_refused(tmp_path):
    src = w.available()[("lite", 2)]
    bad = tmp_path / src.name
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(w.WeightsError, match="not a valid safetensors"):
        w.load_model(bad)


def _photo(side: int = 40):
    import numpy as np
    from PIL import Image

    yy, xx = np.mgrid[0:side, 0:side] / side
    img = 127 + 90 * np.sin(9 * xx + 5 * yy)[..., None] * np.array([1.0, 0.8, 0.6])
    return Image.fromarray(img.astype(np.uint8))


@pytest.mark.slow  # the real bundled weights upscale three images through the CLI
def test_upscale_summary_says_which_weights_auto_used(tmp_path):
    """A quality-50 JPEG and a PNG in one auto run: the summary counts both files."""
    if ("lite-jpeg", 2) not in w.available():
        pytest.skip("no lite-jpeg x2 bundled")
    src = tmp_path / "in"
    src.mkdir()
    _photo().save(src / "a.jpg", quality=50)
    _photo().save(src / "b.png")
    _photo().save(src / "c.png")
    res = run_cli("upscale", src, "-s", "2", "-o", tmp_path / "out",
                  "--device", "cpu", "--backend", "torch")
    assert res.exit_code == 0, res.output
    line = next(x for x in res.output.splitlines() if x.startswith("weights:"))
    assert line == "weights: dsrn_lite_x2 (2 files), dsrn_lite-jpeg_x2 (1 file)"


def test_tally_weights_line_counts_done_files_only():
    from dsrn_cli.run.report import Report as Tally

    rec = [{"status": "done", "weights": "dsrn_lite-jpeg_x3.safetensors"},
           {"status": "failed", "weights": None},
           {"status": "done", "weights": "/x/my.safetensors"},
           {"status": "done", "weights": "dsrn_lite-jpeg_x3.safetensors"}]
    assert Tally(rec).weights_line() == "weights: dsrn_lite-jpeg_x3 (2 files), my (1 file)"
    assert Tally(rec[1:2]).weights_line() == ""


def test_models_marks_the_jpeg_files_role(monkeypatch):
    rows = {r["name"]: r for r in w.describe() if r["scale"] == 2}
    if "lite-jpeg" not in rows:
        pytest.skip("no lite-jpeg x2 bundled")
    q = w.JPEG_AUTO_MAX_QUALITY
    assert rows["lite-jpeg"]["role"] == f"JPEG inputs of quality <= {q}"
    assert rows["lite-jpeg"]["auto_jpeg"] and not rows["lite-jpeg"]["auto"]
    assert not rows["lite"]["auto_jpeg"]
    out = run_cli("models").output
    (row,) = [x for x in out.splitlines() if x.startswith("lite-jpeg") and " x2 " in x]
    assert row.split()[-1] == "JPEG"
    assert f"JPEG: used instead for JPEG inputs of quality <= {q}" in " ".join(out.split())


def test_a_failed_weights_write_leaves_nothing(tmp_path, monkeypatch):
    """save_weights and record write a temp file and rename it: on an error neither the
    file nor a temp file is left, and an existing manifest is kept whole."""
    import safetensors.torch

    from tests.util import tiny_net

    path = tmp_path / "dsrn_tiny_x2.safetensors"
    digest = w.save_weights(tiny_net(), path, {"train_steps": 1})
    w.record(path, digest, {"train_steps": 1})
    before = (tmp_path / w.MANIFEST).read_text()

    def broken(state, filename, metadata=None):
        open(filename, "wb").write(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", broken)
    with pytest.raises(OSError):
        w.save_weights(tiny_net(), tmp_path / "other.safetensors", {})
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name, w.MANIFEST]
    assert (tmp_path / w.MANIFEST).read_text() == before


def test_weights_dir_falls_back_to_the_checkouts_folder(monkeypatch):
    """Without installed package data the bundled files are the source checkout's
    ``weights/`` (the module sits two folders down: dsrn_cli/model/weights.py)."""
    from pathlib import Path

    def not_installed(name):
        raise ModuleNotFoundError(name)

    monkeypatch.delenv("DSRN_WEIGHTS_DIR", raising=False)
    monkeypatch.setattr(w.resources, "files", not_installed)
    folder = w.weights_dir()
    assert folder == Path(w.__file__).resolve().parents[2] / "weights"
    assert (folder / w.MANIFEST).is_file() and ("lite", 2) in w.available(folder)
