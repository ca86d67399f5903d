"""Decoding: a file into a :class:`~dsrn_cli.files.picture.Picture` at its own bit depth.

Pillow opens every file and reads its metadata (ICC, EXIF, XMP, DPI, PNG text, frames,
durations) and the pixels it holds at full depth (8-bit, 16-bit grey, float grey).
Pillow reduces 16-bit colour PNG/TIFF to 8 bits and cannot open float colour TIFF, so
those pixels come from OpenCV (PNG; ``cv2.imdecodemulti``) and tifffile (TIFF; OpenCV
where tifffile lacks the codec), which keep them as uint16 / float32 (measured against
imageio: README, "What is kept").
CMYK and other non-RGB pixels are converted to sRGB through their ICC profile with
littlecms (``PIL.ImageCms``; 8-bit, so deeper CMYK/Lab goes to 8 bits, said). Integer
samples other than uint8/uint16 (signed, 32-bit) are upscaled as float32, values kept
(``Picture.source_dtype`` names their type, for the writer).

This module picks the reader and reads what Pillow reads; the format-specific parts live
beside it: ``tiff`` (full-depth TIFF/PNG pages, TIFFs Pillow cannot open),
``tiffcolour`` (deep CMYK/Lab pages, associated alpha), ``png`` (IHDR, tRNS,
gAMA/sRGB/cHRM), ``bmp`` (BMP with alpha), ``webp`` (animated WebP's alpha flag),
with ``profiles`` (ICC) and ``exifxmp`` (orientation, EXIF/XMP edits).
"""

from __future__ import annotations

import sys
import warnings
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from .bmp import bmp_icc, bmp_with_alpha
from .exifxmp import ORIENTATION, drop_tiff_layout, orient, xmp_oriented
from .picture import Picture, Pixels, UpscaleError, check_pixels, partial_alpha, peak
from .png import png_colour_chunks, png_colour_type, png_grey_key, png_is_deep
from .profiles import match_icc, to_srgb
from .tiff import TIFF_MAGIC, cv2_frames, cv2_only, pipeline_dtype, tag_tuple, tiff_is_deep
from .tiffcolour import colour_page, unassociated
from .webp import webp_canvas_alpha, webp_lossless

ANIMATED_FORMATS = {"GIF", "PNG", "WEBP", "AVIF", "FLI"}  # multi-frame = an animation
PAGED_FORMATS = {"TIFF"}  # multi-frame = pages
# Pillow opens these but reads only the header (MPEG) or needs an outside program.
_HEADER_ONLY = {"MPEG", "EPS", "PDF"}
# What OpenCV reads beyond Pillow (deep colour TIFF/PNG use the same extensions).
_CV2_EXTS = {".tif", ".tiff", ".png"}
_NON_RGB = ("CMYK", "LAB", "YCbCr", "HSV")


@cache
def decoder_extensions() -> frozenset[str]:
    """File extensions (lower case, with the dot) of every still or animated format the
    decoders open: Pillow's registered extensions of formats it can decode (stub plugins
    without a handler and header-only formats left out), plus OpenCV's deep TIFF/PNG."""
    Image.init()
    exts = set(_CV2_EXTS)
    for ext, fmt in Image.registered_extensions().items():
        if fmt not in Image.OPEN or fmt in _HEADER_ONLY:
            continue
        factory = Image.OPEN[fmt][0]
        if isinstance(factory, type) and issubclass(factory, ImageFile.StubImageFile):
            if getattr(sys.modules[factory.__module__], "_handler", None) is None:
                continue
        exts.add(ext.lower())
    return frozenset(exts)


def _open(src: Path, max_pixels: int | None) -> Image.Image | None:
    """Open ``src`` (headers only), turning every failure into an UpscaleError.

    None: Pillow cannot identify it but it is a TIFF (float colour, read by OpenCV)."""
    if src.is_dir():
        raise UpscaleError("is a directory, not an image")
    try:
        if src.stat().st_size == 0:
            raise UpscaleError("empty file")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(src)
    except FileNotFoundError as e:
        raise UpscaleError("no such file") from e
    except PermissionError as e:
        raise UpscaleError("permission denied") from e
    except UnidentifiedImageError as e:
        with open(src, "rb") as f:
            if f.read(4) in TIFF_MAGIC:
                return None
        raise UpscaleError("not an image (or a format Pillow cannot read)") from e
    except Image.DecompressionBombError as e:
        raise UpscaleError(f"refused as a decompression bomb ({e})") from e
    except OSError as e:
        raise UpscaleError(f"cannot read: {e}") from e
    check_pixels(im.size, _frame_count(im), max_pixels)
    return im


def _frame_count(im: Image.Image) -> int:
    if im.format in ANIMATED_FORMATS | PAGED_FORMATS:
        return getattr(im, "n_frames", 1)
    return 1  # MPO's second view, PSD layers: the image is the first frame


