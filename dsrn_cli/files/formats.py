"""The output formats as data: one frozen record per format, saying what a file of it holds.

The encoder (:mod:`~dsrn_cli.files.encode`) converts or drops, with a note, whatever a
record says its format cannot hold; the planner names outputs by
:func:`output_extension`; the CLI's ``--format`` choices are :func:`format_names`; a test
checks the README's "What is kept" table against :data:`OUTPUT_FORMATS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AlphaKind = Literal["none", "on-off", "full"]
FramesKind = Literal["animation", "pages"]

# The integer sample types TIFF holds besides 8/16-bit unsigned (read as float32 with
# their values, written in their own type again).
_WIDE_INTEGERS = ("int8", "int16", "int32", "int64", "uint32", "uint64")


@dataclass(frozen=True)
class OutputFormat:
    """What one output format holds: the facts the encoder acts on."""

    pillow: str
    """Pillow's format name (``Image.save(format=...)``), e.g. ``"JPEG"``."""

    names: tuple[str, ...] = ()
    """The ``--format`` names that choose it, e.g. ``("jpg", "jpeg")``; empty: chosen
    only by an output's extension."""

    extensions: tuple[str, ...] = ()
    """Lower-case file extensions with the dot; the first is what an output written in
    this format by ``--format`` gets (``".tif"`` for TIFF)."""

    depths: tuple[str, ...] = ("uint8",)
    """numpy sample types written as they are; any other is rescaled to the deepest
    of ``uint16`` / ``uint8`` held (said)."""

    alpha: AlphaKind = "none"
    """``"full"``: every alpha value; ``"on-off"``: transparent or opaque (one
    transparent palette index, opaque from 50 %); ``"none"``: composited onto the
    background."""

    grey: bool = True
    """Whether grey (+ alpha) pixels stay grey; False: written as RGB (through a grey
    ICC profile when there is one)."""

    icc: bool = False
    """Whether an ICC profile is embedded."""

    exif: bool = False
    """Whether EXIF is kept (orientation reset to 1, pixel dimensions the output's)."""

    xmp: bool = False
    """Whether XMP is kept (pixel dimensions the output's)."""

    dpi: bool = False
    """Whether the resolution (dots per inch) is kept."""

    text: bool = False
    """Whether every text entry (PNG tEXt/iTXt chunk) is kept."""

    comment: bool = False
    """Whether one text is kept, the "Comment" entry or the only one (JPEG's COM
    marker, GIF's comment extension, TIFF's ImageDescription)."""

    frames: FramesKind | None = None
    """``"animation"``: frames with durations and a loop count; ``"pages"``: pages,
    each at its own size and mode, without timing; None: the first frame only (said)."""


OUTPUT_FORMATS: tuple[OutputFormat, ...] = (
    OutputFormat("PNG", ("png",), (".png", ".apng"), ("uint8", "uint16"), "full",
                 icc=True, exif=True, xmp=True, dpi=True, text=True, frames="animation"),
    OutputFormat("JPEG", ("jpg", "jpeg"), (".jpg", ".jpeg"),
                 icc=True, exif=True, xmp=True, dpi=True, comment=True),
    OutputFormat("WEBP", ("webp",), (".webp",), alpha="full", grey=False,  # libwebp: RGB(A)
                 icc=True, exif=True, xmp=True, frames="animation"),
    OutputFormat("TIFF", ("tiff",), (".tif", ".tiff"),
                 ("uint8", "uint16", "float32", *_WIDE_INTEGERS), "full",
                 icc=True, exif=True, xmp=True, dpi=True, comment=True, frames="pages"),
    OutputFormat("GIF", ("gif",), (".gif",), alpha="on-off", comment=True, frames="animation"),
    OutputFormat("BMP", ("bmp",), (".bmp",), alpha="full", dpi=True),
    OutputFormat("PPM", (), (".ppm", ".pgm")),
)  # fmt: skip
"""Every format dsrn writes, in the order of the ``--format`` choices."""

FORMATS: dict[str, str] = {ext: f.pillow for f in OUTPUT_FORMATS for ext in f.extensions}
"""Pillow format names by lower-case output extension (``".tif"`` -> ``"TIFF"``)."""

_BY_PILLOW = {f.pillow: f for f in OUTPUT_FORMATS}


def format_names() -> list[str]:
    """The ``--format`` names in order: png, jpg, jpeg, webp, tiff, gif, bmp."""
    return [name for f in OUTPUT_FORMATS for name in f.names]


def by_name(name: str) -> OutputFormat:
    """The record a ``--format`` name chooses (case-insensitive). KeyError if none."""
    for f in OUTPUT_FORMATS:
        if name.lower() in f.names:
            return f
    raise KeyError(name)


def output_extension(name: str) -> str:
    """The extension an output written with ``--format name`` gets (``"jpeg"`` ->
    ``".jpg"``). KeyError for an unknown name."""
    return by_name(name).extensions[0]


def by_extension(ext: str) -> OutputFormat | None:
    """The record for an output extension (``".TIF"`` or ``".tif"``), None if dsrn does
    not write it."""
    found = FORMATS.get(ext.lower())
    return None if found is None else _BY_PILLOW[found]


def by_pillow(pillow: str) -> OutputFormat:
    """The record for a Pillow format name. A name not in :data:`OUTPUT_FORMATS` (an
    explicit ``WriteOptions.format``) gets one that holds 8-bit grey or RGB only."""
    return _BY_PILLOW.get(pillow) or OutputFormat(pillow)
