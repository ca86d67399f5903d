"""The upscale API and CLI on tiny images with the lite model (the CPU here is slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from PIL import Image

from dsrn_cli.api import upscale, upscale_file
from dsrn_cli.files.imageio import UpscaleError
from dsrn_cli.model.network import DSRN
from dsrn_cli.runtime.engines import TorchBackend
from dsrn_cli.runtime.tiling import iter_rows, upscale_luma
from tests.util import run_cli, tiny_net

RNG = np.random.default_rng(0)


def _img(w: int = 16, h: int = 12, mode: str = "RGB") -> Image.Image:
    bands = len(Image.new(mode, (1, 1)).getbands())
    shape = (h, w, bands) if bands > 1 else (h, w)
    return Image.fromarray(RNG.integers(0, 256, shape, dtype=np.uint8))


def _run(app: typer.Typer, *args: str):
    return run_cli("upscale", *args, app=app)


def test_tiled_equals_untiled_small_model() -> None:
    torch.manual_seed(0)
    net = tiny_net()
    y = RNG.random((80, 96)).astype(np.float32)
    whole = upscale_luma(TorchBackend(net), y, tile=1000)
    tiled = upscale_luma(TorchBackend(net), y, tile=24)
    assert tiled.shape == (160, 192)
    assert np.abs(whole - tiled).max() * 255 <= 1e-3
    strips = list(iter_rows(TorchBackend(net), y, tile=24))
    assert [(a, b) for a, b, _ in strips] == [(0, 40), (40, 80), (80, 120), (120, 160)]
    assert np.array_equal(np.concatenate([rows for _, _, rows in strips]), tiled)


def test_tiled_equals_untiled_lite(lite: DSRN) -> None:
    img = _img(48, 40)
    whole = np.asarray(upscale(img, 2, model=lite, tile=1000), dtype=np.int16)
    tiled = np.asarray(upscale(img, 2, model=lite, tile=24), dtype=np.int16)
    assert np.abs(whole - tiled).max() <= 1


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "LA"])
def test_modes(lite: DSRN, mode: str) -> None:
    out = upscale(_img(mode=mode), 2, model=lite)
    assert out.mode == mode and out.size == (32, 24)


def test_palette_with_transparency(lite: DSRN) -> None:
    im = _img().convert("P")
    im.info["transparency"] = 0
    out = upscale(im, 2, model=lite)
    assert out.mode == "RGBA" and out.size == (32, 24)


def test_16_bit(lite: DSRN, tmp_path: Path) -> None:
    a = (RNG.integers(0, 256, (12, 16)) * 257).astype(np.uint16)
    Image.fromarray(a).save(tmp_path / "g16.png")
    rec = upscale_file(tmp_path / "g16.png", tmp_path / "o.png", 2, lite)
    with Image.open(tmp_path / "o.png") as out:
        assert out.mode.startswith("I") and out.size == (32, 24) == tuple(rec["size_out"])
        assert np.asarray(out).max() > 255  # really 16-bit, not squeezed to 8
    assert upscale(a, 2, model=lite).dtype == np.uint16


def test_exif_orientation(lite: DSRN, tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: the displayed image is 12 wide, 16 tall
    _img(16, 12).save(tmp_path / "r.jpg", exif=exif.tobytes())
    upscale_file(tmp_path / "r.jpg", tmp_path / "o.jpg", 2, lite)
    with Image.open(tmp_path / "o.jpg") as out:
        assert out.size == (24, 32)
        assert out.getexif().get(0x0112, 1) == 1


def _bad_inputs(tmp: Path) -> list[Path]:
    (tmp / "empty.png").write_bytes(b"")
    buf = tmp / "full.png"
    _img(64, 64).save(buf)
    (tmp / "trunc.png").write_bytes(buf.read_bytes()[:300])
    buf.unlink()
    (tmp / "text.png").write_text("not an image\n")
    (tmp / "dir.png").mkdir()
    _img(16, 12).save(tmp / "big.png")
    return [tmp / n for n in ("empty.png", "trunc.png", "text.png", "dir.png", "big.png")]


def test_bad_inputs_api(lite: DSRN, tmp_path: Path) -> None:
    for src in _bad_inputs(tmp_path):
        with pytest.raises(UpscaleError):
            upscale_file(src, tmp_path / "out" / "o.png", 2, lite, max_pixels=100)
    assert not (tmp_path / "out").exists()


def test_bad_inputs_cli(cli: typer.Typer, tmp_path: Path) -> None:
    for src in _bad_inputs(tmp_path):
        dst = tmp_path / f"o_{src.stem}.png"
        r = _run(cli, str(src), "-s", "2", "--model", "lite", "--device", "cpu",
                 "-o", str(dst), "--max-pixels", "100")  # fmt: skip
        if src.is_dir():  # a folder into an image file name: a usage error before any work
            assert r.exit_code == 2 and "give a folder" in r.output, r.output
            continue
        assert r.exit_code == 1, r.output
        errors = [ln for ln in r.output.splitlines() if "failed:" in ln]
        assert len(errors) == 1 and src.name in errors[0], r.output
        assert "Traceback" not in r.output
        assert not dst.exists()
    assert not list(tmp_path.glob(".*.part"))


def test_batch_reports_and_skips(cli: typer.Typer, tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    (src / "sub").mkdir(parents=True)
    _img().save(src / "sub" / "good.png")
    (src / "bad.png").write_text("nope")
    args = [str(src), "-s", "2", "--model", "lite", "--device", "cpu", "-o", str(out)]
    r = _run(cli, *args, "--recursive", "--json", str(tmp_path / "r.json"))
    assert r.exit_code == 1, r.output
    assert "done 1, skipped 0, failed 1" in r.output
    recs = {Path(x["input"]).name: x for x in json.loads((tmp_path / "r.json").read_text())}
    assert recs["good.png"]["status"] == "done" and recs["bad.png"]["status"] == "failed"
    assert recs["good.png"]["size_out"] == [32, 24]
    assert (out / "sub" / "good_x2.png").is_file() and not (out / "bad_x2.png").exists()
    (src / "bad.png").unlink()
    r = _run(cli, *args, "--recursive")
    assert r.exit_code == 0 and "done 0, skipped 1, failed 0" in r.output, r.output
    assert r.output.count("1 skipped: output exists — use --overwrite") == 1, r.output
    r = _run(cli, *args, "--recursive", "--overwrite")
    assert r.exit_code == 0 and "done 1, skipped 0" in r.output, r.output
    assert "use --overwrite" not in r.output


def test_api_and_cli_agree(lite: DSRN, cli: typer.Typer, tmp_path: Path) -> None:
    img = _img(mode="RGBA")
    img.save(tmp_path / "a.png")
    r = _run(cli, str(tmp_path / "a.png"), "-s", "2", "--model", "lite", "--device", "cpu")
    assert r.exit_code == 0, r.output
    with Image.open(tmp_path / "a_x2.png") as out:
        cli_px = out.tobytes()
    assert upscale(img, 2, model="lite", device="cpu").tobytes() == cli_px
    r = _run(cli, str(tmp_path), "-s", "2", "--model", "lite", "--device", "cpu")
    # a folder's outputs go to the sibling folder, never back into the input folder
    sibling = tmp_path.parent / f"{tmp_path.name}_x2"
    assert r.exit_code == 0 and (sibling / "a_x2.png").is_file(), r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "a_x2.png"]


def test_usage_errors(cli: typer.Typer, tmp_path: Path) -> None:
    _img().save(tmp_path / "a.png")
    assert _run(cli, str(tmp_path / "a.png"), "-s", "5").exit_code == 2
    r = _run(cli, str(tmp_path / "a.png"), "-s", "2", "--model", "lite", "--weights", "x")
    assert r.exit_code == 2
    r = _run(cli, str(tmp_path / "a.png"), "-s", "2", "--weights", str(tmp_path / "a.png"))
    assert r.exit_code == 1 and "Traceback" not in r.output


def test_ctrl_c_stops_cleanly(cli: typer.Typer, tmp_path: Path, monkeypatch) -> None:
    from dsrn_cli.run import batch

    for n in "abc":
        _img().save(tmp_path / f"{n}.png")
    calls = []
    real = batch.render_picture

    def fake(*a, **k):
        calls.append(a)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr("dsrn_cli.run.batch.render_picture", fake)
    out = tmp_path / "out"
    r = _run(cli, str(tmp_path), "-s", "2", "--model", "lite", "--device", "cpu", "-o", str(out))
    assert r.exit_code == 130 and "interrupted: done 1, skipped 0, failed 0" in r.output
    assert len(calls) == 2
    assert (out / "a_x2.png").is_file() and not (out / "b_x2.png").exists()
    assert not list(out.glob(".*.part"))


def test_no_partial_output_on_crash(lite: DSRN, tmp_path: Path, monkeypatch) -> None:
    _img().save(tmp_path / "a.png")

    def boom(*a, **k) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        upscale_file(tmp_path / "a.png", tmp_path / "o.png", 2, lite)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_outputs_get_the_umask_mode(lite: DSRN, tmp_path: Path) -> None:
    import os

    _img().save(tmp_path / "a.png")
    old = os.umask(0o022)
    try:
        upscale_file(tmp_path / "a.png", tmp_path / "o.png", 2, lite)
        os.umask(0o027)
        upscale_file(tmp_path / "a.png", tmp_path / "p.png", 2, lite)
    finally:
        os.umask(old)
    assert (tmp_path / "o.png").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "p.png").stat().st_mode & 0o777 == 0o640
