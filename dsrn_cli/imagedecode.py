"""Decoding: a file into a :class:`~dsrn_cli.picture.Picture` at its own bit depth.

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
"""

from __future__ import annotations

import json
import math
import re
import struct
import sys
import warnings
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageCms, ImageFile, UnidentifiedImageError

from .picture import TIFF_LAYOUT_TAGS, Picture, Pixels, UpscaleError, partial_alpha

_ORIENTATION = 0x0112
ANIMATED_FORMATS = {"GIF", "PNG", "WEBP", "AVIF", "FLI"}  # multi-frame = an animation
PAGED_FORMATS = {"TIFF"}  # multi-frame = pages
# Pillow opens these but reads only the header (MPEG) or needs an outside program.
_HEADER_ONLY = {"MPEG", "EPS", "PDF"}
# What OpenCV reads beyond Pillow (deep colour TIFF/PNG use the same extensions).
_CV2_EXTS = {".tif", ".tiff", ".png"}
_NON_RGB = ("CMYK", "LAB", "YCbCr", "HSV")
_TIFF_MAGIC = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")  # classic TIFF, BigTIFF
_SEPARATED, _CIELAB = 5, 8  # TIFF Photometric values of CMYK and CIELab pages
_FLOAT_EXACT = 2**24  # float32 holds every integer up to this magnitude


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
            if f.read(4) in _TIFF_MAGIC:
                return None
        raise UpscaleError("not an image (or a format Pillow cannot read)") from e
    except Image.DecompressionBombError as e:
        raise UpscaleError(f"refused as a decompression bomb ({e})") from e
    except OSError as e:
        raise UpscaleError(f"cannot read: {e}") from e
    _check_pixels(im.size, _frame_count(im), max_pixels)
    return im


def _check_pixels(size: tuple[int, int], n: int, max_pixels: int | None) -> None:
    w, h = size
    if max_pixels and w * h * n > max_pixels:
        what = f"{w}x{h}" if n == 1 else f"{n} frames of {w}x{h}"
        raise UpscaleError(
            f"{what} = {w * h * n:,} pixels exceeds the limit of {max_pixels:,} "
            "(raise --max-pixels if this image is genuine)"
        )


def _frame_count(im: Image.Image) -> int:
    if im.format in ANIMATED_FORMATS | PAGED_FORMATS:
        return getattr(im, "n_frames", 1)
    return 1  # MPO's second view, PSD layers: the image is the first frame


def _exif_of(im: Image.Image) -> Image.Exif:
    """The EXIF; a TIFF keeps its layout (size, strips, ICC) in the IFD Pillow exposes as
    EXIF, and those tags, copied elsewhere, would describe the input, not the output."""
    exif = im.getexif()
    if im.format == "TIFF":
        _drop_tiff_layout(exif)
    return exif


def _drop_tiff_layout(exif: Image.Exif) -> None:
    """Delete a TIFF's layout tags from its EXIF (they describe the input's strips, not
    the output's), and tifffile's own entries (:func:`_drop_tifffile_tags`)."""
    for tag in TIFF_LAYOUT_TAGS & set(exif):
        del exif[tag]
    _drop_tifffile_tags(exif)


def _drop_tifffile_tags(exif: Image.Exif) -> None:
    """tifffile's own entries in a TIFF it wrote: its ImageDescription of the input
    array's shape (JSON ``{"shape": [...]}`` or ``shape=(...)``: wrong for the larger
    output, and tifffile warns reading a file that carries it) and its default Software
    name. Any other description or software is the file's own, kept."""
    desc = exif.get(0x010E)
    if isinstance(desc, str) and re.match(r"\s*shape=\(", desc):
        del exif[0x010E]
    elif isinstance(desc, str) and desc.lstrip().startswith("{"):
        try:
            meta = json.loads(desc)
        except ValueError:
            meta = None
        if isinstance(meta, dict) and "shape" in meta:
            del exif[0x010E]
    if exif.get(0x0131) == "tifffile.py":
        del exif[0x0131]


