"""Video in, video out (issue 20) on tiny clips made here with PyAV, with the lite model.

The HR sequence is a drawn picture (sharp edges, text) panned a few pixels per frame;
the LR clip is its MATLAB-bicubic /2, encoded losslessly, with a sine tone as sound.
"""

from __future__ import annotations

import json
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import typer
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from dsrn_cli.cli.upscale import upscale_command
from dsrn_cli.files.video import VideoError, is_video
from dsrn_cli.model.weights import load_model, resolve
from dsrn_cli.pixels.chroma import upscale_chroma
from dsrn_cli.pixels.color import rgb_to_y
from dsrn_cli.pixels.resize import imresize
from dsrn_cli.run.video import upscale_video
from dsrn_cli.runtime.engines import TorchBackend
from dsrn_cli.runtime.strips import assemble_array

W, H, N, FPS = 64, 48, 10, 10  # LR clip
RATE = 8000  # audio samples per second


@pytest.fixture(scope="module")
def net(one_thread) -> TorchBackend:
    return TorchBackend(load_model(resolve(2, "lite"), "cpu"))


def _picture() -> np.ndarray:
    """A 2x-supersampled drawing: shapes with sharp edges and text (RGB uint8)."""
    rng = np.random.default_rng(3)
    im = Image.new("RGB", (2 * 200, 2 * 160), (200, 190, 170))
    d = ImageDraw.Draw(im)
    for _ in range(40):
        x, y = rng.integers(0, 400), rng.integers(0, 320)
        box = [x, y, x + rng.integers(10, 90), y + rng.integers(10, 90)]
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        (d.ellipse if rng.random() < 0.5 else d.rectangle)(box, fill=fill)
    for k in range(12):
        d.text((10 + 30 * k, 20 * k + 5), "DSRN video", fill=(10, 10, 40))
    return np.asarray(im.resize((200, 160), Image.Resampling.LANCZOS))


@pytest.fixture(scope="module")
def hr_frames() -> list[np.ndarray]:
    pic = _picture()
    return [pic[3 * i : 3 * i + 2 * H, 4 * i : 4 * i + 2 * W].copy() for i in range(N)]


def make_clip(
    path: Path,
    frames: list[np.ndarray],
    audio: bool = True,
    pts: list[int] | None = None,
    time_base: Fraction = Fraction(1, FPS),
    colour: dict[str, int] | None = None,
    options: dict[str, str] | None = None,
    subtitle: bytes | None = None,
) -> None:
    """RGB frames -> lossless H.264 (crf 0) yuv420p, with a 440 Hz tone as AAC and
    optionally one SubRip subtitle (0.1 s to 0.3 s)."""
    with av.open(str(path), "w", options=options or {}) as out:
        v = out.add_stream("libx264", rate=FPS, options={"crf": "0"})
        v.height, v.width = frames[0].shape[:2]
        v.pix_fmt = "yuv420p"
        v.codec_context.time_base = time_base
        for key, value in (colour or {}).items():
            setattr(v.codec_context, key, value)
        a = out.add_stream("aac", rate=RATE, layout="mono") if audio else None
        if subtitle is not None:  # with a chapter, as such files often have
            out.set_chapters([{"id": 1, "start": 0, "end": 1, "time_base": Fraction(1, 10),
                               "metadata": {"title": "one"}}])  # fmt: skip
            sub = out.add_mux_stream("subrip")
            p = av.Packet(subtitle)
            p.stream, p.time_base = sub, Fraction(1, 1000)
            p.pts, p.dts, p.duration = 100, 100, 200
            out.mux(p)
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts, vf.time_base = (i if pts is None else pts[i]), time_base
            for key, value in (colour or {}).items():
                setattr(vf, key, value)
            out.mux(v.encode(vf))
        out.mux(v.encode(None))
        if a is not None:
            n = len(frames) * RATE // FPS
            tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / RATE)).astype(np.float32)
            for k in range(0, n, 1024):
                af = av.AudioFrame.from_ndarray(tone[None, k : k + 1024].copy(), "flt", "mono")
                af.sample_rate, af.pts, af.time_base = RATE, k, Fraction(1, RATE)
                out.mux(a.encode(af))
            out.mux(a.encode(None))


