"""The batch runner: the per-file path's pixels, torchrun sharding, encoder options."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image

from dsrn_cli.api import upscale_file
from dsrn_cli.runtime.precision import resolve_precision
from dsrn_cli.runtime.selection import get_model, with_precision
from tests.util import run_cli

RNG = np.random.default_rng(2)
ROOT = Path(__file__).resolve().parents[2]
LITE = ["-s", "2", "--model", "lite", "--device", "cpu"]


def _folder(d: Path) -> Path:
    """Small images in every mode family, and one file that is not an image."""
    d.mkdir(parents=True)
    for name, shape, dtype in [("a_rgb.png", (14, 17, 3), np.uint8),
                               ("b_rgba.png", (11, 9, 4), np.uint8),
                               ("c_gray.png", (13, 10), np.uint8),
                               ("d_g16.png", (9, 12), np.uint16),
                               ("e_rgb.jpg", (16, 16, 3), np.uint8)]:  # fmt: skip
        Image.fromarray(RNG.integers(0, np.iinfo(dtype).max + 1, shape).astype(dtype)).save(
            d / name
        )
    (d / "f_bad.png").write_text("not an image")
    return d


@pytest.mark.slow
def test_batch_equals_per_file(cli: typer.Typer, tmp_path: Path) -> None:
    src = _folder(tmp_path / "in")
    r = run_cli(*["upscale", str(src), "-o", str(tmp_path / "out"), *LITE])
    assert r.exit_code == 1 and "done 5, skipped 0, failed 1" in r.output, r.output
    be = get_model(2, "lite", device="cpu", backend="auto")
    net = with_precision(be, resolve_precision("auto", be.name, "cpu"))  # the CLI's default
    for p in sorted(src.glob("[a-e]*")):
        upscale_file(p, tmp_path / "ref" / p.name, 2, net)
        name = f"{p.stem}_x2{p.suffix}"  # outputs in a folder are NAME_x2.EXT
        with Image.open(tmp_path / "out" / name) as a, Image.open(tmp_path / "ref" / p.name) as b:
            assert a.mode == b.mode and a.tobytes() == b.tobytes(), p.name


def test_encoder_and_precision_options(cli: typer.Typer, tmp_path: Path) -> None:
    src = tmp_path / "a.png"
    Image.fromarray(RNG.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(src)
    sizes = {}
    for level in ("0", "9"):
        dst = tmp_path / f"l{level}.png"
        r = run_cli(*["upscale", str(src), "-o", str(dst), *LITE,
                                     "--png-compression", level])  # fmt: skip
        assert r.exit_code == 0, r.output
        sizes[level] = dst.stat().st_size
    assert sizes["0"] > sizes["9"]
    for bad in (
        ["--png-compression", "10"],
        ["--precision", "fp8"],
        ["--precision", "bf16", "--backend", "torch"],
    ):
        r = run_cli(*["upscale", str(src), "-o", str(tmp_path / "x.png"), *LITE,
                                     *bad])  # fmt: skip
        assert r.exit_code == 2, (bad, r.output)
    assert "needs a CUDA GPU" in r.output and not (tmp_path / "x.png").exists()


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
           "2", "-m", "dsrn_cli", "upscale", *args]  # fmt: skip
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_torchrun_two_ranks(cli: typer.Typer, tmp_path: Path) -> None:
    src = _folder(tmp_path / "in")
    out, one = tmp_path / "out", tmp_path / "one"
    p = _torchrun(str(src), "-o", str(out), *LITE, "--json", str(tmp_path / "r.json"))
    log = p.stdout + p.stderr
    assert log.count("done 5, skipped 0, failed 1") == 1, log  # one merged summary
    assert log.count("failed:") == 1 and "f_bad.png" in log, log
    recs = json.loads((tmp_path / "r.json").read_text())
    assert [Path(r["input"]).name for r in recs] == sorted(q.name for q in src.iterdir())
    r = run_cli(*["upscale", str(src), "-o", str(one), *LITE])
    assert r.exit_code == 1, r.output
    names = sorted(q.name for q in one.iterdir())
    assert names == sorted(q.name for q in out.iterdir()) and len(names) == 5
    for n in names:  # every output once, byte-identical to a one-process run
        assert (out / n).read_bytes() == (one / n).read_bytes(), n
    (src / "f_bad.png").unlink()
    p = _torchrun(str(src), "-o", str(out), *LITE)  # a re-run resumes: nothing left to do
    assert p.returncode == 0, p.stdout + p.stderr
    assert (p.stdout + p.stderr).count("done 0, skipped 5, failed 0") == 1
