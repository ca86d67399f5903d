"""Inference backends: one small interface over torch, OpenVINO and ONNX Runtime.

A :class:`Backend` maps a tile of LR luma (``h x w`` float32 in [0, 1], any size) to the
network's residual (``sh x sw`` float32) with :meth:`Backend.residual`, or to the SR luma
with :meth:`Backend.sr`. Only ``model.residual`` is ever exported; the MATLAB bicubic base
is added outside the graph by the same torch code (:func:`bicubic_base`) for every
backend, so all backends give the same pixels up to float rounding inside the network.

The network zero-pads every layer at the tile border, so a tile must never be padded up
to a fixed shape: OpenVINO and ONNX Runtime get graphs with dynamic H and W.

Converted graphs live in the user cache under a key made of the weights' sha256 (of the
config and every tensor), the exporter and runtime versions; each entry records the
sha256 of its files and is rebuilt when a file is missing or does not match. OpenVINO's
compiled blobs go into the same entry (its ``CACHE_DIR``). OpenVINO compiles at f32
unless bf16 is asked for (:func:`with_precision`; ``--precision auto`` does where the CPU
has bf16 units, :func:`resolve_precision`): never at the plugin's own default.

``pick_backend("auto", ...)``: torch on CUDA/MPS; on a CPU the fastest exact backend
installed, in the order of :data:`AUTO_ORDER` (measured in docs/performance.md).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..model.config import DSRNConfig
from ..model.network import DSRN, receptive_radius
from ..model.weights import WeightsError, fetch_weights, load_model, resolve
from ..pixels.resize import imresize_torch
from .device import pick_device
from .precision import cpu_has_native_bf16 as cpu_has_native_bf16  # re-exported
from .precision import resolve_precision as resolve_precision  # re-exported

BACKENDS = ("auto", "torch", "openvino", "onnxruntime")
AUTO_ORDER = ("openvino", "onnxruntime", "torch")  # fastest exact first, on a CPU
HINTS = {
    "openvino": 'pip install "dsrn[openvino]"',
    "onnxruntime": 'pip install "dsrn[onnx]"',
    "onnx": 'pip install "dsrn[onnx]"',
}
CACHE_FORMAT = 3  # bump when what goes into a cache entry changes (the graph too)


class BackendError(RuntimeError):
    """A backend cannot be used here (not installed, wrong device); one line for users."""


def bicubic_base(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """The residual's base: MATLAB bicubic of the LR luma, outside every exported graph."""
    return imresize_torch(lr, scale)


class Backend:
    """Runs one DSRN on LR luma tiles. Subclasses implement :meth:`residual`.

    ``default_tile`` is the LR tile side measured fastest for this runtime on this kind
    of device (scripts/bench_upscale.py, docs/performance.md): larger tiles waste less
    on the ``radius``-pixel overlap, smaller ones stay in cache and use less memory.
    """

    name = "?"
    default_tile = 256
    precision = "fp32"  # what the network computes in (records and --json say it)

    def __init__(self, cfg: DSRNConfig) -> None:
        self.cfg = cfg
        self.scale = cfg.scale
        self.radius = receptive_radius(cfg)  # LR pixels of context a tile needs per side
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


@contextlib.contextmanager
def exact_fp32() -> Iterator[None]:
    """fp32 that is fp32 on CUDA: TF32 off for cuDNN convolutions and matmuls while inside.

    PyTorch lets cuDNN run fp32 convolutions in TF32 (10-bit mantissa) by default; on an
    H200 that moved lite-jpeg x2 Set5 PSNR by 0.0003 dB (scripts/device_eval.py
    --tf32-check). The caller's settings come back on exit.
    """
    conv, mm = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = conv, mm


class TorchBackend(Backend):
    """The PyTorch model as is; channels_last on a CPU (about 2x faster with oneDNN).
    Runs in true fp32 (:func:`exact_fp32`) unless wrapped for another precision."""

    name = "torch"

    def __init__(
        self,
        model: DSRN,
        device: torch.device | str | None = None,
        channels_last: bool | None = None,
    ) -> None:
        super().__init__(model.cfg)
        self.device = torch.device(device) if device else next(model.parameters()).device
        cpu = self.device.type == "cpu"
        self.channels_last = cpu if channels_last is None else channels_last
        gpu = {"cuda": 512, "mps": 384}
        self.default_tile = gpu.get(self.device.type) or _cpu_tile("torch", self.cfg)
        net = model
        if self.channels_last:  # a private copy: the caller's model keeps its layout
            net = copy.deepcopy(model).to(memory_format=torch.channels_last)
        self.model = net.to(self.device).eval()

    def _input(self, lr: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(lr, dtype=np.float32))[None, None]
        x = x.to(self.device)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    @torch.no_grad()
    def residual(self, lr: np.ndarray) -> np.ndarray:
        with exact_fp32():
            return self.model.residual(self._input(lr))[0, 0].float().cpu().numpy()

    @torch.no_grad()
    def sr(self, lr: np.ndarray) -> np.ndarray:
        x = self._input(lr)  # base and residual on the device, one copy back
        with exact_fp32():
            out = bicubic_base(x, self.scale) + self.model.residual(x)
        return out[0, 0].float().cpu().numpy()