def orient(a: np.ndarray, orientation: int) -> np.ndarray:
    """Apply EXIF ``orientation`` (1..8) to an ``H x W [x C]`` array, as
    ``PIL.ImageOps.exif_transpose`` does to an image."""
    ops = {
        2: lambda x: x[:, ::-1],
        3: lambda x: x[::-1, ::-1],
        4: lambda x: x[::-1],
        5: lambda x: x.swapaxes(0, 1),
        6: lambda x: np.rot90(x, -1),
        7: lambda x: np.rot90(x, 2).swapaxes(0, 1),
        8: lambda x: np.rot90(x, 1),
    }
    op = ops.get(orientation)
    return a if op is None else np.ascontiguousarray(op(a))


def icc_space(icc: bytes | None) -> str | None:
    """The colour space an ICC profile declares ("RGB", "GRAY", "CMYK", "Lab", ...)."""
    if not icc or len(icc) < 20:
        return None
    return icc[16:20].decode("latin-1").strip()


@cache
def srgb_profile() -> bytes:
    """littlecms' built-in sRGB profile, for pixels converted to sRGB."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _to_srgb(
    im: Image.Image, icc: bytes | None, notes: list[str]
) -> tuple[Image.Image, bytes | None]:
    """CMYK, Lab, YCbCr, HSV pixels -> RGB: through the ICC profile when there is a usable
    one (then tagged sRGB), else Pillow's plain conversion (no profile). None of these
    Pillow modes has alpha (Lab's "A" band is a*)."""
    if icc:
        try:
            src = ImageCms.ImageCmsProfile(BytesIO(icc))
            rgb = ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"),
                                            outputMode="RGB")  # fmt: skip
            assert rgb is not None
            notes.append(f"{im.mode} converted to sRGB through its ICC profile")
            return rgb, srgb_profile()
        except (ImageCms.PyCMSError, OSError, ValueError):
            notes.append(f"{im.mode} ICC profile unusable: converted to RGB without it")
    elif im.mode == "CMYK":
        notes.append("CMYK without an ICC profile: converted to RGB without colour management")
    if im.mode == "LAB":
        lab = ImageCms.createProfile("LAB")
        rgb = ImageCms.profileToProfile(im, lab, ImageCms.createProfile("sRGB"), outputMode="RGB")
        assert rgb is not None
        return rgb, srgb_profile()
    return im.convert("RGB"), None


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
    peak = np.iinfo(a.dtype).max
    if a.ndim == 3:
        opaque = np.any(a != np.asarray(key, dtype=np.int64), axis=2)
    else:
        opaque = a != key
    alpha = (opaque * peak).astype(a.dtype)
    return np.dstack([a, alpha])


def _png_grey_key(src: Path, im: Image.Image) -> None:
    """Pillow gives a 2- or 4-bit grey PNG's tRNS key as stored (0..3, 0..15) but its
    pixels scaled to 0..255: the key scaled alike."""
    if im.format != "PNG" or im.mode != "L" or not isinstance(im.info.get("transparency"), int):
        return
    with open(src, "rb") as f:
        head = f.read(26)
    depth = head[24]
    if head[25] == 0 and depth in (2, 4):
        im.info["transparency"] *= 255 // (2**depth - 1)


def _png_deep(path: Path) -> bool:
    """A 16-bit PNG other than plain grey (which Pillow reads at full depth)."""
    with open(path, "rb") as f:
        head = f.read(26)
    return len(head) == 26 and head[24] == 16 and head[25] != 0


def _tiff_deep(im: Image.Image) -> bool:
    """A TIFF page Pillow would read at less than its depth or range: 16-bit/float colour,
    signed integers, integers wider than 16 bits (Pillow clips, wraps or reinterprets)."""
    bits = max(_tag_tuple(im, 258, 8))
    sample_format = max(_tag_tuple(im, 339, 1))  # 1 unsigned, 2 signed, 3 float
    samples = int(im.tag_v2.get(277, 1))
    if sample_format == 2 or (sample_format == 1 and bits > 16):
        return True
    return bits > 8 and (samples > 1 or not (im.mode.startswith("I") or im.mode == "F"))


def _tag_tuple(im: Image.Image, tag: int, default: int) -> tuple[int, ...]:
    """A TIFF tag's values as a tuple of ints (one value per sample or a single one)."""
    v = im.tag_v2.get(tag, default)
    return tuple(int(x) for x in v) if isinstance(v, tuple) else (int(v),)


