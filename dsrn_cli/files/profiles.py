"""ICC profiles: the colour space a profile declares, littlecms' sRGB profile, CMYK/Lab/
YCbCr/HSV Pillow images converted to sRGB through their profile (``PIL.ImageCms``), and a
profile that does not match the pixels dropped (said).
"""

from __future__ import annotations

from functools import cache
from io import BytesIO

from PIL import Image, ImageCms

from .picture import Picture


def icc_space(icc: bytes | None) -> str | None:
    """The colour space an ICC profile declares ("RGB", "GRAY", "CMYK", "Lab", ...)."""
    if not icc or len(icc) < 20:
        return None
    return icc[16:20].decode("latin-1").strip()


@cache
def srgb_profile() -> bytes:
    """littlecms' built-in sRGB profile, for pixels converted to sRGB."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def to_srgb(
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


def icc_for(icc: bytes | None, grey: bool, notes: list[str], whose: str = "the",
            pixels: str = "the pixels") -> bytes | None:  # fmt: skip
    """``icc`` if its colour space is the pixels' (GRAY for ``grey`` pixels, else RGB);
    None, said in ``notes`` ("``whose`` ICC profile is CMYK, ``pixels`` RGB: profile not
    kept"), if it is another."""
    want = "GRAY" if grey else "RGB"
    if icc and icc_space(icc) != want:
        notes.append(f"{whose} ICC profile is {icc_space(icc)}, {pixels} "
                     f"{'grey' if grey else 'RGB'}: profile not kept")  # fmt: skip
        return None
    return icc


def match_icc(pic: Picture) -> None:
    """Drop a profile whose colour space is not the pixels' (grey or RGB), said."""
    if not pic.icc:
        return
    a = pic.frames[0]
    pic.icc = icc_for(pic.icc, a.ndim == 2 or a.shape[2] == 2, pic.notes, "the input's")
