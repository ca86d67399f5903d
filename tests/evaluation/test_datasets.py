"""Dataset resolution, safe unpacking and the offline path, all without the network."""

from __future__ import annotations

import io
import socket
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dsrn_cli.evaluation import datasets
from dsrn_cli.evaluation.datasets import DatasetError, resolve_dataset, safe_extract_images


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cache in tmp_path, Hub offline, and any socket connection is a test failure."""
    monkeypatch.setenv("DSRN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("test tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)


def _png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def _make_tarball(path: Path, outside_abs: Path) -> Path:
    """Two good PNGs, a text file, and members that try to escape or link out."""
    with tarfile.open(path, "w:gz") as tf:
        _add(tf, "Set5_HR/baby.png", _png(0))
        _add(tf, "Set5_HR/bird.png", _png(1))
        _add(tf, "Set5_HR/readme.txt", b"not an image")
        _add(tf, "../evil.png", _png(2))
        _add(tf, str(outside_abs), _png(3))
        link = tarfile.TarInfo("Set5_HR/link.png")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tf.addfile(link)
        hard = tarfile.TarInfo("Set5_HR/hard.png")
        hard.type = tarfile.LNKTYPE
        hard.linkname = "Set5_HR/baby.png"
        tf.addfile(hard)
    return path


def _all_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def test_existing_dir_resolves_to_itself(tmp_path: Path) -> None:
    folder = tmp_path / "MyImages"
    folder.mkdir()
    assert resolve_dataset(str(folder)) == ("MyImages", folder)


def test_safe_extract_keeps_only_legit_images(tmp_path: Path) -> None:
    outside_abs = tmp_path / "abs" / "x.png"
    tar = _make_tarball(tmp_path / "Set5_HR.tar.gz", outside_abs)
    dest = tmp_path / "out" / "Set5"
    before = _all_files(tmp_path)

    assert safe_extract_images(tar, dest) == 2

    assert sorted(p.name for p in dest.iterdir()) == ["baby.png", "bird.png"]
    assert not (dest / "link.png").is_symlink()
    assert _all_files(tmp_path) - before == {dest / "baby.png", dest / "bird.png"}
    assert not outside_abs.exists()
    assert [p.name for p in dest.parent.iterdir()] == ["Set5"]  # no temp folder left behind
    with Image.open(dest / "baby.png") as im:
        assert im.size == (8, 8)


def test_safe_extract_without_images_fails_and_leaves_nothing(tmp_path: Path) -> None:
    tar = tmp_path / "empty.tar.gz"
    with tarfile.open(tar, "w:gz") as tf:
        _add(tf, "notes.txt", b"hello")
    dest = tmp_path / "out" / "X"
    with pytest.raises(DatasetError, match="no images"):
        safe_extract_images(tar, dest)
    assert list(dest.parent.iterdir()) == []


def test_download_unpacks_into_cache_then_reuses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tar = _make_tarball(tmp_path / "Set5_HR.tar.gz", tmp_path / "abs" / "x.png")
    calls: list[dict[str, object]] = []

    def fake_download(**kwargs: object) -> str:
        calls.append(kwargs)
        return str(tar)

    monkeypatch.setattr(datasets.huggingface_hub, "hf_hub_download", fake_download)

    name, folder = resolve_dataset("set5", progress=False)
    assert name == "Set5"
    assert folder == tmp_path / "cache" / "datasets" / "Set5"
    assert sorted(p.name for p in folder.iterdir()) == ["baby.png", "bird.png"]
    assert len(calls) == 1
    assert calls[0]["repo_id"] == "eugenesiow/Set5"
    assert calls[0]["repo_type"] == "dataset"
    assert calls[0]["filename"] == "data/Set5_HR.tar.gz"
    assert calls[0]["revision"] == datasets.PINNED["Set5"]
    assert calls[0]["cache_dir"] == tmp_path / "cache" / "hub"

    assert resolve_dataset("SET5") == ("Set5", folder)
    assert len(calls) == 1  # served from the cache


def test_offline_with_empty_cache_says_to_pass_a_folder() -> None:
    with pytest.raises(DatasetError) as info:
        resolve_dataset("set14")
    msg = str(info.value)
    assert "\n" not in msg
    assert "AssertionError" not in msg  # the no-network guard was never tripped
    assert "could not download Set14: HF_HUB_OFFLINE is set" in msg
    assert "pass a local folder" in msg
    assert msg.endswith("e.g. dsrn bench --dataset ../shared/data/test/Set14")
    assert "..." not in msg.replace("../", "")  # the whole message, never cut


def test_unreachable_hub_fails_after_one_try_with_the_whole_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No network (DNS fails): one connection attempt, not huggingface_hub's five retries
    (1 + 2 + 4 + 8 + 8 s of sleep), and a complete one-line message with a folder example."""
    monkeypatch.delenv("HF_HUB_OFFLINE")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # read once, at import
    attempts: list[object] = []

    def no_dns(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket.socket, "connect", no_dns)
    monkeypatch.setattr(socket, "create_connection", no_dns)
    slept: list[float] = []
    monkeypatch.setattr("time.sleep", slept.append)  # a retry would sleep; record, not wait
    with pytest.raises(DatasetError) as info:
        resolve_dataset("set5", option="dsrn train ... --val")
    msg = str(info.value)
    assert len(attempts) == 1 and slept == []
    assert "\n" not in msg
    assert "could not download Set5: the Hugging Face Hub is unreachable" in msg
    assert msg.endswith("e.g. dsrn train ... --val ../shared/data/test/Set5")


def test_manga109_asks_for_a_local_folder() -> None:
    with pytest.raises(DatasetError, match="local folder"):
        resolve_dataset("manga109")


def test_unknown_name_lists_known_names() -> None:
    with pytest.raises(DatasetError) as info:
        resolve_dataset("set6")
    for known in datasets.BENCHMARKS:
        assert known in str(info.value)
