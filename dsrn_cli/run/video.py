"""Video in, video out: every frame upscaled like a still, sound and timing kept.

Decoding, encoding and muxing are FFmpeg's libraries through PyAV (no ``ffmpeg`` binary).
Frames stream through two bounded queues (a reader thread decodes, the caller's thread
runs the network, a writer thread encodes and muxes), so memory does not grow with the
clip's length (the encoder's own lookahead aside).

Pixels. Video is stored as luma plus subsampled chroma, which is how DSRN upscales
anyway, so a planar YUV frame is upscaled in its own planes: the Y plane goes through
:func:`dsrn_cli.runtime.strips.assemble_array` as a grayscale image (the still pipeline's network
path), and each chroma plane gets MATLAB bicubic (:func:`dsrn_cli.pixels.chroma.upscale_chroma`,
the still pipeline's chroma kernel) at its own resolution, kept float and rounded once.
This skips the YUV -> RGB -> YCbCr -> RGB -> YUV round trip a still would take, with its
chroma up- and down-sampling and three roundings; docs/performance.md ("Video") measures
both paths. A studio-range BT.601 Y plane is the very luma (MATLAB ``rgb2ycbcr``) the
network is trained on; BT.709 luma weighs R, G, B differently and full-range luma spans
0..255 instead of 16..235, and the network upscales them as the luminance images they
are. Other pixel formats (RGB, palette, ...) go through RGB and the still pipeline.

Chroma siting: 4:2:0/4:2:2 chroma of MPEG-family codecs is co-sited with the even luma
columns (see :mod:`dsrn_cli.pixels.chroma`); JPEG-range formats (``yuvj*``, MJPEG) are
centre-sited and use MATLAB's centred grid.

Timing: every decoded frame becomes one encoded frame with the same ``pts`` in the same
time base (variable frame rate included); audio and subtitle packets are copied
untouched (remuxed, not decoded); colour range, primaries, transfer and matrix tags are
carried over, as are the display rotation, chapters and the stream/container metadata.
Data streams (e.g. QuickTime timecode) and attachments are not copied.

The output is written to a hidden temporary file beside ``dst``
(:func:`dsrn_cli.files.partfiles.atomic_path`, so a later run sweeps what a killed one left)
and renamed at the end: an interrupted or failed run leaves nothing under the final name.
What a video file is (extensions, muxers, encoders) is :mod:`dsrn_cli.files.video`.
"""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from ..files.partfiles import atomic_path
from ..files.video import DEFAULT_CODEC, DEFAULT_CRF, VideoError, check_encoder, muxer_for
from ..model.network import DSRN
from ..runtime.backend import Backend
from ..runtime.selection import as_backend
from .frames import JPEG_FORMATS, Frames, Progress, pump

# ---------------------------------------------------------------------- streams


def _fail(what: str, e: BaseException) -> VideoError:
    """An FFmpeg/PyAV error as one line (the batch names the file)."""
    msg = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return VideoError(f"{what}: {msg}")


def _open_input(src: Path) -> av.container.InputContainer:
    if not src.is_file():
        raise VideoError("no such file")
    try:
        return av.open(str(src), metadata_errors="ignore")
    except (av.FFmpegError, OSError, ValueError) as e:
        raise _fail("cannot read as a video", e) from e


def _video_stream(src: Path, inp: av.container.InputContainer) -> av.VideoStream:
    if not inp.streams.video:
        raise VideoError("no video stream")
    vin = inp.streams.video[0]
    name = vin.codec_context.name if vin.codec_context else None
    try:
        if name is None or not av.Codec(name, "r").is_decoder:
            raise ValueError
    except (ValueError, av.FFmpegError):
        what = name or "unknown"
        raise VideoError(f"cannot decode its video codec ({what})") from None
    if not vin.codec_context.width or not vin.codec_context.height:
        raise VideoError("the video stream has no frame size")
    vin.thread_type = "AUTO"  # frame + slice threads in the decoder
    return vin


def video_size(src: str | Path) -> tuple[int, int]:
    """The frame size ``(width, height)`` of video ``src``'s first video stream;
    VideoError (one line) for a file that is not a video dsrn can decode."""
    src = Path(src)
    with _open_input(src) as inp:
        cc = _video_stream(src, inp).codec_context
        return cc.width, cc.height


def _rate(vin: av.VideoStream) -> Fraction:
    """The nominal frame rate (the encoder's rate control needs one; VFR keeps its pts)."""
    for r in (vin.average_rate, vin.guessed_rate, vin.base_rate):
        if r:
            return Fraction(r)
    return Fraction(25)


