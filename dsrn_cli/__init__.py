"""dsrn: image super-resolution with the Dual-State Recurrent Network (CVPR 2018)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dsrn")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"


__all__ = ["upscale", "__version__"]


def __getattr__(name: str):
    """``dsrn_cli.upscale`` is :func:`dsrn_cli.api.upscale`, imported on first use so
    that ``import dsrn_cli`` (and ``dsrn --help``) does not load torch."""
    if name == "upscale":
        from .api import upscale

        globals()["upscale"] = upscale
        return upscale
    raise AttributeError(f"module 'dsrn_cli' has no attribute {name!r}")
