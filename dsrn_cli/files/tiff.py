"""TIFF pages at full depth, where Pillow reads less: which pages need it
(:func:`tiff_is_deep`), every page from tifffile or OpenCV (:func:`cv2_frames`, which also
reads 16-bit colour PNG), made what the pipeline takes (:func:`pipeline_dtype`); a TIFF
Pillow cannot open at all, with its metadata from its tags (:func:`cv2_only`); and the
writer of 16-bit / float / integer TIFF pages with tifffile, EXIF added (:func:`tiff_deep`).
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image

from .exifxmp import ORIENTATION, drop_tiff_layout, exif_resized, orient, xmp_oriented
from .picture import (
    TIFF_LAYOUT_TAGS,
    Picture,
    UpscaleError,
    check_pixels,
    has_alpha,
    partial_alpha,
    peak,
)
from .profiles import match_icc
from .tiffcolour import colour_page, unassociated

TIFF_MAGIC = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")  # classic TIFF, BigTIFF


_FLOAT_EXACT = 2**24  # float32 holds every integer up to this magnitude


def tiff_is_deep(im: Image.Image) -> bool:
    """A TIFF page Pillow would read at less than its depth or range: 16-bit/float colour,
    signed integers, integers wider than 16 bits (Pillow clips, wraps or reinterprets)."""
    bits = max(tag_tuple(im, 258, 8))
    sample_format = max(tag_tuple(im, 339, 1))  # 1 unsigned, 2 signed, 3 float
    samples = int(im.tag_v2.get(277, 1))
    if sample_format == 2 or (sample_format == 1 and bits > 16):
        return True
    return bits > 8 and (samples > 1 or not (im.mode.startswith("I") or im.mode == "F"))


def tag_tuple(im: Image.Image, tag: int, default: int) -> tuple[int, ...]:
    """A TIFF tag's values as a tuple of ints (one value per sample or a single one)."""
    v = im.tag_v2.get(tag, default)
    return tuple(int(x) for x in v) if isinstance(v, tuple) else (int(v),)


def cv2_frames(path: Path) -> list[np.ndarray]:
    """Every page/frame at full depth in its stored sample type, channels in RGB(A) order
    (grey + alpha comes as BGRA from a PNG); :func:`pipeline_dtype` makes them what the
    pipeline takes. TIFF: tifffile first (OpenCV misreads e.g. 16-bit grey + alpha),
    OpenCV where tifffile lacks the codec (LZW, JPEG need the imagecodecs package)."""
    import cv2

    with path.open("rb") as f:
        tiff = f.read(4) in TIFF_MAGIC
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


def pipeline_dtype(a: np.ndarray, pic: Picture) -> np.ndarray:
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
    if has_alpha(out):
        out[..., -1] = np.clip(a[..., -1].astype(np.float64) / peak(a.dtype), 0.0, 1.0)
    return out


def cv2_only(src: Path, max_pixels: int | None) -> Picture:
    """A TIFF Pillow cannot decode (float colour, 16-bit grey + alpha, 32-bit integers,
    ...): the pixels from tifffile or OpenCV, the metadata from its tags
    (:func:`_tiff_metadata`)."""
    try:
        raw = cv2_frames(src)
    except ImportError as e:
        raise UpscaleError("not an image (or a format Pillow cannot read)") from e
    check_pixels((raw[0].shape[1], raw[0].shape[0]), len(raw), max_pixels)
    kind = "pages" if len(raw) > 1 else "still"
    pic = Picture([], "TIFF", True, kind)  # type: ignore[arg-type]
    orientation = _tiff_metadata(src, pic)
    layouts = _tiff_page_layouts(src)
    for i, a in enumerate(raw):
        photometric, extra = layouts[i] if i < len(layouts) else (2, 0)
        rgb = colour_page(a, photometric, extra, pic)
        page = unassociated(pipeline_dtype(a, pic), extra) if rgb is None else rgb
        pic.frames.append(orient(page, orientation))
    match_icc(pic)
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
            drop_tiff_layout(exif)
            orientation = int(exif.get(ORIENTATION, 1) or 1)
            if ORIENTATION in exif:
                exif[ORIENTATION] = 1
            exif.bigtiff = False  # written as classic EXIF (the sub-IFDs are read as they were)
            data = exif.tobytes() if len(exif) else None  # reads the Exif/GPS sub-IFDs
    except Exception as err:  # noqa: BLE001 - any malformed IFD: said, pixels kept
        pic.notes.append(f"the input's TIFF tags could not be read ({err}): its ICC "
                         "profile, EXIF, XMP and DPI not kept")  # fmt: skip
        return 1
    pic.icc = bytes(icc) if isinstance(icc, (bytes, tuple)) and icc else None
    pic.exif, pic.xmp, pic.dpi = data, xmp_oriented(xmp), dpi
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