def _exif_of(im: Image.Image) -> Image.Exif:
    """The EXIF; a TIFF keeps its layout (size, strips, ICC) in the IFD Pillow exposes as
    EXIF, and those tags, copied elsewhere, would describe the input, not the output."""
    exif = im.getexif()
    if im.format == "TIFF":
        drop_tiff_layout(exif)
    return exif


def pil_pixels(im: Image.Image) -> np.ndarray:
    """A decoded Pillow frame of an RGB/grey family mode as an array at its depth."""
    mode = im.mode
    if mode in ("1", "L", "I;16", "RGB") and "transparency" in im.info:
        return _keyed(im)
    if mode in ("L", "RGB", "RGBA", "LA"):
        return np.asarray(im)
    if mode == "F":
        return np.asarray(im, dtype=np.float32)
    if mode.startswith("I;16") or mode == "I":
        return np.clip(np.asarray(im.convert("I")), 0, 65535).astype(np.uint16)
    if mode == "1":
        return np.asarray(im.convert("L"))
    transparent = "A" in mode or "transparency" in im.info
    if mode in ("P", "PA") and not transparent:
        palette = im.palette.mode if im.palette else "RGB"
        return np.asarray(im.convert("L" if palette == "L" else "RGB"))
    return np.asarray(im.convert("RGBA" if transparent else "RGB"))


def _keyed(im: Image.Image) -> np.ndarray:
    """Grey or RGB with a colour key (PNG tRNS): grey + alpha or RGBA, alpha 0 where the
    pixel is the key colour, full elsewhere (at the pixels' depth)."""
    key = im.info["transparency"]
    a = np.asarray(im.convert("L") if im.mode == "1" else im)
    if a.dtype != np.uint16:
        a = a.astype(np.uint8)
    if a.ndim == 3:
        opaque = np.any(a != np.asarray(key, dtype=np.int64), axis=2)
    else:
        opaque = a != key
    alpha = (opaque * peak(a.dtype)).astype(a.dtype)
    return np.dstack([a, alpha])


def _grey_alpha(a: np.ndarray) -> np.ndarray:
    """OpenCV expands grey + alpha to BGRA: back to ``H x W x 2``."""
    return np.ascontiguousarray(a[:, :, [0, 3]])


def _text_of(im: Image.Image) -> dict[str, str]:
    """PNG text chunks; a GIF's comment extension or a JPEG's COM marker as "Comment"
    (UTF-8, else Latin-1)."""
    text = dict(getattr(im, "text", None) or {}) if im.format == "PNG" else {}
    text.pop("XML:com.adobe.xmp", None)  # kept as XMP
    comment = im.info.get("comment") if im.format in ("GIF", "JPEG") else None
    if isinstance(comment, bytes):
        try:
            comment = comment.decode("utf-8")
        except UnicodeDecodeError:
            comment = comment.decode("latin-1")
    if comment:
        text["Comment"] = comment
    return {str(k): str(v) for k, v in text.items()}


def _xmp_of(im: Image.Image) -> bytes | None:
    xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
    if xmp is None and im.format == "TIFF":
        xmp = im.tag_v2.get(700)
    return xmp_oriented(xmp)


def _dpi_of(im: Image.Image) -> tuple[float, float] | None:
    if im.format == "TIFF" and 282 not in im.tag_v2:
        return None  # Pillow reports (1, 1) dpi for a TIFF without a resolution
    dpi = im.info.get("dpi")
    if isinstance(dpi, tuple) and len(dpi) == 2 and all(float(v) > 0 for v in dpi):
        return float(dpi[0]), float(dpi[1])
    return None


def _load(im: Image.Image) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im.load()
    except (OSError, SyntaxError, ValueError) as e:
        raise UpscaleError(f"truncated or corrupt image ({e})") from e


def _load_turned(im: Image.Image) -> int:
    """Load ``im``; returns the EXIF orientation Pillow applied to the pixels it decoded
    (1: none). Pillow 13 turns a TIFF page so as it loads it and drops its Orientation
    tag: the page's pixels read at full depth elsewhere (tifffile) need the same turn."""
    before = int(im.tag_v2.get(ORIENTATION, 1) or 1) if im.format == "TIFF" else 1
    _load(im)
    return before if before != 1 and ORIENTATION not in im.tag_v2 else 1


