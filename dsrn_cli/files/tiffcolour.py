"""CMYK and CIELab TIFF pages that Pillow does not decode (deeper than 8 bits, or with
alpha) as RGB(A) (:func:`colour_page`), and a TIFF's associated alpha divided out of the
colour at full depth (:func:`unassociated`).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .picture import Picture, has_alpha, peak, quantize
from .profiles import to_srgb

_SEPARATED, _CIELAB = 5, 8  # TIFF Photometric values of CMYK and CIELab pages


def colour_page(a: np.ndarray, photometric: int, extra: int, pic: Picture) -> np.ndarray | None:
    """A CMYK or CIELab TIFF page that Pillow does not decode (deeper than 8 bits, or with
    alpha) as RGB(A); None for any other page. ``photometric``: the page's TIFF
    Photometric; ``extra``: its first ExtraSamples value (1 associated alpha, 2
    unassociated alpha, else not alpha). Associated alpha's colour is divided by it
    first; the alpha is kept at its depth; further extra samples are dropped, said."""
    channels = 1 if a.ndim == 2 else a.shape[2]
    if photometric == _SEPARATED and channels >= 4:
        inks, name = 4, "CMYK"
    elif photometric == _CIELAB and channels >= 3 and (a.dtype in (np.uint8, np.uint16)
                                                       or a.dtype.kind == "f"):  # fmt: skip
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


def _unit(a: np.ndarray) -> np.ndarray:
    """Samples as float64 on 0..1 (integers by their type's full scale; floats as they are)."""
    return a.astype(np.float64) / peak(a.dtype)


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
    return quantize(np.clip(x, 0, 1) * peak(dtype), dtype)


def unassociated(a: np.ndarray, extra: int) -> np.ndarray:
    """A grey + alpha or RGBA page whose alpha is associated (TIFF ExtraSamples 1: colour
    premultiplied by it) with the colour divided by it, at its depth, as Pillow reads
    8-bit "RGBa"; any other page as it is."""
    if extra != 1 or not has_alpha(a):
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
        rgb, pic.icc = to_srgb(cmyk, pic.icc, pic.notes)
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
    at 16 bits; float: L* 0..100, a*, b* in their own units) with its ``alpha`` plane (or
    None) to sRGB(A) through littlecms at 8 bits (Pillow's Lab mode is 8-bit; its raw
    "LAB" bytes are 8-bit CIELab TIFF's: a*, b* signed), said for 16-bit and float;
    ``over``: the associated alpha it is premultiplied by."""
    lab = _unpremultiply(_lab8_units(a), over)
    u8 = np.empty(a.shape[:2] + (3,), np.uint8)
    u8[..., 0] = quantize(lab[..., 0], np.uint8)
    u8[..., 1:] = quantize(lab[..., 1:], np.int8).view(np.uint8)
    im = Image.frombytes("LAB", (a.shape[1], a.shape[0]), u8.tobytes())
    rgb, pic.icc = to_srgb(im, pic.icc, pic.notes)
    if a.dtype != np.uint8:
        depth = f"{a.dtype.itemsize * 8}-bit{' float' if a.dtype.kind == 'f' else ''}"
        pic.notes.append(f"{depth} Lab converted to RGB at 8 bits (littlecms in Pillow "
                         "converts 8-bit Lab only)")  # fmt: skip
    return _rgb8_with_alpha(np.asarray(rgb), alpha)


def _lab8_units(a: np.ndarray) -> np.ndarray:
    """L*, a*, b* samples of a CIELab TIFF page (``H x W x 3``) as float64 in 8-bit CIELab
    TIFF units: L* 0..255 for 0..100, a* and b* in whole units. 8-bit: a*, b* signed
    bytes; 16-bit: L* 0..65535, a*, b* signed, 256 per unit; float: L* 0..100 and a*, b*
    as they are (the CIE values; NaN as 0)."""
    if a.dtype.kind == "f":
        lab = np.nan_to_num(a.astype(np.float64))
        return np.dstack([lab[..., 0] * 2.55, lab[..., 1:3]])
    deep = a.dtype == np.uint16
    signed = a[..., 1:3].view(np.int16 if deep else np.int8).astype(np.float64)
    return np.dstack([a[..., 0] / (257.0 if deep else 1.0), signed / (256.0 if deep else 1.0)])