def _cv2_frames(path: Path) -> list[np.ndarray]:
    """Every page/frame at full depth in its stored sample type, channels in RGB(A) order
    (grey + alpha comes as BGRA from a PNG); :func:`_pipeline_dtype` makes them what the
    pipeline takes. TIFF: tifffile first (OpenCV misreads e.g. 16-bit grey + alpha),
    OpenCV where tifffile lacks the codec (LZW, JPEG need the imagecodecs package)."""
    import cv2

    with path.open("rb") as f:
        tiff = f.read(4) in _TIFF_MAGIC
    if tiff:
        try:
            return _tifffile_pages(path)
        except Exception:  # noqa: BLE001 - no codec, or a layout tifffile refuses
            pass
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    buf = np.fromfile(path, np.uint8)
    try:
        ok, pages = cv2.imdecodemulti(buf, cv2.IMREAD_UNCHANGED)
    except cv2.error:
        ok, pages = False, []
    if not ok or not pages:
        raise UpscaleError("truncated or corrupt image (cannot decode it at full depth)")
    out = []
    for a in pages:
        if a.ndim == 3 and a.shape[2] == 3:
            a = a[:, :, ::-1]
        elif a.ndim == 3 and a.shape[2] == 4:
            a = a[:, :, [2, 1, 0, 3]]
        out.append(a)
    return out


def _tifffile_pages(path: Path) -> list[np.ndarray]:
    """Every TIFF page as ``H x W [x C]`` (planar pages moved to channels last)."""
    import tifffile

    out = []
    with tifffile.TiffFile(path) as tf:
        for page in tf.pages:
            a = page.asarray()
            if a.ndim == 3 and page.planarconfig == 2 and a.shape[0] == page.samplesperpixel:
                a = np.moveaxis(a, 0, -1)
            out.append(a)
    return out


def _pipeline_dtype(a: np.ndarray, pic: Picture) -> np.ndarray:
    """uint8, uint16 or float32 (what the pipeline takes), at most 4 channels; every
    change that is not exact is noted in ``pic.notes``. Integers other than uint8/uint16
    (signed, 32-bit) and float64 become float32 with their values (as a float input is
    upscaled); for integers ``pic.source_dtype`` names their type, and an alpha sample
    (2 or 4 samples) is put on 0..1 of the type's maximum."""
    notes = pic.notes
    if a.ndim == 3 and a.shape[2] > 4:
        notes.append(f"{a.shape[2]} samples per pixel: only the first 4 kept")
        a = a[..., :4]
    if a.dtype == bool:
        return np.ascontiguousarray(a, dtype=np.uint8) * np.uint8(255)
    if a.dtype in (np.uint8, np.uint16, np.float32):
        return np.ascontiguousarray(a)
    bits = a.dtype.itemsize * 8
    if a.dtype.kind == "f":
        if bits > 32:
            notes.append(f"{bits}-bit float samples upscaled as 32-bit float")
        return np.ascontiguousarray(a, dtype=np.float32)
    signed = "signed " if a.dtype.kind == "i" else ""
    rounded = a.size and max(int(a.max()), -int(a.min())) > _FLOAT_EXACT
    notes.append(f"{bits}-bit {signed}integer samples upscaled as 32-bit float (values kept"
                 + (f", rounded beyond ±{_FLOAT_EXACT:,}" if rounded else "") + ")")  # fmt: skip
    pic.source_dtype = a.dtype.name
    out = np.ascontiguousarray(a, dtype=np.float32)
    if out.ndim == 3 and out.shape[2] in (2, 4):
        peak = float(np.iinfo(a.dtype).max)
        out[..., -1] = np.clip(a[..., -1].astype(np.float64) / peak, 0.0, 1.0)
    return out


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


def _png_colour_chunks(im: Image.Image, pic: Picture) -> None:
    """A PNG's gAMA, sRGB and cHRM chunks (Pillow's info "gamma", "srgb", "chromaticity")."""
    if im.format != "PNG":
        return
    gamma, srgb, chrm = (im.info.get(k) for k in ("gamma", "srgb", "chromaticity"))
    pic.gamma = float(gamma) if gamma else None
    pic.srgb = int(srgb) if srgb is not None else None
    pic.chromaticity = tuple(float(v) for v in chrm) if chrm and len(chrm) == 8 else None


