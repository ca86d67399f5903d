"""Writing: depth kept, animations frame by frame, notes, a full disk.

Every input is made here, a few dozen pixels, and every expected value is computed
independently of dsrn's file code: with Pillow / OpenCV / tifffile directly, a formula,
or the pixel pipeline's array API (``upscale`` on an array) for the upscaled pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import typer
from PIL import Image

from dsrn_cli.api import upscale, upscale_file
from dsrn_cli.model.network import DSRN
from dsrn_cli.pixels.color import rgb_to_ycbcr, ycbcr_to_rgb
from dsrn_cli.pixels.resize import imresize
from dsrn_cli.runtime.tiling import upscale_luma

from ._helpers import anim_frames, cv2_read, png16, run_upscale, smooth


def _float_reference(net: DSRN, rgb: np.ndarray, scale: int) -> np.ndarray:
    """The upscale of an ``H x W x 3`` float RGB image on 0..255 in float64: network luma
    (tiling.upscale_luma), MATLAB-bicubic chroma, YCbCr -> RGB. No rounding."""
    ycc = rgb_to_ycbcr(rgb)
    y = upscale_luma(net, (ycc[..., 0] / 255.0).astype(np.float32)).astype(np.float64) * 255
    c = imresize(ycc[..., 1:], scale=scale)
    return ycbcr_to_rgb(np.concatenate([y[..., None], c], 2))


@pytest.mark.parametrize("kind", ["png_rgb", "png_rgba", "tiff_rgb"])
def test_16_bit_colour_stays_16_bit(lite: DSRN, tmp_path: Path, kind: str) -> None:
    x = np.linspace(0, 1, 48)[None, :, None]
    rgb = np.concatenate([x * 65535, x * 30000 + 1000, (1 - x) * 65535], 2)
    a = (rgb.repeat(24, 0) + np.arange(24)[:, None, None] * 37).clip(0, 65535)
    a = a.round().astype(np.uint16)  # 48 x 24 ramp, rows differ a little
    if kind == "png_rgba":
        a = np.dstack([a, np.full(a.shape[:2], 65535, np.uint16)])
    src = tmp_path / ("in.tif" if kind == "tiff_rgb" else "in.png")
    if kind == "tiff_rgb":
        tifffile.imwrite(src, a, photometric="rgb")
    else:
        png16(src, a)
    dst = tmp_path / ("out" + src.suffix)
    upscale_file(src, dst, 2, lite, backend="torch")
    out = cv2_read(dst)
    assert out.dtype == np.uint16 and out.shape[:2] == (48, 96)
    assert out.shape[2] == a.shape[2]
    ref = (_float_reference(lite, a[..., :3].astype(np.float64) / 257.0, 2) * 257.0).clip(0, 65535)
    assert np.abs(out[..., :3].astype(np.float64) - ref).max() <= 257  # one 8-bit level
    assert len(np.unique(out[..., 0])) > 256  # really 16 bits, not 8 widened


@pytest.mark.parametrize("ext", ["gif", "webp", "png"])
def test_animation_frame_by_frame(lite: DSRN, tmp_path: Path, ext: str) -> None:
    arrays = anim_frames()
    frames = [Image.fromarray(f) for f in arrays]
    durations = [80, 120, 200]
    extra = {"lossless": True} if ext == "webp" else {"disposal": 2} if ext == "gif" else {}
    frames[0].save(tmp_path / f"a.{ext}", save_all=True, append_images=frames[1:],
                   duration=durations, loop=3, **extra)  # fmt: skip
    rec = upscale_file(tmp_path / f"a.{ext}", tmp_path / f"o.{ext}", 2, lite, backend="torch")
    assert rec["frames"] == 3
    src, out = Image.open(tmp_path / f"a.{ext}"), Image.open(tmp_path / f"o.{ext}")
    assert out.format == src.format and out.n_frames == 3 and out.size == (64, 48)
    assert out.info.get("loop") == 3
    for i in range(3):
        out.seek(i)
        out.load()
        assert out.info.get("duration") == durations[i]
        want = upscale(arrays[i], 2, model=lite, backend="torch").astype(int)
        got = np.asarray(out.convert("RGBA")).astype(int)
        assert (got[..., 3] == 0).sum() > 0  # transparency kept (GIF: a transparent index)
        inside = want[..., 3] == 255
        tol = 24 if ext == "gif" else 0  # GIF: 256 colours per frame
        assert np.abs(got[inside] - want[inside]).max() <= tol
        assert np.array_equal(got[..., 3] == 0, want[..., 3] == 0) or ext == "gif"


def test_batch_notes_name_their_files(cli: typer.Typer, tmp_path: Path) -> None:
    d = tmp_path / "in"
    d.mkdir()
    a = np.dstack([smooth(8, 12), np.full((8, 12), 128, np.uint8)])
    for n in ("a", "b", "c"):
        Image.fromarray(a).save(d / f"{n}.png")
    Image.fromarray(smooth(8, 12)).save(d / "d.png", dpi=(300, 300))
    r = run_upscale(cli, str(d), "-s", "2", "-o", str(tmp_path / "out"), "--format", "gif")
    assert r.exit_code == 0, r.output
    lines = [x for x in r.output.splitlines() if x.startswith("note:")]
    assert len(lines) == 2, r.output  # one line per kind of note
    assert any(f"{d / 'a.png'} (and 2 more): GIF holds only on/off" in x for x in lines)
    assert any(f"{d / 'd.png'}: GIF cannot hold the input's DPI" in x for x in lines)


def test_a_full_disk_is_one_line_naming_the_file(tmp_path: Path) -> None:
    """A write that fails for lack of space (errno ENOSPC, as on a full disk) is an
    UpscaleError naming the output and the reason, and leaves no temp file; an encoder's
    own OSError (no errno) is not dressed up as a disk problem."""
    import errno
    import os

    from dsrn_cli.files.partfiles import atomic
    from dsrn_cli.files.picture import UpscaleError

    def full(f) -> None:
        f.write(b"x" * 10)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    dst = tmp_path / "o.png"
    with pytest.raises(UpscaleError, match=r"cannot write .*o\.png: No space left on device"):
        atomic(dst, full)
    assert list(tmp_path.iterdir()) == []

    def broken(f) -> None:
        raise OSError("encoder error -2")

    with pytest.raises(OSError, match="encoder error -2"):
        atomic(dst, broken)
    assert list(tmp_path.iterdir()) == []