@pytest.fixture(scope="module")
def clip(tmp_path_factory, hr_frames) -> Path:
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    make_clip(path, [imresize(f, 0.5) for f in hr_frames])
    return path


@pytest.fixture(scope="module")
def upscaled(tmp_path_factory, clip, net) -> tuple[Path, dict]:
    dst = tmp_path_factory.mktemp("out") / "clip_x2.mp4"
    seen: list[tuple[int, int | None]] = []
    rec = upscale_video(clip, dst, 2, net, crf=0, progress=lambda k, n: seen.append((k, n)))
    assert seen == [(k, N) for k in range(1, N + 1)]
    return dst, rec


def _y_planes(path: Path) -> list[np.ndarray]:
    """The stored Y codes of every frame (no conversion)."""
    out = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            p = f.planes[0]
            out.append(np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width])
    return out


def _psnr(a: np.ndarray, b: np.ndarray, shave: int = 2) -> float:
    d = (a.astype(np.float64) - b.astype(np.float64))[shave:-shave, shave:-shave]
    return float(10 * np.log10(255.0**2 / np.mean(d**2)))


def _timing(path: Path) -> dict:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        pts = [(f.pts, f.time_base) for f in c.decode(video=0)]
        return {
            "times": [Fraction(p) * tb for p, tb in pts],
            "rate": v.average_rate,
            "duration": Fraction(v.duration) * v.time_base if v.duration else None,
            "container": c.duration,
            "size": (v.codec_context.width, v.codec_context.height),
        }


def _audio_packets(path: Path) -> list[tuple[int | None, int | None, bytes]]:
    with av.open(str(path)) as c:
        return [(p.pts, p.duration, bytes(p)) for p in c.demux(audio=0) if p.size]


@pytest.mark.slow
def test_size_frames_timing_and_sound(clip: Path, upscaled: tuple[Path, dict]) -> None:
    dst, rec = upscaled
    before, after = _timing(clip), _timing(dst)
    assert after["size"] == (2 * W, 2 * H)
    assert len(after["times"]) == len(before["times"]) == N
    assert after["times"] == before["times"]  # every frame at its time
    assert after["rate"] == before["rate"] == FPS
    assert after["duration"] == before["duration"] == Fraction(N, FPS)
    assert after["container"] == before["container"]
    sound = _audio_packets(clip)
    assert len(sound) >= N * RATE // FPS // 1024  # AAC frames of 1024 samples
    assert _audio_packets(dst) == sound  # copied byte for byte, same timestamps
    assert rec["kind"] == "video" and rec["frames"] == N and rec["streams_copied"] == ["audio"]
    assert rec["size_in"] == [W, H] and rec["size_out"] == [2 * W, 2 * H]
    assert not [p for p in dst.parent.iterdir() if p.name != dst.name]  # no temp file left


@pytest.mark.slow
def test_frames_beat_bicubic(clip: Path, upscaled: tuple[Path, dict], hr_frames) -> None:
    truth = [rgb_to_y(f) for f in hr_frames]  # MATLAB luma of the HR frames
    bicubic = [imresize(y, 2) for y in _y_planes(clip)]
    ours = _y_planes(upscaled[0])
    p_bic = np.mean([_psnr(b, t) for b, t in zip(bicubic, truth, strict=True)])
    p_net = np.mean([_psnr(o, t) for o, t in zip(ours, truth, strict=True)])
    print(f"Y-PSNR {p_net:.2f} dB vs bicubic {p_bic:.2f} dB")
    assert p_net > p_bic + 0.5, (p_net, p_bic)


@pytest.mark.slow
def test_luma_is_the_still_pipeline(clip: Path, upscaled: tuple[Path, dict], net) -> None:
    """Lossless in and out: each output Y plane is assemble_array() of the input Y plane."""
    for lr, up in zip(_y_planes(clip), _y_planes(upscaled[0]), strict=True):
        assert np.array_equal(up, assemble_array(net, lr, 2))


