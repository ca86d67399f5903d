"""Reading: which files a folder scan takes.

Every input is made here, a few dozen pixels, and every expected value is computed
independently of dsrn's file code: with Pillow / OpenCV / tifffile directly, a formula,
or the pixel pipeline's array API (``upscale`` on an array) for the upscaled pixels.
"""

from __future__ import annotations

from pathlib import Path

import typer
from PIL import Image

from dsrn_cli.files.imageio import list_images

from ._helpers import run_upscale, smooth


def test_folder_scan_takes_every_decodable_format(cli: typer.Typer, tmp_path: Path) -> None:
    d = tmp_path / "in"
    d.mkdir()
    im = Image.fromarray(smooth(16, 24))
    names = ["a.avif", "b.gif", "c.bmp", "d.tga", "e.qoi", "f.ico", "g.pcx", "h.sgi", "i.webp"]
    for name in names:
        im.save(d / name)
    im.save(d / ".hidden.png")
    (d / "._a.png").write_bytes(b"\0\x05\x16\x07\0\x02\0\0Mac OS X" + bytes(64))
    (d / "notes.txt").write_text("x")
    assert [p.name for p in list_images(d)] == names
    r = run_upscale(cli, str(d), "-s", "2", "-o", str(tmp_path / "out"), "--format", "png")
    assert r.exit_code == 0, r.output
    outs = sorted((tmp_path / "out").iterdir())  # named by the planner (NAME_x2.png)
    assert {p.suffix for p in outs} == {".png"}
    assert sorted(p.stem.removesuffix("_x2") for p in outs) == sorted(Path(n).stem for n in names)
