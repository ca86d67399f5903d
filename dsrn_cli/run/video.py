"""Video in, video out: every frame upscaled like a still, sound and timing kept (issue 20).

Decoding, encoding and muxing are FFmpeg's libraries through PyAV (no ``ffmpeg`` binary).
Frames stream through two bounded queues (a reader thread decodes, the caller's thread
runs the network, a writer thread encodes and muxes), so memory does not grow with the
clip's length (the encoder's own lookahead aside).

Pixels. Video is stored as luma plus subsampled chroma, which is how DSRN upscales
anyway, so a planar YUV frame is upscaled in its own planes: the Y plane goes through
:func:`dsrn_cli.runtime.strips.assemble_array` as a grayscale image (the still pipeline's network
path), and each chroma plane gets MATLAB bicubic (:func:`dsrn_cli.pixels.resize.contributions`,
the still pipeline's chroma upscale) at its own resolution, kept float and rounded once.
This skips the YUV -> RGB -> YCbCr -> RGB -> YUV round trip a still would take, with its
chroma up- and down-sampling and three roundings; docs/performance.md ("Video") measures
both paths. A studio-range BT.601 Y plane is the very luma (MATLAB ``rgb2ycbcr``) the
network is trained on; BT.709 luma weighs R, G, B differently and full-range luma spans
0..255 instead of 16..235, and the network upscales them as the luminance images they
are. Other pixel formats (RGB, palette, ...) go through RGB and the still pipeline.

Chroma siting: 4:2:0/4:2:2 chroma of MPEG-family codecs is co-sited with the even luma
columns ("left", what FFmpeg and players assume when unsigned); the horizontal chroma
upscale samples at those positions, so colour stays on its edges. JPEG-range formats
(``yuvj*``, MJPEG) are centre-sited and use MATLAB's centred grid.

Timing: every decoded frame becomes one encoded frame with the same ``pts`` in the same
time base (variable frame rate included); audio and subtitle packets are copied
untouched (remuxed, not decoded); colour range, primaries, transfer and matrix tags are
carried over, as are the display rotation, chapters and the stream/container metadata.
Data streams (e.g. QuickTime timecode) and attachments are not copied.

The output is written to a hidden temporary file beside ``dst`` (named as
:mod:`dsrn_cli.files.partfiles` names them, so a later run sweeps what a killed one left) and
renamed at the end: an interrupted or failed run leaves nothing under the final name.
"""

from __future__ import annotations

import io
import math
import os
import queue
import secrets
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from ..cli.options import DEFAULT_CODEC, DEFAULT_CRF
from ..files.partfiles import part_prefix
from ..model.network import DSRN
from ..pixels.resize import contributions
from ..runtime.backend import Backend
from ..runtime.selection import as_backend
from ..runtime.strips import assemble_array

# DEFAULT_CODEC (libx264) and DEFAULT_CRF (18) live in options.py: `dsrn --help` shows them
# without importing this module (torch, PyAV).
QUEUE = 4  # frames (or packets to copy) waiting between the reader, network and writer
CRF_CODECS = ("libx264", "libx264rgb", "libx265", "libvpx-vp9", "libsvtav1", "libaom-av1")

# Output containers that hold video, by FFmpeg muxer name; their extensions (from PyAV)
# make the list of video file extensions. Audio-only and still-image extensions that the
# same muxers also claim are left out.
VIDEO_MUXERS = (
    "mp4", "mov", "matroska", "webm", "avi", "mpegts", "flv", "mpeg", "vob", "asf",
    "3gp", "3g2", "ogv", "f4v", "mxf", "nut", "dv", "ipod",
)  # fmt: skip
NOT_VIDEO_EXTS = {"wma", "m4a", "m4b", "mka", "mks", "isma", "heic", "heif", "avif"}

# Planar YUV formats upscaled in their own planes; the rest go through RGB.
_PLANAR = {
    "yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p",
    "yuv420p10le", "yuv422p10le", "yuv444p10le", "yuv420p12le", "yuv422p12le", "yuv444p12le",
}  # fmt: skip
_JPEG_FORMATS = {"yuvj420p": "yuv420p", "yuvj422p": "yuv422p", "yuvj444p": "yuv444p"}

Progress = Callable[[int, int | None], None]  # (frames done, frames in all or None)


class VideoError(Exception):
    """A video input or output problem, worded as one line for users."""


