"""ONNX export of the network's residual branch, for ONNX Runtime, OpenVINO, TensorRT, ncnn.

The graph maps ``1 x 1 x H x W`` LR luma in [0, 1] (input ``lr``, any H and W) to the
residual ``1 x 1 x sH x sW`` (output ``residual``); the SR luma is
``bicubic(lr) + residual`` with MATLAB's bicubic (``dsrn_cli.pixels.resize.imresize``), which is
kept out of the graph because its taps depend on the image size. The file's metadata
holds the model configuration, the scale, this recipe, and the source weights' sha256.
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path

import torch

from ..files.partfiles import atomic_path
from .network import DSRN

OPSET = 17
ONNX_HINT = 'pip install "dsrn[onnx]"'


class ExportError(RuntimeError):
    """The ONNX export cannot run here (the onnx package is missing); one line for users."""


RECIPE = "sr_luma = matlab_bicubic(lr, scale) + residual(lr); lr = Y (BT.601) / 255"


class _Residual(torch.nn.Module):
    def __init__(self, model: DSRN) -> None:
        super().__init__()
        self.model = model

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.model.residual(lr)


def export_onnx(model: DSRN, path: Path, tile: int = 64, opset: int = OPSET) -> Path:
    """Write ``model.residual`` as ONNX with dynamic H and W (traced on a ``tile`` square).

    The TorchScript exporter: about 0.4 s for these plain conv graphs, where the dynamo
    exporter takes tens of seconds; the graph has no data-dependent control flow.
    """
    on_cpu = all(p.device.type == "cpu" for p in model.parameters())
    net = _Residual(model if on_cpu else copy.deepcopy(model).to("cpu")).eval()
    x = torch.rand(1, 1, tile, tile)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net, (x,), str(path), input_names=["lr"], output_names=["residual"],
            dynamic_axes={"lr": {2: "h", 3: "w"}, "residual": {2: "sh", 3: "sw"}},
            opset_version=opset, dynamo=False,
        )  # fmt: skip
    return path


def add_metadata(path: Path, meta: dict[str, str]) -> None:
    """Store ``meta`` as the ONNX file's metadata_props (needs the ``onnx`` package)."""
    import onnx

    m = onnx.load(str(path))
    del m.metadata_props[:]
    for k, v in meta.items():
        m.metadata_props.add(key=k, value=v)
    onnx.save(m, str(path))


def export_file(model: DSRN, out: Path, source_sha256: str, tile: int = 64) -> Path:
    """``dsrn export``: the ONNX graph plus its metadata, written atomically to ``out``."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ExportError(f"dsrn export needs the onnx package; {ONNX_HINT}") from None
    out = Path(out)
    with atomic_path(out) as tmp:
        export_onnx(model, tmp, tile)
        add_metadata(tmp, {
            "dsrn_config": json.dumps(model.cfg.to_dict()),
            "scale": str(model.cfg.scale),
            "source_sha256": source_sha256,
            "recipe": RECIPE,
            "input": "lr: 1x1xHxW float32 luma in [0, 1]",
            "output": "residual: 1x1x(scale*H)x(scale*W) float32",
        })  # fmt: skip
    return out
