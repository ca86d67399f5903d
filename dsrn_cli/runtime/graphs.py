"""The converted-graph cache: the network as ONNX (and OpenVINO IR) files, built once.

Converted graphs live in the user cache (``cache.cache_dir() / "backends"``) under a key
made of the weights' sha256 (of the config and every tensor), the exporter and runtime
versions; each entry records the sha256 of its files and is rebuilt when a file is missing
or does not match. OpenVINO's compiled blobs go into the same entry (its ``CACHE_DIR``).
The graphs have dynamic H and W: a tile is never padded to a fixed shape.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from ..cache import cache_dir
from ..model.export import export_onnx
from ..model.network import DSRN
from ..model.weights import sha256

CACHE_FORMAT = 3  # bump when what goes into a cache entry changes (the graph too)


def weights_digest(model: DSRN) -> str:
    """sha256 of the configuration and every tensor: what a converted graph depends on."""
    h = hashlib.sha256(json.dumps(model.cfg.to_dict(), sort_keys=True).encode())
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def cache_root() -> Path:
    """The folder of every converted graph: ``backends`` in the user cache."""
    return cache_dir() / "backends"


def _valid(entry: Path) -> bool:
    """An entry is trusted only if its manifest lists files that all hash as recorded."""
    try:
        files = json.loads((entry / "manifest.json").read_text())["files"]
        return bool(files) and all(sha256(entry / f) == d for f, d in files.items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


def to_openvino_ir(folder: Path) -> list[str]:
    """OpenVINO's own format beside ``folder``'s ``model.onnx`` (it loads several times
    faster); returns the names of the files written."""
    import openvino as ov

    model = ov.convert_model(str(folder / "model.onnx"))
    # save_model stores weights as fp16 by default, which moves pixels: keep f32.
    ov.save_model(model, str(folder / "model.xml"), compress_to_fp16=False)
    return ["model.xml", "model.bin"]


def graph_entry(
    model: DSRN, runtime: str, version: str, convert: Callable[[Path], list[str]] | None = None
) -> Path:
    """The cache folder of ``model`` for ``runtime`` (at its ``version``): ``model.onnx``
    and what ``convert`` makes of it. Built (~1 s) when missing, stale or damaged; a
    folder another process finished first is used as it is."""
    key = hashlib.sha256(
        f"{CACHE_FORMAT}|{weights_digest(model)}|torch {torch.__version__}|{runtime} {version}"
        .encode()
    ).hexdigest()[:32]
    entry = cache_root() / f"{runtime}-{key}"
    if _valid(entry):
        return entry
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".build-"))
    try:
        export_onnx(model, tmp / "model.onnx")
        names = ["model.onnx"] + (convert(tmp) if convert else [])
        manifest = {"files": {f: sha256(tmp / f) for f in names}, "runtime": runtime}
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
