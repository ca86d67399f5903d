"""The :class:`Backend` interface: one DSRN run on tiles of LR luma, and its tile policy.

A backend maps a tile of LR luma (``h x w`` float32 in [0, 1], any size) to the network's
residual (``sh x sw`` float32) with :meth:`Backend.residual`, or to the SR luma with
:meth:`Backend.sr`. Only ``model.residual`` is ever exported; the MATLAB bicubic base is
added outside the graph by the same torch code (:func:`bicubic_base`) for every backend, so
all backends give the same pixels up to float rounding inside the network.

The network zero-pads every layer at the tile border, so a tile must never be padded up to
a fixed shape: the converted graphs take dynamic H and W (:mod:`.graphs`).

The runtimes are in :mod:`.engines`; which one runs, at which precision, in :mod:`.selection`.
"""

from __future__ import annotations

import numpy as np
import torch

from ..model.config import DSRNConfig
from ..model.network import receptive_radius
from ..pixels.resize import imresize_torch


class BackendError(RuntimeError):
    """A backend cannot be used here (not installed, wrong device); one line for users."""


def bicubic_base(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """The residual's base: MATLAB bicubic of the LR luma, outside every exported graph."""
    return imresize_torch(lr, scale)


class Backend:
    """Runs one DSRN on LR luma tiles; a runtime implements :meth:`residual`.

    The call contract: any tile size, no padding to a fixed shape, float32 in and out;
    what it computes does not depend on how an image is cut into tiles as long as each
    tile carries :attr:`radius` pixels of context per side (``runtime.tiling``).
    """

    name: str = "?"
    """What runs the network, as records and ``--json`` say it ("torch", "openvino",
    "openvino bf16", "torch ensemble", ...)."""

    default_tile: int = 256
    """The LR tile side (pixels) used when none is asked for: the one measured fastest for
    this runtime on this kind of device (:func:`tile_for`)."""

    precision: str = "fp32"
    """What the network computes in: "fp32", "fp16" or "bf16"."""

    cfg: DSRNConfig
    """The network's configuration."""

    scale: int
    """The upscaling factor (2, 3 or 4): a tile ``h x w`` comes back ``sh x sw``."""

    radius: int
    """LR pixels of context a tile needs on each side for its kept pixels to be exact."""

    device: torch.device
    """Where the network runs (a CPU for OpenVINO and ONNX Runtime)."""

    def __init__(self, cfg: DSRNConfig) -> None:
        self.cfg = cfg
        self.scale = cfg.scale
        self.radius = receptive_radius(cfg)
        self.device = torch.device("cpu")

    def residual(self, lr: np.ndarray) -> np.ndarray:
        """``h x w`` float32 LR luma in [0, 1] -> ``sh x sw`` float32 residual."""
        raise NotImplementedError

    def sr(self, lr: np.ndarray) -> np.ndarray:
        """``h x w`` float32 LR luma -> ``sh x sw`` float32 SR luma (base + residual)."""
        x = torch.from_numpy(np.ascontiguousarray(lr, dtype=np.float32))
        out = bicubic_base(x, self.scale).numpy()
        out += self.residual(lr)
        return out

    def __repr__(self) -> str:
        return f"<{self.name} backend, x{self.scale}, on {self.device}>"


# ------------------------------------------------------------------------ tile policy

# LR tile side per backend on a CPU at x2, from scripts/bench_upscale.py --tiles and whole
# runs (docs/performance.md). Each tile also computes a 17 px margin on each side, so
# larger tiles waste less; their activations (OpenVINO keeps ~10 HR-state-sized tensors:
# ~5 KB per LR pixel for lite x2, ~19 KB for paper) set the memory. torch: 256 = 384 >
# 512; OpenVINO and ONNX Runtime: 384 (paper ~2.5 GB peak), OpenVINO 512 where the HR
# state is narrow (lite: 1.9 GB, ~4% faster than 384 on a 2000x1500 input; ONNX Runtime
# already peaks at 3.4 GB there at 384). At x3/x4 the HR activations are 2-4x larger per
# LR pixel: OpenVINO x4 measured 256 > 192 > 128.
CPU_TILE = {"torch": 256, "openvino": 384, "onnxruntime": 384}
CPU_TILE_NARROW = 512  # OpenVINO at x2 when c_hr <= NARROW_HR
NARROW_HR = 32
CPU_TILE_X4 = 256
GPU_TILE = {"cuda": 512, "mps": 384}  # torch on an accelerator
# LR tile for x4 on a CPU when an image is assembled strip by strip. A tile's activations
# grow with its HR area (16x the LR area at x4), and they are most of the process's memory:
# the CPU tile above (256) needs ~2 GB at x4 with OpenVINO; a 144 px window (110 + 2 x 17
# margin) keeps a 61 MP output under 1.2 GB (README).
X4_CPU_TILE = 110


def tile_for(name: str, cfg: DSRNConfig, device_type: str = "cpu") -> int:
    """The default LR tile side of runtime ``name`` ("torch", "openvino", "onnxruntime")
    for a network ``cfg`` on a ``device_type`` ("cpu", "cuda", "mps") device."""
    if device_type in GPU_TILE:
        return GPU_TILE[device_type]
    if cfg.scale != 2:
        return min(CPU_TILE[name], CPU_TILE_X4)
    if name == "openvino" and cfg.c_hr <= NARROW_HR:
        return CPU_TILE_NARROW
    return CPU_TILE[name]


def pick_tile(be: Backend, tile: int | None) -> int | None:
    """The tile asked for, else the backend's default, capped at ``X4_CPU_TILE`` for x4
    on a CPU (None: the backend decides)."""
    if tile is None and be.scale == 4 and be.device.type == "cpu":
        return min(be.default_tile, X4_CPU_TILE)
    return tile