def _xmp_of(im: Image.Image) -> bytes | None:
    xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
    if xmp is None and im.format == "TIFF":
        xmp = im.tag_v2.get(700)
    return _xmp_oriented(xmp)


def _xmp_oriented(xmp: bytes | str | tuple[int, ...] | None) -> bytes | None:
    """The XMP as bytes, its tiff:Orientation reset to 1 (the pixels get oriented)."""
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    elif isinstance(xmp, tuple):  # a TIFF BYTE tag, as some Pillow versions give it
        xmp = bytes(xmp)
    if not xmp:
        return None
    xmp = re.sub(rb'(tiff:Orientation=")\d(")', rb"\g<1>1\2", xmp)
    return re.sub(rb"(<tiff:Orientation>)\d(</tiff:Orientation>)", rb"\g<1>1\2", xmp)


def _dpi_of(im: Image.Image) -> tuple[float, float] | None:
    if im.format == "TIFF" and 282 not in im.tag_v2:
        return None  # Pillow reports (1, 1) dpi for a TIFF without a resolution
    dpi = im.info.get("dpi")
    if isinstance(dpi, tuple) and len(dpi) == 2 and all(float(v) > 0 for v in dpi):
        return float(dpi[0]), float(dpi[1])
    return None


def _webp_lossless(path: Path) -> bool:
    data = path.read_bytes()
    return b"VP8L" in data and b"VP8 " not in data


def _webp_canvas_alpha(src: Path, im: Image.Image) -> Image.Image:
    """An animated WebP whose header says "no alpha" may still be transparent: libwebp's
    animation encoder crops each frame to its changed or opaque part, leaves the rest of
    the canvas transparent, and sets the header's alpha flag only for frames with alpha
    of their own (Pillow writes binary transparency so). Pillow trusts the flag and shows
    that canvas black; reopened with the flag set, the frames come with their alpha
    (all opaque: dropped again by :func:`_read_animation`)."""
    with open(src, "rb") as f:
        head = f.read(21)
    if head[12:16] != b"VP8X" or not head[20] & 0x02:  # not an animation
        return im
    data = bytearray(src.read_bytes())
    data[20] |= 0x10
    im.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(BytesIO(bytes(data)))


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
    before = int(im.tag_v2.get(_ORIENTATION, 1) or 1) if im.format == "TIFF" else 1
    _load(im)
    return before if before != 1 and _ORIENTATION not in im.tag_v2 else 1


def _cv2_only(src: Path, max_pixels: int | None) -> Picture:
    """A TIFF Pillow cannot decode (float colour, 16-bit grey + alpha, 32-bit integers,
    ...): the pixels from tifffile or OpenCV, the metadata from its tags
    (:func:`_tiff_metadata`)."""
    try:
        raw = _cv2_frames(src)
    except ImportError as e:
        raise UpscaleError("not an image (or a format Pillow cannot read)") from e
    _check_pixels((raw[0].shape[1], raw[0].shape[0]), len(raw), max_pixels)
    kind = "pages" if len(raw) > 1 else "still"
    pic = Picture([], "TIFF", True, kind)  # type: ignore[arg-type]
    orientation = _tiff_metadata(src, pic)
    layouts = _tiff_page_layouts(src)
    for i, a in enumerate(raw):
        photometric, extra = layouts[i] if i < len(layouts) else (2, 0)
        rgb = _colour_page(a, photometric, extra, pic)
        page = _unassociated(_pipeline_dtype(a, pic), extra) if rgb is None else rgb
        pic.frames.append(orient(page, orientation))
    _match_icc(pic)
    pic.partial_alpha = any(partial_alpha(f) for f in pic.frames)
    pic.notes[:] = list(dict.fromkeys(pic.notes))
    return pic


