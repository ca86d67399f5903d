"""dsrn: image super-resolution with the Dual-State Recurrent Network (CVPR 2018)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dsrn")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"


def upscale(*args, **kwargs):
    """``dsrn_cli.upscale(image, scale, ...)``: see :func:`dsrn_cli.upscale.upscale`."""
    from .upscale import upscale as _upscale

    return _upscale(*args, **kwargs)
