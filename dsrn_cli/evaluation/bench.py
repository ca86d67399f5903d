"""The evaluation protocol of SR papers (HR mod-cropped, LR by MATLAB bicubic, PSNR/SSIM/IFC
on Y with the scale shaved from each border) and the published numbers to compare with.

``evaluate`` runs one method at one scale over a folder of HR images and returns a
result dict in the shape ``dsrn bench --json`` writes; :class:`BenchRun` is the whole
``dsrn bench``: every scale x method x LR (clean and JPEG), with its networks loaded once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from ..files.imageio import read_rgb_uint8
from ..files.jpeg import roundtrip
from ..files.picture import quantize
from ..model.network import DSRN
from ..model.weights import fetch_weights, load_model, weights_for_quality
from ..pixels.color import y_uint8
from ..pixels.resize import imresize, modcrop
from ..runtime.backend import Backend, BackendError, pick_tile
from ..runtime.ensemble import with_ensemble
from ..runtime.precision import resolve_precision
from ..runtime.selection import as_backend, pick_backend, precision_allowed, with_precision
from ..runtime.tiling import upscale_luma
from .metrics import ifc, psnr, ssim

# The protocol's sentence per metric, for a footer that names only the metrics measured.
_METRIC_PROTOCOL = {
    "psnr": "peak 255",
    "ssim": "SSIM 11x11 Gaussian, sigma 1.5",
    "ifc": "IFC as MATLAB ifcvec (Sheikh et al. 2005) on the same shaved luma, HR as reference",
}
JPEG_PROTOCOL = (
    "; rows with a JPEG quality Q: the LR image saved as a colour JPEG at Q by Pillow "
    "(4:2:0 subsampling), decoded, then upscaled; scored against the clean HR"
)

# The metrics ``evaluate`` can compute, in table order.
METRICS = ("psnr", "ssim", "ifc")


def protocol(metrics: tuple[str, ...] = METRICS, jpeg: bool = False) -> str:
    """The evaluation protocol in one paragraph, naming only ``metrics``;
    with ``jpeg``, how the JPEG rows' LR images are made."""
    names = "/".join(m.upper() for m in ("psnr", "ssim") if m in metrics) or "IFC"
    text = (
        "HR mod-cropped to the scale; LR = MATLAB imresize bicubic (antialiased, uint8 per "
        f"pass); {names} on the BT.601 luma (MATLAB rgb2ycbcr, uint8) with `scale` pixels "
        "shaved from each border; "
        + "; ".join(_METRIC_PROTOCOL[m] for m in METRICS if m in metrics)
    )
    return text + (JPEG_PROTOCOL if jpeg else "")


PROTOCOL = protocol()  # all three metrics, clean LR

# Dataset names accepted on the command line -> the names of the paper's Table 1.
TABLE_NAMES = {"set5": "Set5", "set14": "Set14", "b100": "B100", "bsd100": "B100",
               "urban100": "Urban100",
               "manga109": "Manga109"}


def published_table() -> dict:
    return json.loads(resources.files("dsrn_cli.data").joinpath("published.json").read_text())


def published(dataset: str, scale: int, method: str,
              metrics: tuple[str, ...] = ("psnr", "ssim")) -> tuple[float | None, ...] | None:
    """The paper's values of ``metrics`` (default PSNR, SSIM) for a dataset name, scale and
    method, where it has that row; a metric the paper left blank is None."""
    row = {"bicubic": "Bicubic", "dsrn": "DSRN"}.get(method, method)
    table = TABLE_NAMES.get(dataset.lower(), dataset)
    entry = published_table()["table1"].get(row, {}).get(table, {}).get(f"x{scale}")
    return tuple(entry.get(m) for m in metrics) if entry else None


def sr_luma(model: DSRN | Backend, lr_rgb: np.ndarray, ensemble: bool = False) -> np.ndarray:
    """The model's uint8 luma for a uint8 LR RGB image (input: the LR's uint8 luma).

    Tiled as ``dsrn upscale`` tiles it (``tiling.upscale_luma``: the backend's tile, the
    image mirrored past its border), so bench and upscale agree; through a backend (a bare
    model: ``auto`` on its device). ``ensemble`` averages the eight flipped/rotated views.
    """
    y = y_uint8(lr_rgb).astype(np.float32) / np.float32(255.0)
    be = with_ensemble(as_backend(model), ensemble)
    out = upscale_luma(be, y, pick_tile(be, None)) * np.float32(255.0)
    return quantize(out, np.uint8)