def _tiff_metadata(src: Path, pic: Picture) -> int:
    """Fill ``pic``'s ICC, EXIF, XMP and DPI from the first IFD of a TIFF whose pixels
    Pillow cannot decode: Pillow reads those tags all the same (``Image.Exif`` over the
    file, as ``getexif`` does for the TIFFs it opens), so they are kept as from any TIFF.
    Returns the EXIF orientation (reset to 1 in the EXIF kept); a note if the tags
    cannot be read."""
    try:
        with open(src, "rb") as f:
            head = f.read(16)
            e = "<" if head[:2] == b"II" else ">"
            exif = Image.Exif()
            if struct.unpack(e + "H", head[2:4])[0] == 43:  # BigTIFF: 8-byte offsets
                exif.bigtiff, exif.endian = True, e
                exif.load_from_fp(f, struct.unpack(e + "Q", head[8:16])[0])
            else:
                f.seek(0)
                exif.load_from_fp(f)
            icc, xmp = exif.get(34675), exif.get(700)
            dpi = _tiff_dpi(exif.get(282), exif.get(283), exif.get(296))
            _drop_tiff_layout(exif)
            orientation = int(exif.get(_ORIENTATION, 1) or 1)
            if _ORIENTATION in exif:
                exif[_ORIENTATION] = 1
            exif.bigtiff = False  # written as classic EXIF (the sub-IFDs are read as they were)
            data = exif.tobytes() if len(exif) else None  # reads the Exif/GPS sub-IFDs
    except Exception as err:  # noqa: BLE001 - any malformed IFD: said, pixels kept
        pic.notes.append(f"the input's TIFF tags could not be read ({err}): its ICC "
                         "profile, EXIF, XMP and DPI not kept")  # fmt: skip
        return 1
    pic.icc = bytes(icc) if isinstance(icc, (bytes, tuple)) and icc else None
    pic.exif, pic.xmp, pic.dpi = data, _xmp_oriented(xmp), dpi
    return orientation


def _tiff_dpi(x: Any, y: Any, unit: Any) -> tuple[float, float] | None:
    """Dots per inch from TIFF XResolution, YResolution, ResolutionUnit, read as Pillow
    does: unit 2 or none inch, 3 centimetre, 1 (no absolute unit) no DPI."""
    if x is None or y is None or unit not in (None, 2, 3):
        return None
    per_inch = 2.54 if unit == 3 else 1.0
    try:
        dpi = (float(x) * per_inch, float(y) * per_inch)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return dpi if all(math.isfinite(v) and v > 0 for v in dpi) else None


def _bmp_alpha_layout(
    src: Path,
) -> tuple[int, int, int, int, tuple[int, int], tuple[int, ...]] | None:
    """(pixel offset, width, height, bits, ppm x and y, R/G/B/A masks) of a BMP whose
    header declares alpha: 16 or 32 bits per pixel in BI_BITFIELDS (3) or
    BI_ALPHABITFIELDS (6) with an alpha mask. None for anything else (not a BMP, no
    alpha, an OS/2 header, a file that cannot be opened: Pillow reads or refuses it)."""
    try:
        with open(src, "rb") as f:
            head = f.read(14 + 56)
    except OSError:
        return None
    if len(head) < 14 + 40 or head[:2] != b"BM":
        return None
    (offset,) = struct.unpack_from("<I", head, 10)
    size, w, h, _, bits, comp, _, ppm_x, ppm_y = struct.unpack_from("<IiiHHIIii", head, 14)
    if size not in (40, 52, 56, 108, 124) or bits not in (16, 32) or comp not in (3, 6):
        return None
    if size >= 56:  # the masks are in the header (V3 and later)
        masks = struct.unpack_from("<4I", head, 14 + 40)
    elif size == 40 and comp == 6:  # after the header: R, G, B, A
        masks = struct.unpack_from("<4I", head, 14 + 40) if len(head) >= 70 else (0,) * 4
    else:  # three masks, no alpha
        return None
    if not masks[3] or w <= 0 or h == 0:
        return None
    return offset, w, h, bits, (ppm_x, ppm_y), masks