def read(src: str | Path, max_pixels: int | None = None) -> Picture:
    """Decode ``src`` (every frame or page, EXIF-oriented) into a :class:`Picture`.

    Raises UpscaleError (one line for users) for anything that is not a readable image,
    or holds more than ``max_pixels`` pixels over all its frames.
    """
    src = Path(src)
    bmp = bmp_with_alpha(src, max_pixels)
    if bmp is not None:
        return bmp
    im = _open(src, max_pixels)
    if im is None:
        return cv2_only(src, max_pixels)
    if im.format == "WEBP" and im.mode == "RGB":
        im = webp_canvas_alpha(src, im)
    notes: list[str] = []
    try:
        n = _frame_count(im)
        fmt = im.format or ""
        kind = "still" if n == 1 else "pages" if fmt in PAGED_FORMATS else "animation"
        turned = _load_turned(im)
        icc = im.info.get("icc_profile") or (bmp_icc(src) if fmt == "BMP" else None)
        exif = _exif_of(im)
        orientation = int(exif.get(ORIENTATION, 1) or 1)
        if ORIENTATION in exif:
            exif[ORIENTATION] = 1
        pic = Picture([], fmt, fmt != "JPEG", kind, icc=icc,  # type: ignore[arg-type]
                      exif=exif.tobytes() if len(exif) else None, xmp=_xmp_of(im),
                      dpi=_dpi_of(im), text=_text_of(im), notes=notes)  # fmt: skip
        if fmt == "WEBP":
            pic.lossless = webp_lossless(src)
        png_colour_chunks(im, pic)
        if kind == "animation":
            _read_animation(im, pic)
        else:
            _read_pages(src, im, n, pic, turned)
        pic.frames = [orient(as_np(f), orientation) for f in pic.frames]
        pic.partial_alpha = any(partial_alpha(f) for f in pic.frames)
        return pic
    finally:
        im.close()


def plays(fmt: str, loop: int | None) -> int:
    """How many times an animation plays (0: forever) from Pillow's ``loop`` of a ``fmt``
    file: a GIF's NETSCAPE count repeats after the first play, no count plays once;
    APNG's num_plays and WebP's loop count are the plays themselves (absent: forever)."""
    if fmt == "GIF":
        return 1 if loop is None else 0 if loop == 0 else int(loop) + 1
    return 0 if loop is None else int(loop)


def as_np(px: Pixels) -> np.ndarray:
    return px if isinstance(px, np.ndarray) else np.asarray(px)


def _read_pages(src: Path, im: Image.Image, n: int, pic: Picture, turned: int) -> None:
    """A still image, or every page of a TIFF; colour-managed to RGB where needed.
    ``turned``: the orientation Pillow applied to the first page (:func:`_load_turned`)."""
    deep: list[np.ndarray] | None = None
    for i in range(n):
        if i:
            im.seek(i)
            turned = _load_turned(im)
        if (im.format == "PNG" and png_is_deep(src)) or (im.format == "TIFF" and tiff_is_deep(im)):
            if deep is None:
                deep = cv2_frames(src)
            # as Pillow turned its own decoding of the page
            pic.frames.append(orient(_deep_page(src, im, deep[i], pic), turned))
            continue
        page: Image.Image = im
        if im.mode in _NON_RGB:
            page, pic.icc = to_srgb(im, pic.icc, pic.notes)
        png_grey_key(src, page)
        pic.frames.append(pil_pixels(page))
    pic.notes[:] = list(dict.fromkeys(pic.notes))
    match_icc(pic)


def _deep_page(src: Path, im: Image.Image, a: np.ndarray, pic: Picture) -> np.ndarray:
    """A page read at full depth (:func:`~dsrn_cli.files.tiff.cv2_frames`) as the pipeline
    takes it: CMYK and CIELab TIFF pages to RGB, OpenCV's BGRA for grey + alpha back to two
    channels, a TIFF's associated alpha divided out of the colour."""
    extra = tag_tuple(im, 338, 0)[0] if im.format == "TIFF" else 0  # 1, 2: (un)associated alpha
    if im.format == "TIFF":
        rgb = colour_page(a, int(im.tag_v2.get(262, 2)), extra, pic)
        if rgb is not None:
            return rgb
    a = pipeline_dtype(a, pic)
    grey_alpha = (im.format == "PNG" and png_colour_type(src) == 4) or (
        im.format == "TIFF" and int(im.tag_v2.get(277, 1)) == 2)  # fmt: skip
    a = _grey_alpha(a) if grey_alpha and a.ndim == 3 and a.shape[2] == 4 else a
    return unassociated(a, extra)


def _read_animation(im: Image.Image, pic: Picture) -> None:
    """Every frame composited onto the canvas (what a viewer shows), as RGB(A)."""
    frames, durations = [], []
    for i in range(getattr(im, "n_frames", 1)):
        im.seek(i)
        _load(im)
        frames.append(np.asarray(im.convert("RGBA")))
        durations.append(float(im.info.get("duration") or 0))
    if all(f[..., 3].min() == 255 for f in frames):
        frames = [np.ascontiguousarray(f[..., :3]) for f in frames]
    pic.frames = frames  # type: ignore[assignment]
    pic.durations = durations
    pic.loop = plays(im.format or "", im.info.get("loop"))
    match_icc(pic)