def test_chroma_siting_on_a_ramp() -> None:
    """Bicubic reproduces a straight line, so inside the plane the upscaled ramp is the
    line sampled where each output chroma sample sits (in LR chroma units):
    co-sited ``j / s``, centred ``(j + 1/2) / s - 1/2``."""
    s, slope = 2, 8
    c = np.tile(np.arange(0, 20 * slope, slope, dtype=np.uint8), (6, 1))  # 6 x 20
    j = np.arange(4, 36)  # away from the mirrored borders
    left = upscale_chroma(c, s, (12, 40), (False, True), 255)
    assert np.array_equal(left[5, j], slope * j / s)
    centre = upscale_chroma(c, s, (12, 40), (False, False), 255)
    assert np.array_equal(centre[5, j], slope * ((j + 0.5) / s - 0.5))
    assert np.array_equal(centre, imresize(c, s))  # centred is MATLAB's own grid


def _subtitles(path: Path) -> list[tuple[int | None, int | None, bytes]]:
    with av.open(str(path)) as c:
        return [(p.pts, p.duration, bytes(p)) for p in c.demux(subtitles=0) if p.size]


@pytest.mark.slow
def test_variable_frame_rate_colour_tags_subtitles(tmp_path: Path, hr_frames, net) -> None:
    pts = [0, 40, 100, 130, 210, 250]  # ms: irregular gaps
    tags = {"color_range": 2, "color_primaries": 1, "color_trc": 1, "colorspace": 1}
    src = tmp_path / "vfr.mkv"
    lr = [imresize(f, 0.5) for f in hr_frames[: len(pts)]]
    make_clip(src, lr, audio=False, pts=pts, time_base=Fraction(1, 1000), colour=tags,
              subtitle=b"Hello")  # fmt: skip
    dst = tmp_path / "vfr_x2.mkv"
    rec = upscale_video(src, dst, 2, net)
    assert _timing(dst)["times"] == _timing(src)["times"] == [Fraction(p, 1000) for p in pts]
    assert rec["frames"] == len(pts) and rec["streams_copied"] == ["subtitle"]
    assert _subtitles(dst) == _subtitles(src) == [(100, 200, b"Hello")]
    with av.open(str(src)) as a, av.open(str(dst)) as b:
        assert b.chapters() == a.chapters() and a.chapters()[0]["metadata"] == {"title": "one"}
    with av.open(str(dst)) as c:
        cc = c.streams.video[0].codec_context
        assert {k: int(getattr(cc, k)) for k in tags} == tags
    with pytest.raises(VideoError, match="srt"):  # MP4 has no SubRip: one line, no file
        upscale_video(src, tmp_path / "vfr_x2.mp4", 2, net)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vfr.mkv", "vfr_x2.mkv"]


@pytest.mark.slow
def test_stop_leaves_nothing(tmp_path: Path, clip: Path, net) -> None:
    stop = threading.Event()
    dst = tmp_path / "out.mp4"

    def progress(done: int, total: int | None) -> None:
        if done == 3:
            stop.set()

    with pytest.raises(KeyboardInterrupt):
        upscale_video(clip, dst, 2, net, progress=progress, stop=stop)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_bad_inputs(tmp_path: Path, clip: Path, hr_frames, net) -> None:
    data = clip.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])  # index at the end: gone
    fast = tmp_path / "fast.mp4"  # index first: the frames at the end are gone
    make_clip(fast, [imresize(f, 0.5) for f in hr_frames], options={"movflags": "+faststart"})
    (tmp_path / "fastcut.mp4").write_bytes(fast.read_bytes()[: fast.stat().st_size * 2 // 3])
    with av.open(str(tmp_path / "sound.mp4"), "w") as out:  # audio only
        a = out.add_stream("aac", rate=RATE, layout="mono")
        af = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), "flt", "mono")
        af.sample_rate, af.pts = RATE, 0
        out.mux(a.encode(af))
        out.mux(a.encode(None))
    (tmp_path / "text.mp4").write_text("not a video\n")
    cases = {
        "cut.mp4": "cannot read as a video",
        "fastcut.mp4": "truncated",
        "sound.mp4": "no video stream",
        "text.mp4": "cannot read as a video",
        "missing.mp4": "no such file",
    }
    for name, words in cases.items():
        dst = tmp_path / "out" / f"{name}_x2.mp4"
        with pytest.raises(VideoError) as e:
            upscale_video(tmp_path / name, dst, 2, net)
        msg = str(e.value)
        assert words in msg and "\n" not in msg, msg
        assert not dst.parent.exists() or list(dst.parent.iterdir()) == []
    with pytest.raises(VideoError, match="encoder"):
        upscale_video(clip, tmp_path / "o.mp4", 2, net, codec="no-such-codec")
    with pytest.raises(VideoError, match="container"):
        upscale_video(clip, tmp_path / "o.png", 2, net)


