"""Decoding: a file into a :class:`~dsrn_cli.picture.Picture` at its own bit depth.

Pillow opens every file and reads its metadata (ICC, EXIF, XMP, DPI, PNG text, frames,
durations) and the pixels it holds at full depth (8-bit, 16-bit grey, float grey).
Pillow reduces 16-bit colour PNG/TIFF to 8 bits and cannot open float colour TIFF, so
those pixels come from OpenCV (PNG; ``cv2.imdecodemulti``) and tifffile (TIFF; OpenCV
where tifffile lacks the codec), which keep them as uint16 / float32 (measured against
imageio: README, "What is kept").
CMYK and other non-RGB pixels are converted to sRGB through their ICC profile with
littlecms (``PIL.ImageCms``).
"""

from __future__ import annotations

import re
import sys
import warnings
from functools import cache
from io import BytesIO
from pathlib import Path

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
            if f.read(4) in (b"II*\0", b"MM\0*"):
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
        for tag in TIFF_LAYOUT_TAGS & set(exif):
            del exif[tag]
    return exif


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
    one (then tagged sRGB), else Pillow's plain conversion (no profile)."""
    alpha = im.getchannel("A") if "A" in im.getbands() else None
    if icc:
        try:
            src = ImageCms.ImageCmsProfile(BytesIO(icc))
            rgb = ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"),
                                            outputMode="RGB")  # fmt: skip
            assert rgb is not None
            notes.append(f"{im.mode} converted to sRGB through its ICC profile")
            return _with_alpha(rgb, alpha), srgb_profile()
        except (ImageCms.PyCMSError, OSError, ValueError):
            notes.append(f"{im.mode} ICC profile unusable: converted to RGB without it")
    elif im.mode == "CMYK":
        notes.append("CMYK without an ICC profile: converted to RGB without colour management")
    if im.mode == "LAB":
        lab = ImageCms.createProfile("LAB")
        rgb = ImageCms.profileToProfile(im, lab, ImageCms.createProfile("sRGB"), outputMode="RGB")
        assert rgb is not None
        return _with_alpha(rgb, alpha), srgb_profile()
    return _with_alpha(im.convert("RGB"), alpha), None


def _with_alpha(rgb: Image.Image, alpha: Image.Image | None) -> Image.Image:
    if alpha is None:
        return rgb
    rgb.putalpha(alpha)
    return rgb


def pil_pixels(im: Image.Image) -> np.ndarray:
    """A decoded Pillow frame of an RGB/grey family mode as an array at its depth."""
    mode = im.mode
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


def _png_deep(path: Path) -> bool:
    """A 16-bit PNG other than plain grey (which Pillow reads at full depth)."""
    with open(path, "rb") as f:
        head = f.read(26)
    return len(head) == 26 and head[24] == 16 and head[25] != 0


def _tiff_deep(im: Image.Image) -> bool:
    """A TIFF page Pillow would read at less than its depth (16-bit/float colour)."""
    bits = im.tag_v2.get(258, (8,))
    bits = bits if isinstance(bits, tuple) else (bits,)
    samples = int(im.tag_v2.get(277, 1))
    return max(bits) > 8 and (samples > 1 or not (im.mode.startswith("I") or im.mode == "F"))


def _cv2_frames(path: Path) -> list[np.ndarray]:
    """Every page/frame at full depth, channels in RGB(A) order (grey + alpha comes as
    BGRA from a PNG). TIFF: tifffile first (OpenCV misreads e.g. 16-bit grey + alpha),
    OpenCV where tifffile lacks the codec (LZW, JPEG need the imagecodecs package)."""
    import cv2

    tiff = path.open("rb").read(4) in (b"II*\0", b"MM\0*")
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
        out.append(_pipeline_dtype(a))
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
            out.append(_pipeline_dtype(a))
    return out


def _pipeline_dtype(a: np.ndarray) -> np.ndarray:
    """uint8, uint16 or float32 (what the pipeline takes), at most 4 channels."""
    if a.ndim == 3 and a.shape[2] > 4:
        a = a[..., :4]
    if a.dtype.kind == "f":
        return np.ascontiguousarray(a, dtype=np.float32)
    if a.dtype == bool:
        return np.ascontiguousarray(a, dtype=np.uint8) * np.uint8(255)
    if a.dtype not in (np.uint8, np.uint16):
        return np.clip(a, 0, 65535).astype(np.uint16)
    return np.ascontiguousarray(a)


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
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
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


def _cv2_only(src: Path, max_pixels: int | None) -> Picture:
    """A TIFF Pillow cannot open (float or other deep colour): pixels only."""
    try:
        frames = _cv2_frames(src)
    except ImportError as e:
        raise UpscaleError("not an image (or a format Pillow cannot read)") from e
    _check_pixels((frames[0].shape[1], frames[0].shape[0]), len(frames), max_pixels)
    kind = "pages" if len(frames) > 1 else "still"
    soft = any(partial_alpha(f) for f in frames)
    return Picture(frames, "TIFF", True, kind, partial_alpha=soft)  # type: ignore[arg-type]


def read(src: str | Path, max_pixels: int | None = None) -> Picture:
    """Decode ``src`` (every frame or page, EXIF-oriented) into a :class:`Picture`.

    Raises UpscaleError (one line for users) for anything that is not a readable image,
    or holds more than ``max_pixels`` pixels over all its frames.
    """
    src = Path(src)
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
        _load(im)
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
            _read_pages(src, im, n, pic)
        pic.frames = [orient(as_np(f), orientation) for f in pic.frames]
        pic.partial_alpha = any(partial_alpha(f) for f in pic.frames)
        return pic
    finally:
        im.close()


def as_np(px: Pixels) -> np.ndarray:
    return px if isinstance(px, np.ndarray) else np.asarray(px)


def _read_pages(src: Path, im: Image.Image, n: int, pic: Picture) -> None:
    """A still image, or every page of a TIFF; colour-managed to RGB where needed."""
    deep: list[np.ndarray] | None = None
    for i in range(n):
        if i:
            im.seek(i)
            _load(im)
        if (im.format == "PNG" and _png_deep(src)) or (im.format == "TIFF" and _tiff_deep(im)):
            if deep is None:
                deep = _cv2_frames(src)
            a = deep[i]
            grey_alpha = (im.format == "PNG" and _png_colour_type(src) == 4) or (
                im.format == "TIFF" and int(im.tag_v2.get(277, 1)) == 2)  # fmt: skip
            pic.frames.append(_grey_alpha(a) if grey_alpha and a.ndim == 3 and a.shape[2] == 4
                              else a)  # fmt: skip
            continue
        page: Image.Image = im
        if im.mode in _NON_RGB:
            page, pic.icc = _to_srgb(im, pic.icc, pic.notes)
        pic.frames.append(pil_pixels(page))
    _match_icc(pic)


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
    pic.loop = im.info.get("loop")
    _match_icc(pic)
