"""WebP files: lossless in, lossless out; animated WebP and its alpha.

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
from dsrn_cli.files.imageio import Picture, write
from dsrn_cli.model.network import DSRN

from ._helpers import anim_frames, run_upscale, smooth


def test_lossless_webp_stays_lossless(lite: DSRN, tmp_path: Path) -> None:
    a = np.dstack([smooth(24, 32), np.full((24, 32), 255, np.uint8)])
    a[:8, :8, 3] = 0
    Image.fromarray(a).save(tmp_path / "l.webp", lossless=True)
    upscale_file(tmp_path / "l.webp", tmp_path / "o.webp", 2, lite, backend="torch")
    data = (tmp_path / "o.webp").read_bytes()
    assert b"VP8L" in data and b"VP8 " not in data
    want = upscale(np.asarray(Image.open(tmp_path / "l.webp")), 2, model=lite, backend="torch")
    got = np.asarray(Image.open(tmp_path / "o.webp"))
    seen = want[..., 3] > 0  # lossless WebP may change the colour under alpha 0
    np.testing.assert_array_equal(got[seen], want[seen])
    upscale_file(tmp_path / "l.webp", tmp_path / "q.webp", 2, lite, quality=80, backend="torch")
    assert b"VP8 " in (tmp_path / "q.webp").read_bytes()  # --quality forces lossy


def test_lossless_webp_through_the_cli(cli: typer.Typer, tmp_path: Path) -> None:
    Image.fromarray(smooth(16, 24)).save(tmp_path / "l.webp", lossless=True)
    r = run_upscale(cli, str(tmp_path / "l.webp"), "-s", "2", "-o", str(tmp_path / "o.webp"))
    assert r.exit_code == 0, r.output
    assert b"VP8L" in (tmp_path / "o.webp").read_bytes()
    r = run_upscale(cli, str(tmp_path / "l.webp"), "-s", "2", "-o", str(tmp_path / "q.webp"),
             "--quality", "90")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert b"VP8 " in (tmp_path / "q.webp").read_bytes()


@pytest.mark.parametrize("ext", ["webp", "png", "gif"])
def test_animated_webp_alpha_kept(lite: DSRN, tmp_path: Path, ext: str) -> None:
    frames = anim_frames()  # boxes on transparent: libwebp crops the frames to the boxes and
    ims = [Image.fromarray(f) for f in frames]  # sets no alpha flag, the canvas is the alpha
    ims[0].save(tmp_path / "a.webp", save_all=True, append_images=ims[1:], duration=100,
                lossless=True)  # fmt: skip
    rec = upscale_file(tmp_path / "a.webp", tmp_path / f"o.{ext}", 2, lite, backend="torch")
    out = Image.open(tmp_path / f"o.{ext}")
    assert out.n_frames == 3
    for i, f in enumerate(frames):
        out.seek(i)
        got = np.asarray(out.convert("RGBA"))
        want = upscale(f, 2, model=lite, backend="torch")[..., 3]
        if ext == "gif":
            want = np.where(want >= 128, 255, 0)
        np.testing.assert_array_equal(got[..., 3], want)
    assert not any("partial alpha" in n for n in rec["notes"]), rec["notes"]  # on/off in


def test_animated_webp_written_with_its_alpha(tmp_path: Path) -> None:
    frames = anim_frames()  # on/off alpha: libwebp alone would write no alpha flag
    write(tmp_path / "o.webp", Picture(frames, "WEBP", kind="animation", durations=[100] * 3))
    assert (tmp_path / "o.webp").read_bytes()[20] & 0x10  # VP8X: alpha
    out = Image.open(tmp_path / "o.webp")
    for i, f in enumerate(frames):
        out.seek(i)
        np.testing.assert_array_equal(np.asarray(out.convert("RGBA"))[..., 3], f[..., 3])
