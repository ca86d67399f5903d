"""Which backend runs, at which precision, for which weights.

``pick_backend("auto", ...)``: torch on CUDA/MPS; on a CPU the fastest exact backend
installed, in the order of :data:`AUTO_ORDER` (measured in docs/performance.md).
``--precision`` other than fp32 wraps a backend (:func:`with_precision`): OpenVINO with its
bf16 hint, torch with autocast; what ``auto`` means is :mod:`.precision`'s
``resolve_precision``. :func:`get_model` loads the bundled or given weights once per path
and device.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..model.network import DSRN
from ..model.weights import WeightsError, fetch_weights, load_model, resolve
from .backend import Backend, BackendError
from .device import pick_device
from .engines import OnnxRuntimeBackend, OpenVINOBackend, TorchBackend, installed
from .graphs import weights_digest

BACKENDS = ("auto", "torch", "openvino", "onnxruntime")
AUTO_ORDER = ("openvino", "onnxruntime", "torch")  # fastest exact first, on a CPU
PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_backend(name: str, device: torch.device) -> str:
    """The backend ``name`` stands for on ``device`` (``auto`` resolved), or BackendError."""
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
    if name == "auto":
        if device.type != "cpu":
            return "torch"
        return next(n for n in AUTO_ORDER if installed(n))
    if name != "torch" and device.type != "cpu":
        raise BackendError(f"the {name} backend runs on the CPU, not on {device.type}")
    return name


_BUILT: dict[tuple[str, str, str], Backend] = {}


def pick_backend(
    name: str, model: DSRN, device: torch.device | str | None = None
) -> Backend:
    """The backend ``name`` (or ``auto``) for ``model`` on ``device`` (default: the model's).

    Backends are kept per weights digest, so a second call costs one hash of the weights;
    a model whose weights changed gets a fresh conversion. ``auto`` falls back to torch
    (with a warning) when a runtime fails to start; a named one raises BackendError.
    """
    dev = torch.device(device) if device else next(model.parameters()).device
    chosen = resolve_backend(name, dev)
    if chosen == "torch":
        return TorchBackend(model, dev)
    key = (chosen, weights_digest(model), str(dev))
    if key not in _BUILT:
        cls = OpenVINOBackend if chosen == "openvino" else OnnxRuntimeBackend
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                backend = cls(model)
        except BackendError:
            raise
        except Exception as e:
            if name != "auto":
                raise BackendError(f"the {chosen} backend failed to start: {e}") from e
            warnings.warn(f"{chosen} failed to start ({e}); using torch", stacklevel=2)
            return TorchBackend(model, dev)
        if len(_BUILT) >= 8:
            _BUILT.pop(next(iter(_BUILT)))
        _BUILT[key] = backend
    return _BUILT[key]


def as_backend(obj: Backend | DSRN, name: str = "auto") -> Backend:
    """A backend as is; a model through :func:`pick_backend` on its own device."""
    return obj if isinstance(obj, Backend) else pick_backend(name, obj)


@lru_cache(maxsize=8)
def _cached_model(path: str, device: str) -> DSRN:
    return load_model(path, device)


def get_model(
    scale: int,
    model: str | None = None,
    weights: str | Path | None = None,
    device: str | torch.device = "auto",
    backend: str | None = None,
) -> DSRN | Backend:
    """Load (once per path and device) the bundled ``model`` or a ``weights`` file.

    ``backend`` None returns the torch :class:`DSRN`; a backend name ("auto", "torch",
    "openvino", "onnxruntime") returns that :class:`~.backend.Backend` for it. Raises
    WeightsError when the weights are not an x``scale`` model.
    """
    dev = pick_device(device)
    path = fetch_weights(weights) if weights is not None else resolve(scale, model, dev)
    net = _cached_model(str(Path(path).resolve()), str(dev))
    if net.cfg.scale != scale:
        raise WeightsError(f"{path} is an x{net.cfg.scale} model, but x{scale} was asked for")
    return net if backend is None else pick_backend(backend, net, dev)


# ------------------------------------------------------------------------- precision


class _Autocast(Backend):
    """A torch backend whose convolutions run in fp16/bf16 (autocast, GPU only); the
    bicubic base and the sum stay fp32, and the SR luma comes back fp32."""

    def __init__(self, inner: Backend, precision: str) -> None:
        super().__init__(inner.cfg)
        self.inner, self.dtype, self.precision = inner, PRECISIONS[precision], precision
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
    bf16 hint, torch with autocast (what ``--precision`` offers on a CUDA GPU). Raises
    BackendError for another runtime."""
    if precision == "fp32":
        return backend
    if isinstance(backend, OpenVINOBackend) and precision == "bf16":
        return backend.bf16()
    if not isinstance(backend, TorchBackend):
        raise BackendError(f"the {backend.name} backend runs fp32 only; use fp32")
    return _Autocast(backend, precision)


def precision_allowed(precision: str, backend: str, device: torch.device) -> bool:
    """What ``--precision`` accepts: auto and fp32 anywhere; any on a CUDA GPU; on a CPU,
    bf16 with OpenVINO."""
    if precision in ("auto", "fp32") or device.type == "cuda":
        return True
    return precision == "bf16" and resolve_backend(backend, device) == "openvino"
