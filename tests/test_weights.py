import pytest
import torch

import dsrn_cli.weights as w


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