def _video_exts() -> frozenset[str]:
    exts: set[str] = set()
    for name in VIDEO_MUXERS:
        try:
            exts |= set(av.ContainerFormat(name, "w").extensions)
        except (ValueError, av.FFmpegError):  # a muxer this FFmpeg build lacks
            continue
    return frozenset("." + e for e in exts - NOT_VIDEO_EXTS)


VIDEO_EXTS = _video_exts()


def is_video(path: str | Path, probe: bool = False) -> bool:
    """Whether ``path`` names a video: by extension (:data:`VIDEO_EXTS`, from PyAV's
    muxers), else with ``probe`` by opening it with FFmpeg and finding a video stream.
    Extensions Pillow reads (GIF too) are stills, read by the image path. Never raises."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in VIDEO_EXTS:
        return True
    if not probe or suffix in Image.registered_extensions() or not path.is_file():
        return False
    try:
        with av.open(str(path)) as c:
            still = "image2" in c.format.name or c.format.name.endswith("_pipe")
            return bool(c.streams.video) and not still
    except (av.FFmpegError, OSError, ValueError):
        return False


def list_videos(folder: str | Path, recursive: bool = False) -> list[Path]:
    """Video files in ``folder`` (by extension, :data:`VIDEO_EXTS`), sorted by name;
    hidden files and anything under a hidden folder are skipped, as ``list_images`` does."""
    folder = Path(folder)
    pattern = "**/*" if recursive else "*"
    return sorted(
        p
        for p in folder.glob(pattern)
        if p.suffix.lower() in VIDEO_EXTS
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and p.is_file()
    )


@lru_cache(maxsize=64)
def _holds(suffix: str, codec: str) -> bool:
    """Whether FFmpeg writes ``codec`` video into a ``*suffix`` file (tried in memory:
    PyAV's ``supported_codecs`` misses codecs of muxers without a codec table, e.g. H.264
    in MPEG-TS)."""
    try:
        with av.open(io.BytesIO(), "w", format=muxer_for(suffix)) as c:
            st = c.add_stream(codec, rate=25)
            st.width = st.height = 64
            formats = [f.name for f in av.Codec(codec, "w").video_formats or ()]
            st.pix_fmt = "yuv420p" if "yuv420p" in formats or not formats else formats[0]
            c.start_encoding()
        return True
    except (ValueError, av.FFmpegError, OSError, VideoError):
        return False


def muxer_for(suffix: str) -> str:
    """FFmpeg's muxer for a video file extension (``.mkv`` -> ``matroska``), from the
    extensions PyAV reports for :data:`VIDEO_MUXERS`; VideoError if none claims it."""
    for name in VIDEO_MUXERS:
        try:
            if suffix[1:].lower() in av.ContainerFormat(name, "w").extensions:
                return name
        except (ValueError, av.FFmpegError):
            continue
    raise VideoError(f"no video container is written as {suffix!r} files (use .mp4 or .mkv)")


def video_suffix(src: str | Path, codec: str = DEFAULT_CODEC) -> str:
    """The output extension for video ``src``: its own if that container can hold
    ``codec`` (``.mkv``, ``.mov``, ``.mp4`` for H.264), else ``.mp4``."""
    suffix = Path(src).suffix.lower()
    return Path(src).suffix if suffix in VIDEO_EXTS and _holds(suffix, codec) else ".mp4"


# ----------------------------------------------------------------------- pixels


def _plane(p: av.video.plane.VideoPlane, dtype: np.dtype) -> np.ndarray:
    """A view of one plane's pixels (``height x width``, line padding cut off)."""
    a = np.frombuffer(p, dtype=dtype)
    return a.reshape(p.height, p.line_size // a.itemsize)[:, : p.width]


def _chroma_taps(n: int, out: int, scale: int, cosited: bool) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB bicubic taps from ``n`` chroma samples to ``out``. ``cosited``: the chroma
    samples sit on even luma samples (``u = (x - 1) / s + 1``, 1-based) instead of at
    the centre of their pairs (MATLAB's ``u = x / s + (1 - 1 / s) / 2``): the same cubic
    kernel, mirror boundary and normalisation on a grid shifted by ``(1 - 1 / s) / 2``."""
    idx, wt = contributions(n, out, float(scale))
    if not cosited:
        return idx, wt
    x = np.arange(1, out + 1, dtype=np.float64)
    u = (x - 1) / scale + 1
    left = np.floor(u - 2)
    taps = left[:, None] + np.arange(6)[None, :]
    t = np.abs(u[:, None] - taps)
    w = (1.5 * t**3 - 2.5 * t**2 + 1) * (t <= 1) + (-0.5 * t**3 + 2.5 * t**2 - 4 * t + 2) * (
        (t > 1) & (t <= 2)
    )
    w /= w.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(n), np.arange(n - 1, -1, -1)])
    return mirror[np.mod(taps - 1, 2 * n).astype(np.int64)], w


def upscale_chroma(
    c: np.ndarray, scale: int, size: tuple[int, int], cosited: tuple[bool, bool], peak: int
) -> np.ndarray:
    """One ``h x w`` chroma plane (uint8/uint16 codes, ``0..peak``) -> ``size`` (rows,
    columns), MATLAB bicubic x``scale`` (rows first, float64, one half-up rounding and
    clip at the end, as the still pipeline's chroma). ``cosited`` per axis (rows, columns):
    see :func:`_chroma_taps`. ``size`` may be a row/column smaller than ``scale`` times
    the plane (odd luma sizes round the chroma size up)."""
    out = np.asarray(c, dtype=np.float64)
    for axis, (n_out, co) in enumerate(zip(size, cosited, strict=True)):
        n = out.shape[axis]
        idx, wt = _chroma_taps(n, n * scale, scale, co)
        idx, wt = idx[:n_out], wt[:n_out]
        src = np.moveaxis(out, axis, 0)
        acc = np.zeros((n_out,) + src.shape[1:], dtype=np.float64)
        for k in range(idx.shape[1]):
            acc += wt[:, k, None] * src[idx[:, k]]
        out = np.moveaxis(acc, 0, axis)
    return np.clip(np.floor(out + 0.5), 0, peak).astype(c.dtype)


def _luma(net: Backend, y: np.ndarray, scale: int, tile: int | None, bits: int) -> np.ndarray:
    """The network's luma for a ``bits``-deep Y plane through :func:`assemble_array` (8-bit as
    is; deeper planes widened to 16 bits by bit replication, exact at 0 and peak, and
    rounded back)."""
    if bits == 8:
        return assemble_array(net, y, scale, tile)
    shift = 16 - bits
    wide = (y.astype(np.uint16) << shift) | (y.astype(np.uint16) >> (bits - shift))
    up = assemble_array(net, wide, scale, tile).astype(np.float64) * ((2**bits - 1) / 65535.0)
    return np.floor(up + 0.5).astype(np.uint16)


class _Frames:
    """Turns decoded frames into upscaled frames in the encoder's input format."""

    def __init__(
        self, net: Backend, scale: int, tile: int | None, fmt: str, codec: str, via_rgb: bool
    ) -> None:
        self.net, self.scale, self.tile = net, scale, tile
        self.planar = fmt in _PLANAR and not via_rgb
        desc = av.VideoFormat(fmt)
        self.bits = desc.components[0].bits if self.planar else 8
        self.out_fmt = _JPEG_FORMATS.get(fmt, fmt) if self.planar else "rgb24"
        self.dtype = np.dtype(np.uint8 if self.bits == 8 else "<u2")
        # chroma siting: centre for JPEG-range formats and MJPEG, else MPEG's "left"
        centred = fmt in _JPEG_FORMATS or codec in ("mjpeg", "jpeg2000")
        self.cosited = (False, not centred)

    def __call__(self, frame: av.VideoFrame) -> av.VideoFrame:
        s = self.scale
        if not self.planar:
            rgb = frame.to_ndarray(format="rgb24")
            return av.VideoFrame.from_ndarray(assemble_array(self.net, rgb, s, self.tile), "rgb24")
        w, h = frame.width * s, frame.height * s
        out = av.VideoFrame(w, h, self.out_fmt)
        peak = 2**self.bits - 1
        for k, (p, q) in enumerate(zip(frame.planes, out.planes, strict=True)):
            src, dst = _plane(p, self.dtype), _plane(q, self.dtype)
            if k == 0:
                dst[...] = _luma(self.net, src, s, self.tile, self.bits)
            else:
                dst[...] = upscale_chroma(src, s, dst.shape, self.cosited, peak)
        return out


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
    frames: _Frames,
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
        jpeg = cin.format is not None and cin.format.name in _JPEG_FORMATS
        cc.color_range = 2 if jpeg else cin.color_range  # yuvj*: full range, said so
        cc.color_primaries, cc.color_trc = cin.color_primaries, cin.color_trc
        cc.colorspace = cin.colorspace
    elif not want.startswith(("rgb", "bgr", "gbr")):  # swscale's RGB -> YUV: BT.601, studio
        cc.colorspace, cc.color_range = 6, 1  # SMPTE 170M matrix, MPEG range
    for key, value in vin.metadata.items():
        if key.lower() not in ("encoder", "handler_name", "vendor_id", "duration"):
            vout.metadata[key] = value
    return vout


def check_encoder(codec: str, crf: int | None = None) -> av.Codec:
    """FFmpeg's video encoder ``codec``; VideoError (one line) if there is none, or if
    ``crf`` is given for an encoder without one or out of 0..63."""
    try:
        enc = av.Codec(codec, "w")
    except (ValueError, av.FFmpegError):
        raise VideoError(f"unknown video encoder {codec!r} (try libx264)") from None
    if enc.type != "video":
        raise VideoError(f"{codec!r} is not a video encoder")
    if crf is not None and codec not in CRF_CODECS:
        raise VideoError(f"--crf needs one of {', '.join(CRF_CODECS)}, not {codec}")
    if crf is not None and not 0 <= crf <= 63:
        raise VideoError(f"--crf must be between 0 and 63 (x264/x265: 51), not {crf}")
    return enc


def _rotation(src: Path) -> int:
    """The display rotation of the first frame (degrees counter-clockwise; 0 if none)."""
    try:
        with av.open(str(src)) as c:
            for frame in c.decode(video=0):
                return int(round(frame.rotation or 0))
    except (av.FFmpegError, OSError, ValueError):
        pass
    return 0


def _tag_colour(frame: av.VideoFrame, cc: Any) -> None:
    frame.color_range = cc.color_range
    frame.colorspace = cc.colorspace
    frame.color_primaries = cc.color_primaries
    frame.color_trc = cc.color_trc


def _temp_file(dst: Path) -> Path:
    """A new empty temp file beside ``dst`` named as all dsrn temp files are
    (``partfiles``: a later run sweeps it if this process dies); created with mode 0666
    so the umask gives it the mode any new file gets."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = dst.parent / f"{part_prefix(dst.name)}{secrets.token_hex(4)}.part"
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return tmp
        except FileExistsError:
            continue


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
    tmp: Path | None = None
    out = None
    try:
        vin = _video_stream(src, inp)
        fmt = vin.codec_context.format.name if vin.codec_context.format else "yuv420p"
        w, h = vin.codec_context.width, vin.codec_context.height
        frames = _Frames(be, scale, tile, fmt, vin.codec_context.name, via_rgb)
        if frames.out_fmt.startswith(("yuv420", "yuv422")) and (w * scale) % 2:
            raise VideoError(f"{w}x{h} x{scale} is {w * scale} wide, which "
                             f"{frames.out_fmt} cannot store; use x2 or x4")  # fmt: skip
        if frames.out_fmt.startswith("yuv420") and (h * scale) % 2:
            raise VideoError(f"{w}x{h} x{scale} is {h * scale} high, which "
                             f"{frames.out_fmt} cannot store; use x2 or x4")  # fmt: skip
        copied = [s for s in inp.streams if s.type in ("audio", "subtitle")]
        kinds = [s.type for s in copied]
        try:
            tmp = _temp_file(dst)
            out = av.open(str(tmp), "w", format=muxer_for(dst.suffix))
        except OSError as e:
            raise VideoError(f"cannot write to the folder {dst.parent}: {e.strerror}") from e
        except (av.FFmpegError, ValueError) as e:
            raise VideoError(f"{dst.name}: cannot write this container ({e})") from e
        rate = _rate(vin)
        vout = _encoder(out, vin, codec, crf, frames, scale, rate)
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
        pix_fmt = vout.codec_context.pix_fmt
        total = _total_frames(vin, rate)
        done, packets = _pump(inp, vin, out, vout, mapped, frames, rate, progress, total, stop)
        if not done:
            raise VideoError("no frame could be decoded")
        if vin.frames and packets < vin.frames:  # the index lists frames the file lacks
            raise VideoError(f"truncated ({packets} of {vin.frames} frames in the file)")
        out.close()
        out = None
        os.replace(tmp, dst)
        tmp = None
    except av.FFmpegError as e:
        raise _fail("FFmpeg", e) from e
    finally:
        inp.close()
        if out is not None:
            try:
                out.close()
            except Exception:  # the header may never have been written
                pass
        if tmp is not None:
            tmp.unlink(missing_ok=True)
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


class _Pipe:
    """Three threads joined by two bounded queues, so decoding and encoding overlap the
    network: a reader demuxes and decodes (decoded frames and packets to copy, in file
    order), the caller's thread upscales, a writer encodes and muxes. Any failure or
    interrupt halts all three; :meth:`close` joins the helpers before the containers
    are closed (FFmpeg objects are never shared between threads)."""

    END = object()

    def __init__(self) -> None:
        self.decoded: queue.Queue = queue.Queue(maxsize=QUEUE)
        self.upscaled: queue.Queue = queue.Queue(maxsize=QUEUE)
        self.halt = threading.Event()
        self.errors: list[BaseException] = []
        self.threads: list[threading.Thread] = []

    def put(self, q: queue.Queue, item: Any) -> bool:
        while not self.halt.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(self, q: queue.Queue) -> Any:
        while True:
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                if self.halt.is_set():
                    return self.END

    def start(self, name: str, work: Callable[[], None]) -> None:
        def run() -> None:
            try:
                work()
            except BaseException as e:  # handed to the caller's thread by check()
                self.errors.append(e)
                self.halt.set()

        t = threading.Thread(target=run, name=f"dsrn-video-{name}", daemon=True)
        self.threads.append(t)
        t.start()

    def check(self) -> None:
        if self.errors:
            raise self.errors[0]

    def close(self) -> None:
        self.halt.set()
        for t in self.threads:
            t.join()


def _pump(
    inp: av.container.InputContainer,
    vin: av.VideoStream,
    out: av.container.OutputContainer,
    vout: av.VideoStream,
    mapped: dict[int, Any],
    frames: _Frames,
    rate: Fraction,
    progress: Progress | None,
    total: int | None,
    stop: threading.Event | None,
) -> tuple[int, int]:
    """Demux ``inp`` once: video packets are decoded, upscaled and encoded, the others
    remuxed as they come (FFmpeg's interleaving buffer orders them). Returns the frames
    encoded and the video packets read (edit lists can drop frames, never packets)."""
    pipe = _Pipe()
    streams = [vin] + [s for s in inp.streams if s.index in mapped]
    packets = 0

    def read() -> None:
        nonlocal packets
        for packet in inp.demux(streams):
            if packet.stream.index != vin.index:
                if packet.size and not pipe.put(pipe.decoded, packet):
                    return
                continue
            packets += packet.size > 0
            try:
                decoded = vin.decode(packet)
            except av.InvalidDataError:  # one damaged packet: FFmpeg conceals, go on
                continue
            for frame in decoded:
                if not pipe.put(pipe.decoded, frame):
                    return
        pipe.put(pipe.decoded, pipe.END)

    def write() -> None:
        while (item := pipe.get(pipe.upscaled)) is not pipe.END:
            if isinstance(item, av.Packet):
                item.stream = mapped[item.stream.index]
                out.mux(item)
            else:
                out.mux(vout.encode(item))
        if not pipe.halt.is_set():
            out.mux(vout.encode(None))  # the encoder's delayed frames

    done = 0
    step = 1 / (rate * vin.time_base) if vin.time_base else 1
    last_pts: int | None = None
    cc = vout.codec_context
    pipe.start("reader", read)
    pipe.start("writer", write)
    try:
        while (item := pipe.get(pipe.decoded)) is not pipe.END:
            if isinstance(item, av.Packet):
                pipe.put(pipe.upscaled, item)
                continue
            if stop is not None and stop.is_set():
                raise KeyboardInterrupt
            up = frames(item)
            pts = item.pts
            if pts is None:  # raw streams without timestamps: the nominal rate
                pts = 0 if last_pts is None else last_pts + max(1, math.floor(step))
            last_pts = pts
            up.pts, up.time_base = pts, vin.time_base
            if item.duration:
                up.duration = item.duration
            _tag_colour(up, cc)
            if not pipe.put(pipe.upscaled, up):
                break
            done += 1
            if progress is not None:
                progress(done, total)
        pipe.check()
        pipe.put(pipe.upscaled, pipe.END)
        pipe.threads[1].join()  # the writer drains and flushes
        pipe.check()
    finally:
        pipe.close()
    return done, packets
