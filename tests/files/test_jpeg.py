"""JPEG: the quality read from a file's tables, the JPEG weights picked by it, and JPEG
output (8 bits, alpha composited, DPI and EXIF kept)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from dsrn_cli.api import upscale_file
from dsrn_cli.cli.upscale import upscale_command
from dsrn_cli.files.jpeg import estimate_quality, ijg_table, quality_from_table, roundtrip
from dsrn_cli.model.config import get_config
from dsrn_cli.model.network import DSRN
from dsrn_cli.model.weights import JPEG_AUTO_MAX_QUALITY, available, save_weights, weights_for_input

from ._helpers import png16, run_upscale, smooth


@pytest.fixture
def photo() -> np.ndarray:
    yy, xx = np.mgrid[0:48, 0:64] / 48.0
    g = 127 + 90 * np.sin(9 * xx + 3 * yy) * np.cos(7 * yy)
    return np.stack([g, g[::-1], 255 - g], -1).clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize("quality", [30, 42, 50, 60, 75, 83, 90, 95])
def test_quality_of_pillow_files(photo, tmp_path, quality):
    path = tmp_path / "a.jpg"
    Image.fromarray(photo).save(path, quality=quality)
    assert abs(estimate_quality(path) - quality) <= 5
    gray = tmp_path / "g.jpg"
    Image.fromarray(photo[..., 0]).save(gray, quality=quality)
    assert abs(estimate_quality(gray) - quality) <= 5


def test_non_ijg_tables_and_other_formats_give_none(photo, tmp_path):
    flat = tmp_path / "flat.jpg"
    Image.fromarray(photo).save(flat, qtables=[[12] * 64, [12] * 64])
    assert estimate_quality(flat) is None
    rng = np.random.default_rng(1)
    assert quality_from_table(rng.integers(1, 100, 64)) is None
    png = tmp_path / "a.png"
    Image.fromarray(photo).save(png)
    assert estimate_quality(png) is None
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    assert estimate_quality(bad) is None


def test_ijg_table_matches_what_pillow_writes(photo):
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, "JPEG", quality=37)
    buf.seek(0)
    with Image.open(buf) as im:
        assert list(im.quantization[0]) == ijg_table(37).tolist()


def test_roundtrip_keeps_shape_and_degrades_with_quality(photo):
    errs = []
    for q in (95, 50, 10):
        out = roundtrip(photo, q)
        assert out.shape == photo.shape and out.dtype == np.uint8
        errs.append(np.abs(out.astype(int) - photo).mean())
    assert 0 < errs[0] < errs[1] < errs[2]
    assert roundtrip(photo[..., 0], 50).shape == photo.shape[:2]


@pytest.fixture
def bundled(tmp_path, monkeypatch):
    """A weights folder with tiny clean and -jpeg x2 models."""
    folder = tmp_path / "weights"
    for name in ("lite", "lite-jpeg"):
        m = DSRN(get_config("lite", 2, c_lr=8, c_hr=4, c_first=8, steps=2))
        save_weights(m, folder / f"dsrn_{name}_x2.safetensors", {})
    monkeypatch.setenv("DSRN_WEIGHTS_DIR", str(folder))
    return folder


@pytest.mark.slow
def test_auto_picks_jpeg_weights_by_quality(photo, tmp_path, bundled):
    assert set(available()) == {("lite", 2), ("lite-jpeg", 2)}
    files = {}
    for name, kw in (("q60.jpg", {"quality": 60}), ("clean.png", {}),
                     ("q98.jpg", {"quality": 98}),
                     ("flat.jpg", {"qtables": [[12] * 64, [12] * 64]})):
        files[name] = tmp_path / name
        Image.fromarray(photo).save(files[name], **kw)
    app = typer.Typer()
    app.command("upscale")(upscale_command)
    app.command("noop")(lambda: None)
    report = tmp_path / "r.json"
    res = CliRunner().invoke(app, ["upscale", *map(str, files.values()), "-s", "2",
                                   "-o", str(tmp_path / "out"), "--json", str(report)])
    assert res.exit_code == 0, res.output
    used = {r["input"].rsplit("/", 1)[-1]: r["weights"] for r in json.loads(report.read_text())}
    assert used == {"q60.jpg": "dsrn_lite-jpeg_x2.safetensors",
                    "clean.png": "dsrn_lite_x2.safetensors",
                    "q98.jpg": "dsrn_lite_x2.safetensors",
                    "flat.jpg": "dsrn_lite_x2.safetensors"}
    assert 60 <= JPEG_AUTO_MAX_QUALITY < 98
    # --model still forces one; a scale without a -jpeg file falls back to the clean one
    assert weights_for_input(files["q60.jpg"], 2, "lite").name == "dsrn_lite_x2.safetensors"
    save_weights(DSRN(get_config("lite", 3, c_lr=8, c_hr=4, c_first=8, steps=2)),
                 bundled / "dsrn_lite_x3.safetensors", {})
    assert weights_for_input(files["q60.jpg"], 3).name == "dsrn_lite_x3.safetensors"


def test_16_bit_into_jpeg_is_said(lite: DSRN, tmp_path: Path) -> None:
    a = (np.linspace(0, 65535, 24 * 32).reshape(24, 32, 1) * np.ones(3)).astype(np.uint16)
    png16(tmp_path / "in.png", a)
    with pytest.warns(UserWarning, match="JPEG cannot hold 16-bit"):
        rec = upscale_file(tmp_path / "in.png", tmp_path / "o.jpg", 2, lite, backend="torch")
    assert any("16-bit" in n for n in rec["notes"])
    assert Image.open(tmp_path / "o.jpg").mode == "RGB"


def test_jpeg_dpi_and_exif_kept(lite: DSRN, tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    Image.fromarray(smooth(32, 48)).save(tmp_path / "m.jpg", quality=95, dpi=(300, 300),
                                          exif=exif.tobytes())  # fmt: skip
    for ext in ("jpg", "png"):
        upscale_file(tmp_path / "m.jpg", tmp_path / f"o.{ext}", 2, lite, backend="torch")
        out = Image.open(tmp_path / f"o.{ext}")
        assert tuple(round(float(v)) for v in out.info["dpi"]) == (300, 300)
        assert out.getexif().get(0x010F) == "TestCam"


def test_alpha_into_jpeg_composited_once(cli: typer.Typer, tmp_path: Path) -> None:
    a = np.zeros((32, 48, 4), np.uint8)
    a[..., :3] = (0, 255, 0)  # hidden green under alpha 0
    a[8:24, 12:36] = (200, 30, 30, 255)
    d = tmp_path / "in"
    d.mkdir()
    for n in ("a", "b"):
        Image.fromarray(a).save(d / f"{n}.png")
    r = run_upscale(cli, str(d), "-s", "2", "-o", str(tmp_path / "out"), "--format", "jpg")
    assert r.exit_code == 0, r.output
    assert r.output.count("no alpha: composited") == 1  # once per run, not per file
    out = np.asarray(Image.open(next((tmp_path / "out").glob("a*.jpg"))), dtype=int)
    assert np.abs(out[2, 2] - (255, 255, 255)).max() <= 2  # white, not the hidden green
    assert np.abs(out[32, 48] - (200, 30, 30)).max() <= 6
    r = run_upscale(cli, str(d / "a.png"), "-s", "2", "-o", str(tmp_path / "k.jpg"),
             "--background", "#000000")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert np.abs(np.asarray(Image.open(tmp_path / "k.jpg"), dtype=int)[2, 2]).max() <= 2
    r = run_upscale(cli, str(d / "a.png"), "-s", "2", "-o", str(tmp_path / "x.jpg"),
                    "--background", "no")  # fmt: skip
    assert r.exit_code == 2
