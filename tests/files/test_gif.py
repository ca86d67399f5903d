"""GIF files: on/off transparency, loop counts, a GIF staying a GIF.

Every input is made here, a few dozen pixels, and every expected value is computed
independently of dsrn's file code: with Pillow / OpenCV / tifffile directly, a formula,
or the pixel pipeline's array API (``upscale`` on an array) for the upscaled pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image

from dsrn_cli.api import upscale, upscale_file
from dsrn_cli.files.imageio import read, write
from dsrn_cli.model.network import DSRN

from ._helpers import anim_frames, gif_file, run_upscale


def test_gif_stays_gif_and_format_overrides(cli: typer.Typer, tmp_path: Path) -> None:
    frames = [Image.fromarray(f[..., :3]) for f in anim_frames()]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=100)
    r = run_upscale(cli, str(tmp_path / "a.gif"), "-s", "2")
    assert r.exit_code == 0, r.output
    assert Image.open(tmp_path / "a_x2.gif").n_frames == 3
    r = run_upscale(cli, str(tmp_path / "a.gif"), "-s", "2", "--format", "webp")
    assert r.exit_code == 0, r.output
    out = Image.open(tmp_path / "a_x2.webp")
    assert out.format == "WEBP" and out.n_frames == 3


def test_partial_alpha_into_gif_is_said(cli: typer.Typer, lite: DSRN, tmp_path: Path) -> None:
    a = np.zeros((16, 24, 4), np.uint8)
    a[..., :3] = (200, 40, 40)
    a[..., 3] = np.linspace(0, 255, 24).round().astype(np.uint8)  # a soft left-to-right fade
    Image.fromarray(a).save(tmp_path / "soft.png")
    r = run_upscale(cli, str(tmp_path / "soft.png"), "-s", "2", "-o", str(tmp_path / "o.gif"))
    assert r.exit_code == 0, r.output
    assert "partial alpha" in r.output and "on/off transparency" in r.output
    got = np.asarray(Image.open(tmp_path / "o.gif").convert("RGBA"))
    want = upscale(a, 2, model=lite, backend="torch")
    np.testing.assert_array_equal(got[..., 3], np.where(want[..., 3] >= 128, 255, 0))


def test_grey_alpha_into_gif_keeps_transparency(lite: DSRN, tmp_path: Path) -> None:
    la = np.zeros((16, 24, 2), np.uint8)
    la[4:12, 6:18] = (90, 255)  # a grey box on transparent: on/off alpha only
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    rec = upscale_file(tmp_path / "la.png", tmp_path / "o.gif", 2, lite, backend="torch")
    got = np.asarray(Image.open(tmp_path / "o.gif").convert("LA"))
    want = upscale(la, 2, model=lite, backend="torch")
    np.testing.assert_array_equal(got[..., 1], np.where(want[..., 1] >= 128, 255, 0))
    # the upscaled edges are soft, the input's alpha was not: nothing of the input lost
    assert not any("partial alpha" in n for n in rec["notes"]), rec["notes"]


@pytest.mark.parametrize("loop", [None, 0, 2])
def test_gif_loop_count_kept_in_every_animation_format(tmp_path: Path, loop: int | None) -> None:
    gif_file(tmp_path / "a.gif", **({} if loop is None else {"loop": loop}))
    assert Image.open(tmp_path / "a.gif").info.get("loop") == loop  # None: plays once
    pic = read(tmp_path / "a.gif")
    for ext in ("gif", "png", "webp"):
        write(tmp_path / f"o.{ext}", pic)
        out = Image.open(tmp_path / f"o.{ext}")
        assert out.n_frames == 3
        if ext == "gif":
            assert out.info.get("loop") == loop
        else:  # APNG num_plays, WebP loop count: plays; a GIF's count repeats the first
            assert out.info.get("loop") == {None: 1, 0: 0, 2: 3}[loop], ext


@pytest.mark.parametrize("plays", [1, 0, 3])
def test_apng_and_webp_plays_into_gif(tmp_path: Path, plays: int) -> None:
    """An APNG (num_plays) or WebP (loop count) that plays N times becomes a GIF that
    repeats N - 1 times (no NETSCAPE extension for one play), forever stays forever."""
    frames = [Image.fromarray(np.full((8, 8, 3), 60 * i, np.uint8)) for i in range(3)]
    for ext in ("png", "webp"):
        frames[0].save(tmp_path / f"a.{ext}", save_all=True, append_images=frames[1:],
                       duration=[50, 60, 70], loop=plays, lossless=True)  # fmt: skip
        write(tmp_path / "o.gif", read(tmp_path / f"a.{ext}"))
        with Image.open(tmp_path / "o.gif") as out:
            assert out.info.get("loop") == {1: None, 0: 0, 3: 2}[plays], ext
        raw = (tmp_path / "o.gif").read_bytes()
        assert (b"NETSCAPE2.0" in raw) == (plays != 1), ext