@pytest.mark.slow
def test_is_video(tmp_path: Path, clip: Path) -> None:
    assert is_video("a.mp4") and is_video("b.MKV") and is_video("c.webm") and is_video("d.mov")
    assert not is_video("a.png") and not is_video("a.jpg") and not is_video("song.m4a")
    odd = tmp_path / "clip.video"
    odd.write_bytes(clip.read_bytes())
    assert not is_video(odd) and is_video(odd, probe=True)
    still = tmp_path / "still.data"
    Image.new("RGB", (8, 8)).save(still, format="PNG")
    assert not is_video(still, probe=True)
    gif = tmp_path / "a.gif"  # a still for Pillow, even if FFmpeg reads it as video
    Image.new("RGB", (8, 8)).save(gif)
    assert not is_video(gif, probe=True)


@pytest.mark.slow
def test_cli_folder_mixes_stills_and_videos(tmp_path: Path, clip: Path) -> None:
    """One folder: a still, a clip and a broken video; the batch goes on past the broken
    one, --json records each, and a second run skips what the first finished."""
    app = typer.Typer()
    app.command("upscale")(upscale_command)
    app.command("noop")(lambda: None)  # two commands: "upscale" stays a subcommand
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    Image.fromarray(_picture()[:24, :32]).save(src / "a.png")
    (src / "b.mp4").write_bytes(clip.read_bytes())
    (src / "c.mkv").write_text("not a video\n")
    args = ["upscale", str(src), "-s", "2", "--model", "lite", "--device", "cpu",
            "--backend", "torch", "-o", str(out), "--json", str(tmp_path / "r.json")]  # fmt: skip
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 1, first.output
    recs = {Path(r["input"]).name: r for r in json.loads((tmp_path / "r.json").read_text())}
    assert [recs[n]["status"] for n in ("a.png", "b.mp4", "c.mkv")] == ["done", "done", "failed"]
    assert recs["a.png"]["kind"] == "image" and recs["b.mp4"]["kind"] == "video"
    assert recs["b.mp4"]["frames"] == N and recs["b.mp4"]["size_out"] == [2 * W, 2 * H]
    assert "cannot read as a video" in recs["c.mkv"]["error"]
    assert sorted(p.name for p in out.iterdir()) == ["a_x2.png", "b_x2.mp4"]
    with av.open(str(out / "b_x2.mp4")) as c:
        assert c.streams.video[0].frames == N and len(c.streams.audio) == 1
    again = CliRunner().invoke(app, args)
    recs = {Path(r["input"]).name: r for r in json.loads((tmp_path / "r.json").read_text())}
    assert [recs[n]["status"] for n in ("a.png", "b.mp4")] == ["skipped", "skipped"], again.output


