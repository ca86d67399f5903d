"""What many tests share: a tiny untrained network, the CLI run in-process, small images."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def tiny_net(scale: int = 2, width: int = 8, steps: int = 2, **cfg):
    """An untrained DSRN small enough for milliseconds per forward pass, in eval mode.

    ``width`` is every channel count (c_lr, c_hr, c_first); ``cfg`` other DSRNConfig fields.
    Weights are torch's default initialisation (seed with ``torch.manual_seed`` first where
    a test needs the same network twice)."""
    from dsrn_cli.model.config import DSRNConfig
    from dsrn_cli.model.network import DSRN

    return DSRN(DSRNConfig(scale=scale, c_lr=width, c_hr=width, c_first=width, steps=steps,
                           **cfg)).eval()


def run_cli(*args: str | Path, app=None):
    """``dsrn ARGS`` run in this process (Typer's CliRunner); the Result has ``exit_code``
    and ``output`` (stdout and stderr together)."""
    from typer.testing import CliRunner

    if app is None:
        from dsrn_cli.cli.app import app
    return CliRunner().invoke(app, [str(a) for a in args])


def gradient(h: int, w: int, channels: int = 3, dtype: type = np.uint8) -> np.ndarray:
    """A smooth ``h x w x channels`` test image (``h x w`` for one channel) of ``dtype``,
    spanning the type's range (0..1 for floats)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = [(x / max(w - 1, 1) + c * y / max(h - 1, 1)) / (1 + c) for c in range(channels)]
    a = np.stack(planes, axis=-1) if channels > 1 else planes[0]
    if np.dtype(dtype).kind == "f":
        return a.astype(dtype)
    return np.floor(a * np.iinfo(dtype).max + 0.5).astype(dtype)