def _bmp_with_alpha(src: Path, max_pixels: int | None) -> Picture | None:
    """A BMP whose header declares alpha (:func:`_bmp_alpha_layout`), read with its alpha.

    Pillow reads 32-bit B, G, R, A bytes so, but reads 16-bit A1R5G5B5 without its alpha
    and refuses A4R4G4B4, 10-bit channels and BI_ALPHABITFIELDS; OpenCV likewise. Every
    mask is decoded here the same way: each channel is ``(pixel & mask) >> shift``, scaled
    from its bits to 8 (16 where a mask is wider than 8 bits), rounding half up. Rows are
    ``bits * W`` rounded up to 4 bytes, bottom row first unless the height is negative."""
    layout = _bmp_alpha_layout(src)
    if layout is None:
        return None
    offset, w, h, bits, ppm, masks = layout
    fields = []
    for m in masks:
        shift = (m & -m).bit_length() - 1 if m else 0
        width = (m >> shift).bit_length()
        if m and (m >> shift) != (1 << width) - 1:
            return None  # not one run of bits: leave it to Pillow
        fields.append((m, shift, width))
    _check_pixels((w, abs(h)), 1, max_pixels)
    stride = (bits * w + 31) // 32 * 4
    with open(src, "rb") as f:
        f.seek(offset)
        data = f.read(stride * abs(h))
    if len(data) < stride * abs(h):
        raise UpscaleError("truncated or corrupt image (BMP pixels end early)")
    words = np.frombuffer(data, "<u2" if bits == 16 else "<u4").reshape(abs(h), -1)[:, :w]
    if h > 0:
        words = words[::-1]
    deep = max(width for _, _, width in fields) > 8
    peak = 65535 if deep else 255
    out = np.zeros((abs(h), w, 4), np.uint16 if deep else np.uint8)
    for c, (m, shift, width) in enumerate(fields):
        if m:
            top = (1 << width) - 1
            v = (words.astype(np.uint64) & m) >> shift
            out[..., c] = (v * (2 * peak) + top) // (2 * top)
    dpi = tuple(p / 39.3701 for p in ppm) if min(ppm) > 0 else None  # as Pillow reads it
    return Picture([out], "BMP", True, "still", dpi=dpi,  # type: ignore[arg-type]
                   partial_alpha=partial_alpha(out))  # fmt: skip


def read(src: str | Path, max_pixels: int | None = None) -> Picture:
    """Decode ``src`` (every frame or page, EXIF-oriented) into a :class:`Picture`.

    Raises UpscaleError (one line for users) for anything that is not a readable image,
    or holds more than ``max_pixels`` pixels over all its frames.
    """
    src = Path(src)
    bmp = _bmp_with_alpha(src, max_pixels)
    if bmp is not None:
        return bmp
    im = _open(src, max_pixels)
    if im is None:
        return _cv2_only(src, max_pixels)
    if im.format == "WEBP" and im.mode == "RGB":
        im = _webp_canvas_alpha(src, im)
    notes: list[str] = []
    try:
        n = _frame_count(im)
        fmt = im.format or ""
        kind = "still" if n == 1 else "pages" if fmt in PAGED_FORMATS else "animation"
        turned = _load_turned(im)
        icc = im.info.get("icc_profile") or None
        exif = _exif_of(im)
        orientation = int(exif.get(_ORIENTATION, 1) or 1)
        if _ORIENTATION in exif:
            exif[_ORIENTATION] = 1
        pic = Picture([], fmt, fmt != "JPEG", kind, icc=icc,  # type: ignore[arg-type]
                      exif=exif.tobytes() if len(exif) else None, xmp=_xmp_of(im),
                      dpi=_dpi_of(im), text=_text_of(im), notes=notes)  # fmt: skip
        if fmt == "WEBP":
            pic.lossless = _webp_lossless(src)
        _png_colour_chunks(im, pic)
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
        if (im.format == "PNG" and _png_deep(src)) or (im.format == "TIFF" and _tiff_deep(im)):
            if deep is None:
                deep = _cv2_frames(src)
            # as Pillow turned its own decoding of the page
            pic.frames.append(orient(_deep_page(src, im, deep[i], pic), turned))
            continue
        page: Image.Image = im
        if im.mode in _NON_RGB:
            page, pic.icc = _to_srgb(im, pic.icc, pic.notes)
        _png_grey_key(src, page)
        pic.frames.append(pil_pixels(page))
    pic.notes[:] = list(dict.fromkeys(pic.notes))
    _match_icc(pic)