def evaluate(
    hr_paths: list[Path],
    scale: int,
    method: str = "bicubic",
    model: DSRN | Backend | None = None,
    device: torch.device | str = "cpu",
    on_image=None,
    metrics: tuple[str, ...] = METRICS,
    ensemble: bool = False,
    backend: str = "auto",
    jpeg: int | None = None,
) -> dict:
    """``metrics`` (PSNR, SSIM, IFC) per image and their means for ``method`` ('bicubic' or
    'dsrn'). IFC, the slowest by far (scripts/bench_metrics.py), can be left out.

    A :class:`DSRN` runs with ``backend`` on ``device``; a ready backend as it is.
    ``ensemble``: dsrn averages its eight flipped/rotated views (8x the time).
    ``jpeg``: the LR image goes through a JPEG round trip at this quality first.
    """
    if method == "dsrn" and model is None:
        raise ValueError("method 'dsrn' needs a model")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric {unknown[0]!r} (one of {', '.join(METRICS)})")
    if isinstance(model, DSRN):
        model = pick_backend(backend, model.to(device), device)
    images = []
    for path in hr_paths:
        hr = modcrop(read_rgb_uint8(path), scale)
        lr = imresize(hr, 1 / scale)
        if jpeg is not None:
            lr = roundtrip(lr, jpeg)
        if method == "bicubic":
            y_sr = y_uint8(imresize(lr, scale))
        else:
            y_sr = sr_luma(model, lr, ensemble)
        y_hr = y_uint8(hr)
        image = {"name": Path(path).stem}
        if "psnr" in metrics:
            image["psnr"] = psnr(y_sr, y_hr, scale)
        if "ssim" in metrics:
            image["ssim"] = ssim(y_sr, y_hr, scale)
        if "ifc" in metrics:
            try:
                image["ifc"] = ifc(y_hr, y_sr, scale)
            except ValueError as e:
                raise ValueError(f"{Path(path).name}: {e}") from None
        images.append(image)
        if on_image is not None:
            on_image(images[-1])
    return {
        "scale": scale,
        "method": method,
        "ensemble": ensemble and method == "dsrn",
        "jpeg": jpeg,
        **{m: float(np.mean([i[m] for i in images])) for m in METRICS if m in metrics},
        "images": images,
    }


# Digits shown per metric: (ours, the paper's), as the paper's Table 1 prints them.
DIGITS = {"psnr": (2, 2), "ssim": (4, 3), "ifc": (3, 3)}
RESULT_KEYS = ("dataset", "scale", "method", "weights", "ensemble", "jpeg", "images")


@dataclass
class BenchRun:
    """One ``dsrn bench``: every scale x method x LR (clean, then each JPEG quality).

    ``model``/``weights``: the bundled configuration (None/"auto": what ``upscale`` picks
    for each input) or a weights file; ``backend``, ``precision`` and ``ensemble`` as for
    upscale; ``metrics``: a subset of :data:`METRICS` in its order; ``jpeg``: LR JPEG
    qualities (1..100) scored besides the clean LR."""

    name: str
    paths: list[Path]
    scales: list[int]
    methods: list[str]
    metrics: tuple[str, ...]
    device: torch.device
    model: str | None = None
    weights: str | None = None
    backend: str = "auto"
    precision: str = "fp32"
    ensemble: bool = False
    jpeg: list[int] = field(default_factory=list)
    debug: bool = False
    _nets: dict[Path, Backend] = field(default_factory=dict, init=False, repr=False)

    def network(self, scale: int, quality: int | None) -> tuple[Path, Backend]:
        """The weights for ``scale`` and LR JPEG ``quality`` and their backend, loaded once.
        Raises WeightsError (unusable weights) or BackendError (a precision this backend
        and device cannot run)."""
        path = (fetch_weights(self.weights, self.debug) if self.weights else
                weights_for_quality(scale, quality, self.model, self.device))
        if path not in self._nets:
            be = pick_backend(self.backend, load_model(path, self.device), self.device)
            if not precision_allowed(self.precision, be.name, self.device):
                raise BackendError(f"--precision {self.precision} needs a CUDA GPU, or "
                                   "bf16 with the openvino backend on a CPU")
            self._nets[path] = with_precision(
                be, resolve_precision(self.precision, be.name, self.device))
        return path, self._nets[path]

    def rows(self, status: Callable[[str], AbstractContextManager] = lambda _: nullcontext()
             ) -> Iterator[dict]:
        """Score every scale x method x LR in turn; each result is :func:`evaluate`'s dict
        plus ``dataset``, ``weights`` (file name or None), ``label`` (the method as the table
        shows it), ``lr`` ("clean" or "JPEG qN") and ``paper`` (the published values of
        ``metrics``, None where the paper has none). ``status(text)`` wraps each
        evaluation (a spinner). Raises ValueError for an image a metric cannot score."""
        for s in self.scales:
            for m in self.methods:
                for q in [None, *self.jpeg]:
                    yield self._row(s, m, q, status)

    def _row(self, s: int, m: str, q: int | None,
             status: Callable[[str], AbstractContextManager]) -> dict:
        net, label, used = None, m, None
        if m == "dsrn":
            used, net = self.network(s, q)
            label = (f"dsrn ({Path(used).stem.removeprefix('dsrn_')}, {net.name}"
                     f"{', ensemble' * self.ensemble})")
        with status(f"{self.name} x{s} {m}" + (f" JPEG q{q}" if q else "")):
            r = evaluate(self.paths, s, m, net, self.device, metrics=self.metrics,
                         ensemble=self.ensemble, jpeg=q)
        r["dataset"] = self.name
        r["weights"] = Path(used).name if used else None
        r["label"] = label
        r["lr"] = "clean" if q is None else f"JPEG q{q}"
        pub = published(self.name, s, m, self.metrics) if q is None else None
        r["paper"] = pub or (None,) * len(self.metrics)
        return r


def results_json(results: list[dict], metrics: tuple[str, ...], jpeg: bool) -> str:
    """``--json``'s document: the protocol line and each result's keys (:data:`RESULT_KEYS`
    and the metrics scored)."""
    keys = (*RESULT_KEYS[:-1], *metrics, RESULT_KEYS[-1])
    doc = {"protocol": protocol(metrics, jpeg), "results": [{k: r[k] for k in keys}
                                                          for r in results]}
    return json.dumps(doc, indent=1)