@pytest.mark.slow
def test_rotation_kept(tmp_path: Path, hr_frames, net) -> None:
    """A phone clip's display matrix (here 90 degrees) survives, so it still plays upright."""
    src = tmp_path / "turned.mp4"
    with av.open(str(src), "w") as out:
        v = out.add_stream("libx264", rate=FPS)
        v.width, v.height, v.pix_fmt = W, H, "yuv420p"
        v.set_display_rotation(90)
        for i, f in enumerate(hr_frames[:3]):
            vf = av.VideoFrame.from_ndarray(imresize(f, 0.5), format="rgb24")
            vf.pts, vf.time_base = i, Fraction(1, FPS)
            out.mux(v.encode(vf))
        out.mux(v.encode(None))
    upscale_video(src, tmp_path / "turned_x2.mp4", 2, net)
    for path in (src, tmp_path / "turned_x2.mp4"):
        with av.open(str(path)) as c:
            assert next(c.decode(video=0)).rotation == 90


@pytest.mark.slow
def test_cli_one_video(tmp_path: Path, clip: Path) -> None:
    app = typer.Typer()
    app.command("upscale")(upscale_command)
    app.command("noop")(lambda: None)
    base = ["upscale", str(clip), "-s", "2", "--model", "lite", "--device", "cpu",
            "--backend", "torch"]  # fmt: skip
    ok = CliRunner().invoke(app, [*base, "-o", str(tmp_path / "one.mkv"), "--crf", "30"])
    assert ok.exit_code == 0, ok.output
    with av.open(str(tmp_path / "one.mkv")) as c:
        assert c.format.name.startswith("matroska") and c.streams.video[0].frames in (0, N)
        assert sum(1 for _ in c.decode(video=0)) == N
    for extra in (["-o", str(tmp_path / "one.png")], ["--crf", "99"], ["--codec", "nope"]):
        bad = CliRunner().invoke(app, [*base, *extra])
        assert bad.exit_code == 2, (extra, bad.output)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.mkv"]


@pytest.mark.slow
def test_ten_bit_planes(tmp_path: Path, clip: Path, upscaled: tuple[Path, dict], net) -> None:
    """A 10-bit clip of the same frames stays 10-bit, and its luma is the 8-bit run's
    luma at 4x the codes (the inputs differ by swscale's rounding only)."""
    src = tmp_path / "deep.mkv"
    with av.open(str(clip)) as c, av.open(str(src), "w") as out:
        v = out.add_stream("libx264", rate=FPS, options={"qp": "0"})  # lossless at 10 bits
        v.width, v.height, v.pix_fmt = W, H, "yuv420p10le"
        for f in c.decode(video=0):
            out.mux(v.encode(f.reformat(format="yuv420p10le")))
        out.mux(v.encode(None))
    dst = tmp_path / "deep_x2.mkv"
    assert upscale_video(src, dst, 2, net, crf=0)["pix_fmt"] == "yuv420p10le"
    with av.open(str(dst)) as c:
        deep = []
        for f in c.decode(video=0):
            p = f.planes[0]
            a = np.frombuffer(p, "<u2").reshape(p.height, p.line_size // 2)[:, : p.width]
            deep.append(a.astype(np.float64) / 4)
    diff = np.abs(np.stack(deep) - np.stack(_y_planes(upscaled[0])))
    print(f"10-bit vs 8-bit luma: mean {diff.mean():.3f}, max {diff.max()}")
    assert len(deep) == N and diff.mean() < 0.5 and diff.max() <= 4, (diff.mean(), diff.max())


@pytest.mark.slow
def test_cli_size_options_on_a_video_are_refused_up_front(tmp_path: Path, clip: Path) -> None:
    """--width/--outscale 1.5 need a resize after the network, which videos do not take:
    exit 2 before any work; --outscale 2 is one network pass and runs."""
    app = typer.Typer()
    app.command("upscale")(upscale_command)
    app.command("noop")(lambda: None)
    base = ["upscale", str(clip), "--model", "lite", "--device", "cpu", "--backend", "torch"]
    for extra in (["--width", "101"], ["--outscale", "1.5"]):
        bad = CliRunner().invoke(app, [*base, *extra, "-o", str(tmp_path / "v.mp4")])
        assert bad.exit_code == 2 and "videos take one network factor" in bad.output, extra
    assert not list(tmp_path.iterdir())
    ok = CliRunner().invoke(app, [*base, "--outscale", "2", "-o", str(tmp_path / "v.mp4")])
    assert ok.exit_code == 0, ok.output