def _deep_page(src: Path, im: Image.Image, a: np.ndarray, pic: Picture) -> np.ndarray:
    """A page read at full depth (:func:`_cv2_frames`) as the pipeline takes it: CMYK and
    CIELab TIFF pages to RGB, OpenCV's BGRA for grey + alpha back to two channels, a TIFF's
    associated alpha divided out of the colour."""
    extra = _tag_tuple(im, 338, 0)[0] if im.format == "TIFF" else 0  # 1, 2: (un)associated alpha
    if im.format == "TIFF":
        rgb = _colour_page(a, int(im.tag_v2.get(262, 2)), extra, pic)
        if rgb is not None:
            return rgb
    a = _pipeline_dtype(a, pic)
    grey_alpha = (im.format == "PNG" and _png_colour_type(src) == 4) or (
        im.format == "TIFF" and int(im.tag_v2.get(277, 1)) == 2)  # fmt: skip
    a = _grey_alpha(a) if grey_alpha and a.ndim == 3 and a.shape[2] == 4 else a
    return _unassociated(a, extra)


def _colour_page(a: np.ndarray, photometric: int, extra: int, pic: Picture) -> np.ndarray | None:
    """A CMYK or CIELab TIFF page that Pillow does not decode (deeper than 8 bits, or with
    alpha) as RGB(A); None for any other page. ``photometric``: the page's TIFF
    Photometric; ``extra``: its first ExtraSamples value (1 associated alpha, 2
    unassociated alpha, else not alpha). Associated alpha's colour is divided by it
    first; the alpha is kept at its depth; further extra samples are dropped, said."""
    channels = 1 if a.ndim == 2 else a.shape[2]
    if photometric == _SEPARATED and channels >= 4:
        inks, name = 4, "CMYK"
    elif photometric == _CIELAB and channels >= 3 and a.dtype in (np.uint8, np.uint16):
        inks, name = 3, "Lab"
    else:
        return None
    alpha = a[..., inks] if extra in (1, 2) and channels > inks else None
    kept = inks + (alpha is not None)
    if channels > kept:
        pic.notes.append(f"{name} with {channels - inks} extra samples: "
                         f"{'only the alpha' if alpha is not None else 'none'} kept")  # fmt: skip
    over = None if alpha is None or extra != 1 else _unit(alpha)  # premultiplied by this
    if name == "CMYK":
        return _deep_cmyk(a[..., :4], alpha, over, pic)
    return _deep_lab(a[..., :3], alpha, over, pic)


