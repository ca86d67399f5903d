"""Output planning, names, the walk, signals, help and any output size (issue 17)."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from dsrn_cli.pixels.resize import imresize

ROOT = Path(__file__).resolve().parents[2]
LITE = ["--model", "lite", "--device", "cpu", "--backend", "torch"]
S2 = ["-s", "2", *LITE]
RNG = np.random.default_rng(17)


def _run(cli: typer.Typer, *args: str):
    return CliRunner().invoke(cli, ["upscale", *args])


def _img(path: Path, w: int = 37, h: int = 23, mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ch = {"RGB": 3, "RGBA": 4}[mode]
    Image.fromarray(RNG.integers(0, 256, (h, w, ch), dtype=np.uint8), mode).save(path)
    return path


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _round(x: float) -> int:
    return math.floor(x + 0.5)


# ------------------------------------------------------------- never a silent no-op


@pytest.mark.parametrize("extra", [[], ["--overwrite"]])
def test_output_is_the_input(cli: typer.Typer, tmp_path: Path, extra: list[str]) -> None:
    src = _img(tmp_path / "same.png")
    before = src.read_bytes()
    r = _run(cli, str(src), *S2, "-o", str(src), *extra)
    assert r.exit_code == 2 and "same.png" in r.output and "is the input" in r.output, r.output
    assert src.read_bytes() == before and _tree(tmp_path) == ["same.png"]


@pytest.mark.parametrize("slash", ["", "/"])
def test_folder_into_itself(cli: typer.Typer, tmp_path: Path, slash: str) -> None:
    _img(tmp_path / "ph" / "a.png")
    r = _run(cli, str(tmp_path / "ph"), *S2, "-o", str(tmp_path / "ph") + slash, "--overwrite")
    assert r.exit_code == 2 and "input folder" in r.output, r.output
    assert _tree(tmp_path) == ["ph", "ph/a.png"]


def test_output_folder_inside_input_with_recursive(cli: typer.Typer, tmp_path: Path) -> None:
    _img(tmp_path / "ph" / "a.png")
    r = _run(cli, str(tmp_path / "ph"), *S2, "-o", str(tmp_path / "ph" / "big/"), "--recursive")
    assert r.exit_code == 2 and "inside the input folder" in r.output, r.output


# ------------------------------------------------------- two inputs, one output


def test_same_stem_two_formats(cli: typer.Typer, tmp_path: Path) -> None:
    src = tmp_path / "in"
    _img(src / "sub" / "a.png")
    Image.open(_img(src / "sub" / "b.png")).convert("RGB").save(src / "sub" / "a.jpg")
    (src / "sub" / "b.png").unlink()
    out = tmp_path / "out"
    for extra in ([], ["--overwrite"]):
        r = _run(cli, str(src), *S2, "-o", str(out), "--recursive", "--format", "png", *extra)
        assert r.exit_code == 2, r.output
        assert "a.png" in r.output and "a.jpg" in r.output and "both" in r.output, r.output
        assert not out.exists()  # found before any work
    r = _run(cli, str(src), *S2, "-o", str(out), "--recursive")  # --format same: distinct
    assert r.exit_code == 0, r.output
    assert _tree(out) == ["sub", "sub/a_x2.jpg", "sub/a_x2.png"]


def test_same_name_from_two_folders(cli: typer.Typer, tmp_path: Path) -> None:
    a, b = _img(tmp_path / "d1" / "a.png"), _img(tmp_path / "d2" / "a.png")
    r = _run(cli, str(a), str(b), *S2, "-o", str(tmp_path / "out/"))
    assert r.exit_code == 2 and str(a) in r.output and str(b) in r.output, r.output
    assert not (tmp_path / "out").exists()


def test_output_that_is_another_input(cli: typer.Typer, tmp_path: Path) -> None:
    a, b = _img(tmp_path / "a.png"), _img(tmp_path / "a_x2.png")
    r = _run(cli, str(a), str(b), *S2)
    assert r.exit_code == 2 and "also an input" in r.output, r.output
    assert _tree(tmp_path) == ["a.png", "a_x2.png"]


# ---------------------------------------------------------------- the -o rules


def test_trailing_slash_means_folder(cli: typer.Typer, tmp_path: Path) -> None:
    src = _img(tmp_path / "a.png")
    r = _run(cli, str(src), *S2, "-o", str(tmp_path / "newdir") + "/")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "newdir" / "a_x2.png").is_file()
    (tmp_path / "existing").mkdir()  # an existing directory, no slash: a folder too
    r = _run(cli, str(src), *S2, "-o", str(tmp_path / "existing"))
    assert r.exit_code == 0 and (tmp_path / "existing" / "a_x2.png").is_file(), r.output


def test_no_format_no_slash(cli: typer.Typer, tmp_path: Path) -> None:
    src = _img(tmp_path / "a.png")
    r = _run(cli, str(src), *S2, "-o", str(tmp_path / "newdir"))
    assert r.exit_code == 2 and "end it with /" in r.output, r.output
    assert _tree(tmp_path) == ["a.png"]


def test_folder_into_image_name(cli: typer.Typer, tmp_path: Path) -> None:
    _img(tmp_path / "ph" / "a.png")
    r = _run(cli, str(tmp_path / "ph"), *S2, "-o", str(tmp_path / "out.png"))
    assert r.exit_code == 2 and "out.png" in r.output, r.output
    assert not (tmp_path / "out.png").exists()


def test_one_naming_rule(cli: typer.Typer, tmp_path: Path) -> None:
    """Files into a folder and a folder into a folder: the same names (NAME_x2.EXT)."""
    a, b = _img(tmp_path / "ph" / "a.png"), _img(tmp_path / "ph" / "b.jpg")
    r = _run(cli, str(a), str(b), *S2, "-o", str(tmp_path / "files/"))
    assert r.exit_code == 0, r.output
    r = _run(cli, str(tmp_path / "ph"), *S2, "-o", str(tmp_path / "folder"))
    assert r.exit_code == 0, r.output
    assert _tree(tmp_path / "files") == _tree(tmp_path / "folder") == ["a_x2.png", "b_x2.jpg"]
    for n in ("a_x2.png", "b_x2.jpg"):
        assert (tmp_path / "files" / n).read_bytes() == (tmp_path / "folder" / n).read_bytes()


@pytest.mark.slow
def test_folder_default_cannot_loop(cli: typer.Typer, tmp_path: Path) -> None:
    ph = tmp_path / "ph"
    _img(ph / "crop1.png"), _img(ph / "crop2.png")
    r = _run(cli, str(ph), *S2)
    assert r.exit_code == 0 and "done 2" in r.output, r.output
    assert _tree(ph) == ["crop1.png", "crop2.png"]  # the input folder is untouched
    assert _tree(tmp_path / "ph_x2") == ["crop1_x2.png", "crop2_x2.png"]
    r = _run(cli, str(ph), "-s", "4", *LITE)  # another scale: still only the inputs
    assert r.exit_code == 0 and "done 2" in r.output, r.output
    assert _tree(tmp_path / "ph_x4") == ["crop1_x4.png", "crop2_x4.png"]
    r = _run(cli, str(ph), *S2)  # a re-run resumes
    assert r.exit_code == 0 and "done 0, skipped 2" in r.output, r.output


# ----------------------------------------------------------------------- the walk


def test_hidden_and_subfolders_counted(cli: typer.Typer, tmp_path: Path) -> None:
    ph = tmp_path / "ph"
    _img(ph / "a.png")
    (ph / "._a.png").write_bytes(b"\x00\x05\x16\x07AppleDouble junk")  # macOS resource fork
    _img(ph / ".thumb.png")
    _img(ph / "sub" / "b.png"), _img(ph / "sub" / "deeper" / "c.png")
    (ph / "notes.txt").write_text("not an image")
    r = _run(cli, str(ph), *S2)
    assert r.exit_code == 0 and "done 1, skipped 0, failed 0" in r.output, r.output
    assert "2 hidden files skipped" in r.output, r.output
    assert "2 images in subfolders left out (add --recursive" in r.output, r.output
    r = _run(cli, str(ph), *S2, "--recursive")
    assert r.exit_code == 0 and "done 2, skipped 1, failed 0" in r.output, r.output
    assert "left out" not in r.output and "2 hidden files skipped" in r.output, r.output
    assert _tree(tmp_path / "ph_x2") == ["a_x2.png", "sub", "sub/b_x2.png", "sub/deeper",
                                        "sub/deeper/c_x2.png"]  # fmt: skip


# -------------------------------------------------------------- write errors, temps


def test_unwritable_folder_is_named(cli: typer.Typer, tmp_path: Path, monkeypatch) -> None:
    src = _img(tmp_path / "a.png")
    out = tmp_path / "ro"
    out.mkdir()
    real = __import__("tempfile").mkstemp

    def denied(*a, **k):
        path = Path(k["dir"]) / (k["prefix"] + "abcd1234" + k["suffix"])
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("tempfile.mkstemp", denied)
    r = _run(cli, str(src), *S2, "-o", str(out) + "/")
    monkeypatch.setattr("tempfile.mkstemp", real)
    assert r.exit_code == 1, r.output
    line = next(ln for ln in r.output.splitlines() if "failed:" in ln)
    assert f"cannot write to the folder {out}: Permission denied" in line, line
    assert ".part" not in line


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores modes")
def test_read_only_folder_is_named(cli: typer.Typer, tmp_path: Path) -> None:
    src = _img(tmp_path / "a.png")
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        r = _run(cli, str(src), *S2, "-o", str(out) + "/")
    finally:
        out.chmod(0o755)
    assert r.exit_code == 1 and f"cannot write to the folder {out}" in r.output, r.output
    assert ".part" not in r.output


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_part_files_swept(cli: typer.Typer, tmp_path: Path) -> None:
    src = _img(tmp_path / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    host = f"{zlib.crc32(socket.gethostname().encode()):08x}"
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = out / f".x_x2.png.dsrn-{host}-{_dead_pid()}.k3j_x9q2.part"
        alive = out / f".y_x2.png.dsrn-{host}-{live.pid}.p0o9i8u7.part"
        other_host = out / f".z_x2.png.dsrn-0badc0de-{live.pid}.abcdefgh.part"
        old = out / ".w_x2.png.q1w2e3r4.part"  # the pattern before pids were embedded
        fresh_old = out / ".v_x2.png.a1s2d3f4.part"
        mine = out / ".notes.part"  # not dsrn's pattern: never touched
        for p in (dead, alive, other_host, old, fresh_old, mine):
            p.write_bytes(b"partial")
        hour_ago = time.time() - 3600
        os.utime(old, (hour_ago, hour_ago))
        r = _run(cli, str(src), *S2, "-o", str(out) + "/")
        assert r.exit_code == 0, r.output
        left = {p.name for p in out.iterdir()}
        assert left == {"a_x2.png", alive.name, other_host.name, fresh_old.name, mine.name}
    finally:
        live.kill()
        live.wait()


@pytest.mark.slow
def test_sigterm_stops_like_ctrl_c(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    for i in range(40):
        _img(src / f"p{i:02d}.png", 96, 96)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "dsrn_cli", "upscale", str(src), *S2, "-o", str(out)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not list(out.glob("*_x2.png")) and proc.poll() is None:
            assert time.monotonic() < deadline, "no output appeared"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        log, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    done = len(list(out.glob("*_x2.png")))
    assert done < 40, "the batch finished before the signal; make it longer"
    assert proc.returncode == 130 and "interrupted: done" in log, log
    assert "Traceback" not in log, log
    assert not [p for p in out.iterdir() if p.name.endswith(".part")], _tree(out)
    for p in out.glob("*_x2.png"):  # every written output is whole
        with Image.open(p) as im:
            im.load()
            assert im.size == (192, 192)


def test_single_file_summary_names_output(cli: typer.Typer, tmp_path: Path) -> None:
    src = _img(tmp_path / "a.png")
    r = _run(cli, str(src), *S2)
    assert r.exit_code == 0, r.output
    assert f"wrote {tmp_path / 'a_x2.png'} (74x46, x2)" in r.output, r.output


# --------------------------------------------------------------------- any output size


def _size_of(p: Path) -> tuple[int, int]:
    with Image.open(p) as im:
        return im.size


@pytest.mark.parametrize(
    "args",
    [["--width", "100"], ["--height", "50"], ["--width", "100", "--height", "40"],
     ["--outscale", "1.5"], ["--outscale", "2.5"]],
)  # fmt: skip
def test_exact_output_sizes(cli: typer.Typer, tmp_path: Path, args: list[str]) -> None:
    w, h = 37, 23
    src = _img(tmp_path / "a.png", w, h)
    dst = tmp_path / "o.png"
    r = _run(cli, str(src), *LITE, *args, "-o", str(dst), "--json", str(tmp_path / "r.json"))
    assert r.exit_code == 0, r.output
    opt = dict(zip(args[::2], map(float, args[1::2]), strict=True))
    if "--outscale" in opt:
        want = (_round(w * opt["--outscale"]), _round(h * opt["--outscale"]))
    elif "--height" in opt and ("--width" not in opt or opt["--height"] / h < opt["--width"] / w):
        want = (_round(w * opt["--height"] / h), int(opt["--height"]))
    else:
        want = (int(opt["--width"]), _round(h * opt["--width"] / w))
    assert _size_of(dst) == want
    rec = json.loads((tmp_path / "r.json").read_text())[0]
    need = max(want[0] / w, want[1] / h)
    smallest = min(s for s in (2, 3, 4) if s >= need)
    assert rec["scales"] == [smallest] and rec["size_out"] == list(want), rec
    assert f"wrote {dst} ({want[0]}x{want[1]}, network x{smallest}, then resized" in r.output


def test_outscale_2_equals_scale_2(cli: typer.Typer, tmp_path: Path) -> None:
    src = _img(tmp_path / "a.png", mode="RGBA")
    assert _run(cli, str(src), *S2, "-o", str(tmp_path / "s.png")).exit_code == 0
    r = _run(cli, str(src), *LITE, "--outscale", "2", "-o", str(tmp_path / "o.png"))
    assert r.exit_code == 0, r.output
    with Image.open(tmp_path / "s.png") as a, Image.open(tmp_path / "o.png") as b:
        assert a.size == b.size == (74, 46) and a.tobytes() == b.tobytes()


def test_outscale_resizes_the_network_output(cli: typer.Typer, tmp_path: Path) -> None:
    """1.5: the x2 output, resized down per channel with MATLAB's antialiased bicubic
    (partial alpha, resized premultiplied, is tests/test_alpha_flat.py's)."""
    src = _img(tmp_path / "a.png")
    assert _run(cli, str(src), *S2, "-o", str(tmp_path / "x2.png")).exit_code == 0
    r = _run(cli, str(src), *LITE, "--outscale", "1.5", "-o", str(tmp_path / "o.png"))
    assert r.exit_code == 0, r.output
    x2 = np.asarray(Image.open(tmp_path / "x2.png")).astype(np.float64)
    want = np.stack([np.clip(np.floor(imresize(x2[..., c], size=(35, 56)) + 0.5), 0, 255)
                     for c in range(3)], axis=-1)  # fmt: skip
    got = np.asarray(Image.open(tmp_path / "o.png"))
    assert got.shape == (35, 56, 3) and np.array_equal(got, want.astype(np.uint8))


def test_outscale_8_chains(cli: typer.Typer, tmp_path: Path) -> None:
    src = _img(tmp_path / "a.png", 9, 7)
    r = _run(cli, str(src), *LITE, "--outscale", "8", "-o", str(tmp_path / "o.png"),
             "--json", str(tmp_path / "r.json"))  # fmt: skip
    assert r.exit_code == 0, r.output
    rec = json.loads((tmp_path / "r.json").read_text())[0]
    assert rec["scales"] == [4, 2] and rec["size_out"] == [72, 56], rec
    assert "network x4 then x2" in r.output or "x4 then x2" in r.output, r.output
    assert _run(cli, str(src), "-s", "4", *LITE, "-o", str(tmp_path / "x4.png")).exit_code == 0
    r = _run(cli, str(tmp_path / "x4.png"), *S2, "-o", str(tmp_path / "x4x2.png"))
    assert r.exit_code == 0, r.output
    with Image.open(tmp_path / "o.png") as a, Image.open(tmp_path / "x4x2.png") as b:
        assert a.size == (72, 56) and a.tobytes() == b.tobytes()


@pytest.mark.parametrize(
    "args, text",
    [(["--outscale", "0.5"], "above 1"), (["--outscale", "1"], "above 1"),
     (["-s", "2", "--outscale", "3"], "only one of"), (["-s", "2", "--width", "80"], "only one"),
     (["--width", "0"], "positive"), (["--outscale", "100"], "at most"),
     ([], "give -s/--scale, --outscale or --width")],
)  # fmt: skip
def test_size_usage_errors(cli: typer.Typer, tmp_path: Path, args: list[str], text: str) -> None:
    src = _img(tmp_path / "a.png")
    r = _run(cli, str(src), *LITE, *args)
    assert r.exit_code == 2 and text in r.output, r.output
    assert _tree(tmp_path) == ["a.png"]


def test_target_not_larger_fails_that_file(cli: typer.Typer, tmp_path: Path) -> None:
    src = _img(tmp_path / "a.png")
    r = _run(cli, str(src), *LITE, "--width", "30")
    assert r.exit_code == 1 and "not larger than the input 37x23" in r.output, r.output
    assert "Traceback" not in r.output


# -------------------------------------------------------------------------------- help


def _help(*args: str) -> str:
    from dsrn_cli.cli.app import app

    r = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    return r.output


def test_help_flags_upscale_first_and_defaults() -> None:
    top = _help()
    commands = re.findall(r"^│ (\w+) ", top.split("Commands")[1], re.M)
    assert commands[0] == "upscale", commands
    for cmd in ("", "upscale", "models", "bench", "train", "export"):
        text = _help(*([cmd] if cmd else []))
        assert "<bool>" not in text and "BOOLEAN" not in text, (cmd, text)
    up = _help("upscale")
    assert re.search(r"--quality .*\[default: \(?95\)?\]", up), up  # None: WebP lossless kept
    assert "--outscale" in up and "--width" in up and "ends with /" in up
    ex = _help("export")
    assert "Examples" in ex and "dsrn export" in ex
    assert re.search(r"--model .*lite-jpeg.*paper", ex), ex


# -------------------------------------------------------------------- README main job


def test_readme_main_job_writes_only_ignored_files() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- run -->", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    outs = []
    for line in block.replace("\\\n", " ").splitlines():
        words = line.split()
        if "-o" in words:
            outs.append(words[words.index("-o") + 1])
        script = [i for i, w in enumerate(words) if w.endswith("side_by_side.py")]
        if script:  # its last positional argument is the picture it writes
            args = words[script[0] + 1 :]
            outs.append(args[: next(i for i, w in enumerate(args + ["--"]) if w[:2] == "--")][-1])
    assert outs and all(o.startswith("out/") for o in outs), outs
    assert "/out/" in (ROOT / ".gitignore").read_text().split()


def test_network_factors_fewest_passes_then_smallest_product() -> None:
    from itertools import product

    from dsrn_cli.pixels.outsize import network_factors

    for f in (1.01, 1.5, 2, 2.01, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 12, 13, 16, 20, 64):
        got = network_factors(f)
        best = None
        for k in (1, 2, 3):  # every ordered chain, by brute force
            fits = [c for c in product((2, 3, 4), repeat=k) if math.prod(c) >= f]
            if fits:
                best = min(math.prod(c) for c in fits)
                break
        assert len(got) == k and math.prod(got) == best and got == sorted(got, reverse=True), f
    assert network_factors(3, (2,)) == [2, 2] and network_factors(8, (2, 4)) == [4, 2]
    with pytest.raises(ValueError, match="at most"):
        network_factors(65)


def test_batch_summary_names_factors_and_size(cli: typer.Typer, tmp_path: Path) -> None:
    _img(tmp_path / "ph" / "a.png"), _img(tmp_path / "ph" / "b.png")
    r = _run(cli, str(tmp_path / "ph"), *LITE, "--width", "100")
    assert r.exit_code == 0, r.output
    assert "2 files: network x3, then resized down to 100x62" in r.output, r.output
    assert _tree(tmp_path / "ph_w100") == ["a_w100.png", "b_w100.png"]


def test_output_extension_conflicting_with_format(cli: typer.Typer, tmp_path: Path) -> None:
    """``-o x.tif --format png`` would write PNG bytes into a .tif: a usage error, no file."""
    src = _img(tmp_path / "a.png")
    r = _run(cli, str(src), *S2, "-o", str(tmp_path / "x.tif"), "--format", "png")
    assert r.exit_code == 2 and "--format" in r.output and "x.tif" in r.output
    assert not (tmp_path / "x.tif").exists()
    r = _run(cli, str(src), *S2, "-o", str(tmp_path / "x.jpeg"), "--format", "jpg")
    assert r.exit_code == 0 and Image.open(tmp_path / "x.jpeg").format == "JPEG"


def test_one_file_named_twice_is_one_job(cli: typer.Typer, tmp_path: Path) -> None:
    """The same file twice, or a file and its own folder, into one -o folder: one output."""
    folder = tmp_path / "in"
    folder.mkdir()
    src = _img(folder / "a.png")
    out = tmp_path / "out"
    r = _run(cli, str(src), str(src), *S2, "-o", f"{out}/")
    assert r.exit_code == 0, r.output
    assert _tree(out) == ["a_x2.png"]
    r = _run(cli, str(src), str(folder), *S2, "-o", f"{out}2/", "--json", str(tmp_path / "r.json"))
    assert r.exit_code == 0, r.output
    assert len(json.loads((tmp_path / "r.json").read_text())) == 1


def test_json_into_a_folder_is_refused_before_any_work(cli: typer.Typer, tmp_path: Path) -> None:
    src = _img(tmp_path / "a.png")
    (tmp_path / "jd").mkdir()
    r = _run(cli, str(src), *S2, "-o", str(tmp_path / "o.png"), "--json", str(tmp_path / "jd"))
    assert r.exit_code == 2 and "is a folder" in r.output
    assert not (tmp_path / "o.png").exists()


def test_format_bmp_is_a_choice(cli: typer.Typer, tmp_path: Path) -> None:
    src = _img(tmp_path / "a.png")
    r = _run(cli, str(src), *S2, "--format", "bmp", "-o", f"{tmp_path}/out/")
    assert r.exit_code == 0, r.output
    assert Image.open(tmp_path / "out" / "a_x2.bmp").format == "BMP"