def _total_frames(vin: av.VideoStream, rate: Fraction) -> int | None:
    if vin.frames:
        return int(vin.frames)
    if vin.duration and vin.time_base:
        return max(1, round(vin.duration * vin.time_base * rate))
    return None


def _encoder(
    out: av.container.OutputContainer,
    vin: av.VideoStream,
    codec: str,
    crf: int | None,
    frames: Frames,
    scale: int,
    rate: Fraction,
) -> av.VideoStream:
    enc = check_encoder(codec, crf)
    options: dict[str, str] = {}
    if crf is None and codec in ("libx264", "libx264rgb", "libx265"):
        crf = DEFAULT_CRF
    if crf is not None:
        options["crf"] = str(crf)
    try:
        vout = out.add_stream(codec, rate=rate, options=options)
    except ValueError as e:  # PyAV: "'webm' format does not support 'libx264' codec"
        raise VideoError(f"{e}; try .mp4 or .mkv") from e
    cin, cc = vin.codec_context, vout.codec_context
    cc.width, cc.height = cin.width * scale, cin.height * scale
    formats = [f.name for f in enc.video_formats or ()]
    want = frames.out_fmt
    if want == "rgb24" and "rgb24" not in formats:
        want = "yuv420p"  # RGB sources: the widely playable default
    if formats and want not in formats:
        want = "yuv420p" if "yuv420p" in formats else formats[0]
    cc.pix_fmt = want
    cc.time_base = vin.time_base
    vout.time_base = vin.time_base
    if cin.sample_aspect_ratio:
        cc.sample_aspect_ratio = cin.sample_aspect_ratio
    if frames.planar:  # the planes keep their matrix and range
        jpeg = cin.format is not None and cin.format.name in JPEG_FORMATS
        cc.color_range = 2 if jpeg else cin.color_range  # yuvj*: full range, said so
        cc.color_primaries, cc.color_trc = cin.color_primaries, cin.color_trc
        cc.colorspace = cin.colorspace
    elif not want.startswith(("rgb", "bgr", "gbr")):  # swscale's RGB -> YUV: BT.601, studio
        cc.colorspace, cc.color_range = 6, 1  # SMPTE 170M matrix, MPEG range
    for key, value in vin.metadata.items():
        if key.lower() not in ("encoder", "handler_name", "vendor_id", "duration"):
            vout.metadata[key] = value
    return vout


def _rotation(src: Path) -> int:
    """The display rotation of the first frame (degrees counter-clockwise; 0 if none)."""
    try:
        with av.open(str(src)) as c:
            for frame in c.decode(video=0):
                return int(round(frame.rotation or 0))
    except (av.FFmpegError, OSError, ValueError):
        pass
    return 0


def _check_frame_size(w: int, h: int, scale: int, out_fmt: str) -> None:
    """VideoError when ``out_fmt``'s subsampled chroma cannot store the upscaled size."""
    if out_fmt.startswith(("yuv420", "yuv422")) and (w * scale) % 2:
        raise VideoError(f"{w}x{h} x{scale} is {w * scale} wide, which "
                         f"{out_fmt} cannot store; use x2 or x4")  # fmt: skip
    if out_fmt.startswith("yuv420") and (h * scale) % 2:
        raise VideoError(f"{w}x{h} x{scale} is {h * scale} high, which "
                         f"{out_fmt} cannot store; use x2 or x4")  # fmt: skip


def _open_output(stack: ExitStack, dst: Path) -> av.container.OutputContainer:
    """The output container on a temp file beside ``dst`` (renamed onto ``dst`` when
    ``stack`` closes without an error, removed when it closes on one)."""
    try:
        tmp = stack.enter_context(atomic_path(dst))
        return av.open(str(tmp), "w", format=muxer_for(dst.suffix))
    except OSError as e:
        raise VideoError(f"cannot write to the folder {dst.parent}: {e.strerror}") from e
    except (av.FFmpegError, ValueError) as e:
        raise VideoError(f"{dst.name}: cannot write this container ({e})") from e