def _tiff_page_layouts(path: Path) -> list[tuple[int, int]]:
    """(Photometric, first ExtraSamples value or 0) of every TIFF page, from tifffile's
    reading of the tags (no codec needed); empty if tifffile cannot parse it."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tf:
            return [(int(page.photometric), int(page.extrasamples[0])
                     if len(page.extrasamples) else 0) for page in tf.pages]  # fmt: skip
    except Exception:  # noqa: BLE001 - any file tifffile refuses: no layout known
        return []


def _unit(a: np.ndarray) -> np.ndarray:
    """Samples as float64 on 0..1 (integers by their type's full scale; floats as they are)."""
    if a.dtype.kind == "f":
        return a.astype(np.float64)
    return a.astype(np.float64) / float(np.iinfo(a.dtype).max)


def _unpremultiply(x: np.ndarray, over: np.ndarray | None) -> np.ndarray:
    """Colour ``x`` (float, ``H x W x C``) divided by associated alpha ``over`` (0..1;
    None: unassociated, ``x`` as it is); 0 where the alpha is 0."""
    if over is None:
        return x
    a = over[..., None]
    return np.divide(x, a, out=np.zeros_like(x), where=a > 0)


def _at_depth(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """0..1 samples at ``dtype``: float32 for float, else that integer's full scale,
    rounded half up."""
    if dtype.kind == "f":
        return x.astype(np.float32)
    top = np.iinfo(dtype).max
    return np.floor(np.clip(x, 0, 1) * top + 0.5).astype(dtype)


def _unassociated(a: np.ndarray, extra: int) -> np.ndarray:
    """A grey + alpha or RGBA page whose alpha is associated (TIFF ExtraSamples 1: colour
    premultiplied by it) with the colour divided by it, at its depth, as Pillow reads
    8-bit "RGBa"; any other page as it is."""
    if extra != 1 or a.ndim != 3 or a.shape[2] not in (2, 4):
        return a
    x = _unit(a)
    return _at_depth(np.dstack([_unpremultiply(x[..., :-1], x[..., -1]), x[..., -1]]), a.dtype)


def _rgb8_with_alpha(rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """8-bit RGB from littlecms with the page's alpha kept at its depth: RGB scaled to the
    alpha's sample type (uint16 x 257, float / 255); 8-bit RGB alone if no alpha."""
    if alpha is None:
        return rgb
    if alpha.dtype == np.uint8:
        return np.dstack([rgb, alpha])
    return np.dstack([_at_depth(rgb / 255.0, alpha.dtype), _at_depth(_unit(alpha), alpha.dtype)])


def _deep_cmyk(
    a: np.ndarray, alpha: np.ndarray | None, over: np.ndarray | None, pic: Picture
) -> np.ndarray:
    """CMYK inks ``a`` (8-bit, 16-bit, float) with its ``alpha`` plane (or None) to RGB(A);
    ``over``: the associated alpha the inks are premultiplied by (:func:`_unpremultiply`).
    With an ICC profile: through it at 8 bits (``PIL.ImageCms`` converts 8-bit CMYK only;
    said for deeper inks). Without one: the plain formula Pillow uses at 8 bits, each of
    R, G, B = (1 - C|M|Y) x (1 - K), at the input's depth (float32 for float)."""
    x = _unpremultiply(_unit(a), over)
    if pic.icc:
        u8 = _at_depth(x, np.dtype(np.uint8))
        cmyk = Image.frombytes("CMYK", (a.shape[1], a.shape[0]), u8.tobytes())
        rgb, pic.icc = _to_srgb(cmyk, pic.icc, pic.notes)
        if a.dtype != np.uint8:
            pic.notes.append(f"{a.dtype.itemsize * 8}-bit CMYK converted to RGB at 8 bits "
                             "(littlecms in Pillow converts 8-bit CMYK only)")  # fmt: skip
        return _rgb8_with_alpha(np.asarray(rgb), alpha)
    pic.notes.append("CMYK without an ICC profile: converted to RGB without colour management")
    rgb = (1 - x[..., :3]) * (1 - x[..., 3:4])
    out = rgb if alpha is None else np.dstack([rgb, _unit(alpha)])
    return _at_depth(out, a.dtype)


def _deep_lab(
    a: np.ndarray, alpha: np.ndarray | None, over: np.ndarray | None, pic: Picture
) -> np.ndarray:
    """CIELab (TIFF: L* on the type's full scale for 0..100; a*, b* signed, 256 per unit
    at 16 bits) with its ``alpha`` plane (or None) to sRGB(A) through littlecms at 8 bits
    (Pillow's Lab mode is 8-bit; its raw "LAB" bytes are 8-bit CIELab TIFF's: a*, b*
    signed), said for 16-bit; ``over``: the associated alpha it is premultiplied by."""
    deep = a.dtype == np.uint16
    signed = a[..., 1:3].view(np.int16 if deep else np.int8).astype(np.float64)
    lab = np.dstack([a[..., 0] / (257.0 if deep else 1.0), signed / (256.0 if deep else 1.0)])
    lab = np.floor(_unpremultiply(lab, over) + 0.5)
    u8 = np.empty(a.shape[:2] + (3,), np.uint8)
    u8[..., 0] = np.clip(lab[..., 0], 0, 255).astype(np.uint8)
    u8[..., 1:] = np.clip(lab[..., 1:], -128, 127).astype(np.int8).view(np.uint8)
    im = Image.frombytes("LAB", (a.shape[1], a.shape[0]), u8.tobytes())
    rgb, pic.icc = _to_srgb(im, pic.icc, pic.notes)
    if deep:
        pic.notes.append("16-bit Lab converted to RGB at 8 bits (littlecms in Pillow "
                         "converts 8-bit Lab only)")  # fmt: skip
    return _rgb8_with_alpha(np.asarray(rgb), alpha)


def _match_icc(pic: Picture) -> None:
    """Drop a profile whose colour space is not the pixels' (grey or RGB)."""
    if not pic.icc:
        return
    a = pic.frames[0]
    want = "GRAY" if (a.ndim == 2 or a.shape[2] == 2) else "RGB"
    if icc_space(pic.icc) != want:
        pic.notes.append(
            f"the input's ICC profile is {icc_space(pic.icc)}, the pixels "
            f"{'grey' if want == 'GRAY' else 'RGB'}: profile not kept"
        )
        pic.icc = None


def _png_colour_type(src: Path) -> int:
    with open(src, "rb") as f:
        return f.read(26)[25]


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
    _match_icc(pic)
