"""The Python API: upscale a PIL image or numpy array, or one file to another.

DSRN is a luma model, so colour images go RGB -> YCbCr: the network upscales Y, the
chroma gets MATLAB bicubic (what the SR papers do), and alpha is upscaled bicubic on
its own. Everything stays float until one rounding and clip at the end, so the result
does not depend on how the work was split (tiles, channels, row strips).
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .assemble import assemble, iter_strips
from .backends import (
    Backend,
    BackendError,
    OpenVINOBackend,
    TorchBackend,
    as_backend,
    pick_backend,
    resolve_backend,
)
from .device import pick_device
from .ensemble import ensemble as self_ensemble
from .model import DSRN
from .weights import WeightsError, fetch_weights, load_model, resolve

DEFAULT_MAX_PIXELS = 50_000_000  # input pixels; x4 of that is already 800 MP out
# zlib level for PNG, from speed vs size on DSRN x4 outputs of Set5/Set14 photos (README):
# level 4 encodes 2.3x as fast as Pillow's 6 for files 1.8 % larger (1: 4.4x, +14 %).
DEFAULT_PNG_LEVEL = 4
_ORIENTATION = 0x0112

ImageLike = TypeVar("ImageLike", Image.Image, np.ndarray)

# Pillow format names by file extension, for writing.
FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".ppm": "PPM",
    ".pgm": "PPM",
}


class UpscaleError(Exception):
    """A problem with one input or output file, worded as a one-line message for users."""


@lru_cache(maxsize=8)
def _cached_model(path: str, device: str) -> DSRN:
    return load_model(path, device)


def get_model(
    scale: int,
    model: str | None = None,
    weights: str | Path | None = None,
    device: str | torch.device = "auto",
    backend: str | None = None,
) -> Any:
    """Load (once per path and device) the bundled ``model`` or a ``weights`` file.

    ``backend`` None returns the torch :class:`DSRN`; a backend name ("auto", "torch",
    "openvino", "onnxruntime") returns that :class:`~dsrn_cli.backends.Backend` for it.
    """
    dev = pick_device(device)
    path = fetch_weights(weights) if weights is not None else resolve(scale, model, dev)
    net = _cached_model(str(Path(path).resolve()), str(dev))
    if net.cfg.scale != scale:
        raise WeightsError(f"{path} is an x{net.cfg.scale} model, but x{scale} was asked for")
    return net if backend is None else pick_backend(backend, net, dev)


PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class _Autocast(Backend):
    """A torch backend whose convolutions run in fp16/bf16 (autocast, GPU only); the
    bicubic base and the sum stay fp32, and the SR luma comes back fp32."""

    def __init__(self, inner: Backend, precision: str) -> None:
        super().__init__(inner.cfg)
        self.inner, self.dtype = inner, PRECISIONS[precision]
        self.device, self.default_tile = inner.device, inner.default_tile
        self.name = f"{inner.name} {precision}"

    def residual(self, lr: np.ndarray) -> np.ndarray:
        with torch.autocast(self.device.type, dtype=self.dtype):
            return self.inner.residual(lr)

    def sr(self, lr: np.ndarray) -> np.ndarray:
        with torch.autocast(self.device.type, dtype=self.dtype):
            return self.inner.sr(lr)


def with_precision(backend: Backend, precision: str = "fp32") -> Backend:
    """``backend`` itself for fp32, else one computing in ``precision``: OpenVINO with its
    bf16 hint, torch with autocast (what ``--precision`` offers on a CUDA GPU)."""
    if precision == "fp32":
        return backend
    if isinstance(backend, OpenVINOBackend) and precision == "bf16":
        return backend.bf16()
    if not isinstance(backend, TorchBackend):
        raise BackendError(f"the {backend.name} backend runs fp32 only; use fp32")
    return _Autocast(backend, precision)


def precision_allowed(precision: str, backend: str, device: torch.device) -> bool:
    """What ``--precision`` accepts: any on a CUDA GPU; on a CPU, bf16 with OpenVINO."""
    if precision == "fp32" or device.type == "cuda":
        return True
    return precision == "bf16" and resolve_backend(backend, device) == "openvino"


class _Ensemble(Backend):
    """A backend that runs its inner one on the eight flips/rotations of every tile and
    averages them (8x the time). Per tile is the same as per image: each tile carries
    its receptive-field margin, and flips/rotations map margins onto margins."""

    def __init__(self, inner: Backend) -> None:
        super().__init__(inner.cfg)
        self.inner = inner
        self.device, self.default_tile = inner.device, inner.default_tile
        self.name = f"{inner.name} ensemble"

    def residual(self, lr: np.ndarray) -> np.ndarray:
        return self_ensemble(self.inner.residual, lr)

    def sr(self, lr: np.ndarray) -> np.ndarray:
        return self_ensemble(self.inner.sr, lr)


def with_ensemble(backend: Backend, ensemble: bool = True) -> Backend:
    """``backend`` itself, or one averaging the eight dihedral views of every tile."""
    return _Ensemble(backend) if ensemble else backend


def upscale_array(
    arr: np.ndarray, scale: int, net: Backend | DSRN, tile: int | None = None
) -> np.ndarray:
    """uint8 / uint16 ``H x W``, ``H x W x 2`` (gray+alpha), ``x 3`` or ``x 4`` -> same dtype."""
    _check_array(arr)
    return assemble(net, arr, scale, tile)


def _check_array(arr: np.ndarray) -> None:
    if arr.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"expected a uint8 or uint16 array, got {arr.dtype}")
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 2, 3, 4)):
        raise ValueError(f"expected H x W or H x W x 1..4, got shape {arr.shape}")


def _to_array(img: Image.Image) -> tuple[np.ndarray, str]:
    """A Pillow image as an array the pipeline takes, and the mode to give the result."""
    mode = img.mode
    if mode in ("L", "RGB", "RGBA", "LA"):
        return np.asarray(img), mode
    if mode.startswith("I;16") or mode == "I":
        a = np.asarray(img.convert("I") if mode != "I" else img)
        return np.clip(a, 0, 65535).astype(np.uint16), "I;16" if mode != "I" else "I"
    if mode == "1":
        return np.asarray(img.convert("L")), "L"
    if mode in ("P", "PA"):
        transparent = mode == "PA" or "transparency" in img.info
        target = "RGBA" if transparent else "RGB"
        return np.asarray(img.convert(target)), target
    target = "RGBA" if "A" in mode or "transparency" in img.info else "RGB"
    return np.asarray(img.convert(target)), target


def _from_array(a: np.ndarray, mode: str) -> Image.Image:
    if mode == "I":
        return Image.fromarray(a.astype(np.int32))
    if mode == "I;16":
        return Image.fromarray(a.astype(np.uint16))
    return Image.fromarray(a)


def render(
    arr: np.ndarray, mode: str, scale: int, net: Backend | DSRN, tile: int | None = None
) -> Image.Image:
    """Upscale ``arr`` into a new Pillow image of ``mode``, pasting strip by strip.

    The image is the only full-size buffer: no full-size array is built and copied.
    """
    _check_array(arr)
    h, w = arr.shape[:2]
    out = Image.new(mode, (w * scale, h * scale))
    row = 0
    for strip in iter_strips(net, arr, scale, tile):
        out.paste(_from_array(strip, mode), (0, row))
        row += strip.shape[0]
    return out


def upscale(
    image: ImageLike,
    scale: int,
    model: str | DSRN | Backend | None = None,
    weights: str | Path | None = None,
    device: str | torch.device = "auto",
    tile: int | None = None,
    backend: str = "auto",
    ensemble: bool = False,
) -> ImageLike:
    """Upscale a PIL image or uint8/uint16 array by ``scale``; returns the same type.

    ``model`` is a bundled configuration name ("lite", "paper"; None = best bundled), an
    already loaded :class:`DSRN` (run on its own device) or a ready backend; ``weights``
    a safetensors file instead. ``backend``: auto, torch, openvino or onnxruntime.
    ``ensemble`` averages the eight flips/rotations of the input (8x the time).
    """
    if isinstance(model, Backend):
        net = model
    elif isinstance(model, DSRN):
        net = pick_backend(backend, model)
    else:
        net = get_model(scale, model, weights, device, backend=backend)
    if net.cfg.scale != scale:
        raise WeightsError(f"the model is x{net.cfg.scale}, but x{scale} was asked for")
    net = with_ensemble(net, ensemble)
    if isinstance(image, Image.Image):
        arr, mode = _to_array(image)
        return render(arr, mode, scale, net, tile)
    return upscale_array(np.asarray(image), scale, net, tile)


# --------------------------------------------------------------------------- files


def _open(src: Path, max_pixels: int | None) -> Image.Image:
    """Open, check and decode ``src`` fully, turning every failure into an UpscaleError."""
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
        raise UpscaleError("not an image (or a format Pillow cannot read)") from e
    except Image.DecompressionBombError as e:
        raise UpscaleError(f"refused as a decompression bomb ({e})") from e
    except OSError as e:
        raise UpscaleError(f"cannot read: {e}") from e
    w, h = im.size
    if max_pixels and w * h > max_pixels:
        im.close()
        raise UpscaleError(
            f"{w}x{h} = {w * h:,} pixels exceeds the limit of {max_pixels:,} "
            "(raise --max-pixels if this image is genuine)"
        )
    if getattr(im, "is_animated", False) and getattr(im, "n_frames", 1) > 1:
        im.close()
        raise UpscaleError(f"animated image ({im.n_frames} frames) is not supported")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im.load()
    except (OSError, SyntaxError, ValueError) as e:
        im.close()
        raise UpscaleError(f"truncated or corrupt image ({e})") from e
    return im


# TIFF keeps its layout (size, strips, ICC) in the same IFD Pillow exposes as EXIF;
# copied elsewhere those tags would describe the input, not the output.
_TIFF_LAYOUT = {254, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 280, 281, 284, 317,
                320, 322, 323, 324, 325, 338, 339, 34675}  # fmt: skip


def _exif_of(im: Image.Image) -> Image.Exif:
    exif = im.getexif()
    if im.format == "TIFF":
        for tag in _TIFF_LAYOUT & set(exif):
            del exif[tag]
    return exif


def _fit_mode(img: Image.Image, fmt: str) -> Image.Image:
    """Convert to a mode ``fmt`` can store (JPEG: no alpha, 8 bit; 16 bit: PNG/TIFF only)."""
    mode = img.mode
    if mode in ("I", "I;16") and fmt not in ("PNG", "TIFF"):
        a = np.asarray(img.convert("I"), dtype=np.float64)
        img = Image.fromarray(np.clip(np.floor(a / 257.0 + 0.5), 0, 255).astype(np.uint8))
        mode = "L"
    if fmt == "JPEG" and mode in ("RGBA", "LA"):
        return img.convert("RGB" if mode == "RGBA" else "L")
    if fmt == "PPM" and mode in ("RGBA", "LA"):
        return img.convert("RGB" if mode == "RGBA" else "L")
    if fmt == "BMP" and mode == "LA":
        return img.convert("RGBA")
    return img


def _save_options(
    fmt: str,
    quality: int | None,
    icc: bytes | None,
    exif: bytes | None,
    png_level: int = DEFAULT_PNG_LEVEL,
) -> dict:
    opts: dict[str, Any] = {}
    if fmt in ("JPEG", "WEBP"):
        opts["quality"] = quality if quality is not None else 95
    if fmt == "PNG":
        opts["compress_level"] = png_level
    if icc and fmt in ("PNG", "JPEG", "WEBP", "TIFF"):
        opts["icc_profile"] = icc
    if exif and fmt in ("PNG", "JPEG", "WEBP"):  # TIFF: EXIF is its own IFD, layout tags
        opts["exif"] = exif
    return opts


def _umask() -> int:
    """The process umask. Linux shows it in /proc; elsewhere it can only be read by setting
    it, briefly, to the strictest mask (other threads may be creating files meanwhile)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def write_atomic(img: Image.Image, dst: Path, fmt: str, opts: dict) -> None:
    """Save to a temp file beside ``dst`` and rename it into place: no half-written files.

    mkstemp creates the file 0600; it gets the mode any new file gets under the user's
    umask (0644 under 022) before the rename, or nobody else could read the outputs.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".part")
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            img.save(f, format=fmt, **opts)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class Decoded:
    """One input, decoded and oriented: what the reader stage hands to the device stage."""

    arr: np.ndarray
    mode: str  # Pillow mode of the result
    size: tuple[int, int]  # displayed (oriented) width, height
    icc: bytes | None
    exif: bytes | None  # with the orientation reset to 1


def read_input(src: Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Decoded:
    """Decode ``src`` (EXIF-oriented) into an array; raises UpscaleError for bad files."""
    im = _open(Path(src), max_pixels)
    try:
        icc = im.info.get("icc_profile")
        exif = _exif_of(im)
        oriented = ImageOps.exif_transpose(im) or im
        if _ORIENTATION in exif:
            exif[_ORIENTATION] = 1
        arr, mode = _to_array(oriented)
        return Decoded(arr, mode, oriented.size, icc, exif.tobytes() if len(exif) else None)
    finally:
        im.close()


def write_output(
    img: Image.Image,
    dst: Path,
    fmt: str,
    quality: int | None,
    decoded: Decoded,
    png_level: int = DEFAULT_PNG_LEVEL,
) -> tuple[int, int]:
    """Encode ``img`` as ``fmt`` (keeping the input's ICC/EXIF) and write it atomically."""
    img = _fit_mode(img, fmt)
    opts = _save_options(fmt, quality, decoded.icc, decoded.exif, png_level)
    write_atomic(img, Path(dst), fmt, opts)
    return img.size


def upscale_file(
    src: Path,
    dst: Path,
    scale: int,
    model_obj: DSRN | Backend,
    device: str | torch.device | None = None,
    tile: int | None = None,
    fmt: str | None = None,
    quality: int | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    png_level: int = DEFAULT_PNG_LEVEL,
    backend: str = "auto",
) -> dict[str, Any]:
    """Upscale ``src`` into ``dst``; returns a record. Raises UpscaleError for bad files.

    ``fmt`` is a Pillow format name; None picks it from ``dst``'s extension. ``device`` is
    where ``model_obj`` already lives (kept for symmetry; the model decides). ``model_obj``
    is a :class:`DSRN` (run with ``backend``) or a ready backend.
    """
    t0 = time.perf_counter()
    src, dst = Path(src), Path(dst)
    fmt = fmt or FORMATS.get(dst.suffix.lower())
    if fmt is None:
        raise UpscaleError(f"cannot tell the output format from {dst.name!r}")
    decoded = read_input(src, max_pixels)
    out = render(decoded.arr, decoded.mode, scale, as_backend(model_obj, backend), tile)
    size_out = write_output(out, dst, fmt, quality, decoded, png_level)
    return {
        "input": str(src),
        "output": str(dst),
        "status": "done",
        "error": None,
        "seconds": round(time.perf_counter() - t0, 3),
        "size_in": list(decoded.size),
        "size_out": list(size_out),
    }