def _streams(
    src: Path,
    inp: av.container.InputContainer,
    out: av.container.OutputContainer,
    vout: av.VideoStream,
    copied: list[Any],
    dst: Path,
    codec: str,
) -> dict[int, Any]:
    """Copies the rotation, the audio/subtitle streams (returned by input index), the
    container metadata and chapters into ``out``, and writes its header."""
    turn = _rotation(src)
    if turn:
        vout.set_display_rotation(turn)
    mapped: dict[int, Any] = {}
    for s in copied:
        try:
            mapped[s.index] = out.add_stream_from_template(s)
        except ValueError as e:
            raise VideoError(f"{e}; use .mkv") from e
    for key, value in inp.metadata.items():
        if key.lower() not in ("encoder", "major_brand", "minor_version",
                               "compatible_brands"):  # fmt: skip
            out.metadata[key] = value
    if chapters := inp.chapters():
        out.set_chapters(chapters)
    try:
        out.start_encoding()  # the header: FFmpeg checks every stream against the muxer
    except (av.FFmpegError, ValueError) as e:
        names = ", ".join(s.codec_context.name for s in copied if s.codec_context)
        raise VideoError(f"{dst.suffix} files cannot hold {codec} video"
                         + (f" with {names}" if names else "") + f" ({e}); use .mkv"
                         ) from e  # fmt: skip
    return mapped


def _close_quietly(out: av.container.OutputContainer) -> None:
    try:
        out.close()
    except Exception:  # the header may never have been written
        pass


def upscale_video(
    src: str | Path,
    dst: str | Path,
    scale: int,
    net: Backend | DSRN,
    tile: int | None = None,
    codec: str = DEFAULT_CODEC,
    crf: int | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    via_rgb: bool = False,
) -> dict[str, Any]:
    """Upscale every frame of video ``src`` by ``scale`` with ``net`` into ``dst``.

    ``dst``'s extension picks the container (``.mp4``, ``.mkv``, ...); ``codec`` is an
    FFmpeg encoder name; ``crf`` its constant-rate factor (None: :data:`DEFAULT_CRF` for
    x264/x265, the encoder's default otherwise). ``tile``: LR tile side for the network
    (None: the backend's). ``progress(done, total)`` is called after each frame (total
    None when the container does not say). ``stop`` set: the run ends as by Ctrl-C.
    ``via_rgb``: take planar YUV through RGB like a still (for measurements).

    Returns a record: input/output paths, ``kind: "video"``, frames, the frame rate,
    duration (s), sizes ``[w, h]``, codec, copied audio/subtitle streams and seconds.
    Raises :class:`VideoError` (one line) for a bad input or output, ``KeyboardInterrupt``
    when interrupted or stopped; in every failure ``dst`` is left as it was.
    """
    t0 = time.perf_counter()
    src, dst = Path(src), Path(dst)
    be = as_backend(net)
    if be.scale != scale:
        raise ValueError(f"the model is x{be.scale}, but x{scale} was asked for")
    muxer_for(dst.suffix)  # VideoError for an extension no video container has
    inp = _open_input(src)
    try:
        vin = _video_stream(src, inp)
        fmt = vin.codec_context.format.name if vin.codec_context.format else "yuv420p"
        w, h = vin.codec_context.width, vin.codec_context.height
        frames = Frames(be, scale, tile, fmt, vin.codec_context.name, via_rgb)
        _check_frame_size(w, h, scale, frames.out_fmt)
        copied = [s for s in inp.streams if s.type in ("audio", "subtitle")]
        kinds = [s.type for s in copied]
        with ExitStack() as stack:
            out = _open_output(stack, dst)
            try:
                rate = _rate(vin)
                vout = _encoder(out, vin, codec, crf, frames, scale, rate)
                mapped = _streams(src, inp, out, vout, copied, dst, codec)
                pix_fmt = vout.codec_context.pix_fmt
                total = _total_frames(vin, rate)
                done, packets = pump(inp, vin, out, vout, mapped, frames, rate, progress,
                                      total, stop)  # fmt: skip
                if not done:
                    raise VideoError("no frame could be decoded")
                if vin.frames and packets < vin.frames:  # the index lists frames the file lacks
                    raise VideoError(f"truncated ({packets} of {vin.frames} frames in the file)")
                out.close()
            except BaseException:
                _close_quietly(out)
                raise
    except av.FFmpegError as e:
        raise _fail("FFmpeg", e) from e
    finally:
        inp.close()
    with av.open(str(dst)) as check:
        duration = float(check.duration / av.time_base) if check.duration else None
    return {
        "input": str(src),
        "output": str(dst),
        "kind": "video",
        "frames": done,
        "fps": float(rate),
        "duration": duration,
        "size_in": [w, h],
        "size_out": [w * scale, h * scale],
        "codec": codec,
        "pix_fmt": pix_fmt,
        "streams_copied": kinds,
        "seconds": round(time.perf_counter() - t0, 3),
    }
