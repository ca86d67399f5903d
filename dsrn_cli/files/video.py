"""What a video file is: its extensions, the muxer that writes it, the encoders dsrn can use.

Containers and codecs are FFmpeg's, through PyAV, which is imported inside the functions
that need it: importing this module is cheap (``dsrn --help`` shows the defaults below
without loading FFmpeg). :data:`VIDEO_EXTS` is computed on first use.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from .imageio import list_files

if TYPE_CHECKING:
    import av

DEFAULT_CODEC = "libx264"  # FFmpeg's encoder name
# x264's CRF for the default encoder: 18 is "visually lossless or nearly so" in x264's
# documentation; upscaled detail is fine texture that x264's default (23) smooths away.
DEFAULT_CRF = 18
CRF_CODECS = ("libx264", "libx264rgb", "libx265", "libvpx-vp9", "libsvtav1", "libaom-av1")

# Output containers that hold video, by FFmpeg muxer name; their extensions (from PyAV)
# make the list of video file extensions. Audio-only and still-image extensions that the
# same muxers also claim are left out.
VIDEO_MUXERS = (
    "mp4", "mov", "matroska", "webm", "avi", "mpegts", "flv", "mpeg", "vob", "asf",
    "3gp", "3g2", "ogv", "f4v", "mxf", "nut", "dv", "ipod",
)  # fmt: skip
NOT_VIDEO_EXTS = {"wma", "m4a", "m4b", "mka", "mks", "isma", "heic", "heif", "avif"}


class VideoError(Exception):
    """A video input or output problem, worded as one line for users."""


@lru_cache(maxsize=1)
def video_exts() -> frozenset[str]:
    """Lower-case video file extensions with the dot (``.mp4``, ``.mkv``, ...): those PyAV
    reports for :data:`VIDEO_MUXERS` that this FFmpeg build has, less
    :data:`NOT_VIDEO_EXTS`."""
    import av

    exts: set[str] = set()
    for name in VIDEO_MUXERS:
        try:
            exts |= set(av.ContainerFormat(name, "w").extensions)
        except (ValueError, av.FFmpegError):  # a muxer this FFmpeg build lacks
            continue
    return frozenset("." + e for e in exts - NOT_VIDEO_EXTS)


def __getattr__(name: str) -> frozenset[str]:
    """``VIDEO_EXTS``: :func:`video_exts` (computed on first use)."""
    if name == "VIDEO_EXTS":
        return video_exts()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def is_video(path: str | Path, probe: bool = False) -> bool:
    """Whether ``path`` names a video: by extension (:func:`video_exts`, from PyAV's
    muxers), else with ``probe`` by opening it with FFmpeg and finding a video stream.
    Extensions Pillow reads (GIF too) are stills, read by the image path. Never raises."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in video_exts():
        return True
    if not probe or suffix in Image.registered_extensions() or not path.is_file():
        return False
    import av

    try:
        with av.open(str(path)) as c:
            still = "image2" in c.format.name or c.format.name.endswith("_pipe")
            return bool(c.streams.video) and not still
    except (av.FFmpegError, OSError, ValueError):
        return False


def list_videos(folder: str | Path, recursive: bool = False) -> list[Path]:
    """Video files in ``folder`` (by extension, :func:`video_exts`), sorted by name;
    hidden files and anything under a hidden folder are skipped, as ``list_images`` does."""
    return list_files(folder, video_exts(), recursive)


@lru_cache(maxsize=64)
def _holds(suffix: str, codec: str) -> bool:
    """Whether FFmpeg writes ``codec`` video into a ``*suffix`` file (tried in memory:
    PyAV's ``supported_codecs`` misses codecs of muxers without a codec table, e.g. H.264
    in MPEG-TS)."""
    import av

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
    import av

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
    return Path(src).suffix if suffix in video_exts() and _holds(suffix, codec) else ".mp4"


def check_encoder(codec: str, crf: int | None = None) -> av.Codec:
    """FFmpeg's video encoder ``codec``; VideoError (one line) if there is none, or if
    ``crf`` is given for an encoder without one or out of 0..63."""
    import av

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