class OpenVINOBackend(Backend):
    """OpenVINO on the CPU, from the cached ONNX graph, compiled at f32 (exact)."""

    name = "openvino"

    def __init__(self, model: DSRN) -> None:
        super().__init__(model.cfg)
        ov = _import("openvino")
        self.default_tile = _cpu_tile("openvino", self.cfg)
        self.entry = _entry(model, "openvino", ov.__version__, _to_openvino_ir)
        self._compile("f32")

    def _compile(self, hint: str) -> None:
        import openvino as ov

        config = {"INFERENCE_PRECISION_HINT": hint, "CACHE_DIR": str(self.entry / "ov_cache")}
        xml = str(self.entry / "model.xml")
        try:
            self.compiled = ov.Core().compile_model(xml, "CPU", config)
        except Exception:  # a damaged compiled blob that OpenVINO could not skip
            shutil.rmtree(self.entry / "ov_cache", ignore_errors=True)
            self.compiled = ov.Core().compile_model(xml, "CPU", config)
        self.request = self.compiled.create_infer_request()

    def bf16(self) -> OpenVINOBackend:
        """The same network compiled with OpenVINO's bf16 hint: ~2x faster on CPUs with
        bf16 units (AVX512_BF16, AMX), not exact (up to a few grey levels); on other CPUs
        OpenVINO keeps f32."""
        other = copy.copy(self)
        other._compile("bf16")
        other.name, other.precision = "openvino bf16", "bf16"
        return other

    def residual(self, lr: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(lr, dtype=np.float32)[None, None]
        self.request.infer({0: x})
        return self.request.get_output_tensor(0).data[0, 0].copy()


class OnnxRuntimeBackend(Backend):
    """ONNX Runtime's CPU execution provider on the cached ONNX graph."""

    name = "onnxruntime"

    def __init__(self, model: DSRN) -> None:
        super().__init__(model.cfg)
        ort = _import("onnxruntime")
        self.default_tile = _cpu_tile("onnxruntime", self.cfg)
        entry = _entry(model, "onnxruntime", ort.__version__)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # no warnings about dynamic shapes on stderr
        self.session = ort.InferenceSession(
            str(entry / "model.onnx"), opts, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name

    def residual(self, lr: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(lr, dtype=np.float32)[None, None]
        return self.session.run(None, {self.input_name: x})[0][0, 0]


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


def _cpu_tile(name: str, cfg: DSRNConfig) -> int:
    if cfg.scale != 2:
        return min(CPU_TILE[name], CPU_TILE_X4)
    if name == "openvino" and cfg.c_hr <= NARROW_HR:
        return CPU_TILE_NARROW
    return CPU_TILE[name]


def _import(name: str):
    """Import an optional runtime, or fail with a one-line install hint."""
    try:
        return __import__(name)
    except ImportError:
        raise BackendError(
            f"the {name} backend is not installed; {HINTS[name]} "
            "(or use --backend torch)"
        ) from None


def installed(name: str) -> bool:
    """Whether backend ``name`` can be imported here (torch always can)."""
    if name == "torch":
        return True
    try:
        _import(name)
    except BackendError:
        return False
    return True


def weights_digest(model: DSRN) -> str:
    """sha256 of the configuration and every tensor: what a converted graph depends on."""
    h = hashlib.sha256(json.dumps(model.cfg.to_dict(), sort_keys=True).encode())
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def cache_root() -> Path:
    from ..cache import cache_dir

    return cache_dir() / "backends"


def _file_sha(path: Path) -> str:
    from ..model.weights import sha256

    return sha256(path)


def _valid(entry: Path) -> bool:
    """An entry is trusted only if its manifest lists files that all hash as recorded."""
    try:
        files = json.loads((entry / "manifest.json").read_text())["files"]
        return bool(files) and all(_file_sha(entry / f) == d for f, d in files.items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _to_openvino_ir(folder: Path) -> list[str]:
    """OpenVINO's own format beside the ONNX file: it loads several times faster."""
    import openvino as ov

    model = ov.convert_model(str(folder / "model.onnx"))
    # save_model stores weights as fp16 by default, which moves pixels: keep f32.
    ov.save_model(model, str(folder / "model.xml"), compress_to_fp16=False)
    return ["model.xml", "model.bin"]


def _entry(
    model: DSRN, runtime: str, version: str, convert: Callable[[Path], list[str]] | None = None
) -> Path:
    """The cache folder of ``model`` for ``runtime``: ``model.onnx`` and what ``convert``
    makes of it. Built (~1 s) when missing, stale or damaged."""
    key = hashlib.sha256(
        f"{CACHE_FORMAT}|{weights_digest(model)}|torch {torch.__version__}|{runtime} {version}"
        .encode()
    ).hexdigest()[:32]
    entry = cache_root() / f"{runtime}-{key}"
    if _valid(entry):
        return entry
    from ..model.export import export_onnx

    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".build-"))
    try:
        export_onnx(model, tmp / "model.onnx")
        names = ["model.onnx"] + (convert(tmp) if convert else [])
        manifest = {"files": {f: _file_sha(tmp / f) for f in names}, "runtime": runtime}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        shutil.rmtree(entry, ignore_errors=True)  # corrupt or stale: never trusted
        try:
            os.replace(tmp, entry)
        except OSError:  # another process built it first
            if not _valid(entry):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return entry


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
    a model whose weights changed gets a fresh conversion.
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


# ------------------------------------------------------- loading and precision


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
    "openvino", "onnxruntime") returns that :class:`~dsrn_cli.runtime.backends.Backend` for it.
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
    bf16 hint, torch with autocast (what ``--precision`` offers on a CUDA GPU)."""
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
