"""The runtimes behind :class:`~.backend.Backend`: PyTorch, OpenVINO and ONNX Runtime.

torch runs the model as it is (any device); OpenVINO and ONNX Runtime run on the CPU from
the cached ONNX graph (:mod:`.graphs`). OpenVINO compiles at f32 unless bf16 is asked for
(:meth:`OpenVINOBackend.bf16`): never at the plugin's own default. The optional runtimes
are imported only when asked for, with a one-line install hint when missing.
"""

from __future__ import annotations

import contextlib
import copy
import shutil
from collections.abc import Iterator

import numpy as np
import torch

from ..model.network import DSRN
from .backend import Backend, BackendError, bicubic_base, tile_for
from .graphs import graph_entry, to_openvino_ir

HINTS = {
    "openvino": 'pip install "dsrn[openvino]"',
    "onnxruntime": 'pip install "dsrn[onnx]"',
    "onnx": 'pip install "dsrn[onnx]"',
}


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
        self.default_tile = tile_for("torch", self.cfg, self.device.type)
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
        self.default_tile = tile_for("openvino", self.cfg)
        self.entry = graph_entry(model, "openvino", ov.__version__, to_openvino_ir)
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
        self.default_tile = tile_for("onnxruntime", self.cfg)
        entry = graph_entry(model, "onnxruntime", ort.__version__)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # no warnings about dynamic shapes on stderr
        self.session = ort.InferenceSession(
            str(entry / "model.onnx"), opts, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name

    def residual(self, lr: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(lr, dtype=np.float32)[None, None]
        return self.session.run(None, {self.input_name: x})[0][0, 0]


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