def tiff_deep(f: IO[bytes], frames: list[np.ndarray], pic: Picture, notes: list[str],
               comment: str | None = None) -> None:  # fmt: skip
    """16-bit / float colour TIFF pages with tifffile (ICC, DPI, XMP, ``comment`` as
    ImageDescription), in the EXIF's byte order, then the EXIF (:func:`_tiff_add_exif`).
    tifffile's own description and software tags are left out: the EXIF's
    ImageDescription and Software are kept."""
    import tifffile

    exif = exif_resized(pic.exif, (frames[0].shape[1], frames[0].shape[0])) if pic.exif else None
    order = ">" if exif is not None and exif.tobytes()[6:8] == b"MM" else "<"
    with tifffile.TiffWriter(f, byteorder=order) as tw:
        for a in frames:
            extra = [(700, 1, len(pic.xmp), pic.xmp, True)] if pic.xmp else []
            photometric = "minisblack" if a.ndim == 2 or a.shape[2] == 2 else "rgb"
            kw: dict[str, Any] = {}
            if has_alpha(a):
                kw["extrasamples"] = ["unassalpha"]
            if pic.dpi:
                kw.update(resolution=pic.dpi, resolutionunit="INCH")
            if comment:
                kw["description"] = comment.encode("utf-8")
            tw.write(a, photometric=photometric, compression="zlib", iccprofile=pic.icc,
                     extratags=extra, metadata=None, software=False, **kw)  # fmt: skip
    if exif is not None:
        _tiff_add_exif(f, exif, notes)


def _tiff_add_exif(f: IO[bytes], exif: Image.Exif, notes: list[str]) -> None:
    """Add ``exif`` to the first page of the classic TIFF in ``f`` (tifffile writes no
    EXIF IFD). Pillow lays the EXIF's IFD, with its Exif and GPS sub-IFDs, out at the end
    of the file; after it goes a new first IFD with the page's entries and the EXIF's
    (the page's first, none of the EXIF's layout tags) and the header points to it. The
    old first IFD stays behind, unused (a few hundred bytes)."""
    f.seek(0)
    head = f.read(8)
    e = "<" if head[:2] == b"II" else ">"
    f.seek(struct.unpack(e + "I", head[4:])[0])
    (n,) = struct.unpack(e + "H", f.read(2))
    page = f.read(12 * n + 4)  # the entries and the next IFD's offset
    size = f.seek(0, os.SEEK_END)
    start = size + size % 2
    ifd = exif.tobytes(start)[14:]  # without "Exif\0\0" and the TIFF header
    (m,) = struct.unpack(e + "H", ifd[:2])
    tags = {t: v for t, v in _ifd_entries(ifd[2 : 2 + 12 * m], e).items()
            if t not in TIFF_LAYOUT_TAGS}  # fmt: skip
    tags.update(_ifd_entries(page[:-4], e))
    new = start + len(ifd) + len(ifd) % 2
    if new + 6 + 12 * len(tags) > 2**32 - 1:
        notes.append("TIFF over 4 GiB: EXIF not kept")
        return
    f.write(b"\0" * (start - size) + ifd + b"\0" * (new - start - len(ifd)))
    f.write(struct.pack(e + "H", len(tags)) + b"".join(tags[t] for t in sorted(tags)) + page[-4:])
    f.seek(4)
    f.write(struct.pack(e + "I", new))


def _ifd_entries(raw: bytes, e: str) -> dict[int, bytes]:
    """A TIFF IFD's 12-byte entries by tag."""
    entries = (raw[i : i + 12] for i in range(0, len(raw), 12))
    return {struct.unpack(e + "H", x[:2])[0]: x for x in entries}
