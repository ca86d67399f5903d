"""Weights: safetensors files with their configuration in the metadata, a sha256 manifest.

Bundled files live in the top-level ``weights/`` folder, which the wheel installs as the
package ``dsrn_cli.bundled``; they are never unpickled, and each is checked against the
sha256 that ``weights/manifest.json`` records beside it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from safetensors import safe_open

from ..files.jpeg import estimate_quality
from ..files.partfiles import atomic_path
from .config import DSRNConfig

if TYPE_CHECKING:  # torch loads only where tensors do (dsrn --help, dsrn models: no torch)
    import torch

    from .network import DSRN

MANIFEST = "manifest.json"
# ``--model auto``: a JPEG input at or below this IJG quality gets the ``-jpeg`` weights.
# From the bench (docs/weights.md): at Q = 90 and below lite-jpeg beats lite on Set5 and
# Set14 x2 (+0.33 / +0.11 dB at Q = 90); on clean inputs it loses.
JPEG_AUTO_MAX_QUALITY = 90


class WeightsError(RuntimeError):
    """A weights file is missing, corrupted, or does not fit the model asked for."""


def weights_dir() -> Path:
    """The bundled weights: ``$DSRN_WEIGHTS_DIR`` if set, else the installed package data,
    else the source checkout's ``weights/`` folder (two levels above this room)."""
    env = os.environ.get("DSRN_WEIGHTS_DIR")
    if env:
        return Path(env)
    try:
        installed = Path(str(resources.files("dsrn_cli.bundled")))
        if installed.is_dir():
            return installed
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parents[2] / "weights"


def file_name(config_name: str, scale: int) -> str:
    return f"dsrn_{config_name}_x{scale}.safetensors"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    return json.loads(path.read_text()) if path.exists() else {}


def save_weights(model: DSRN, path: Path, meta: dict[str, object]) -> str:
    """Write ``model`` atomically with its config and ``meta`` as metadata; return sha256."""
    from safetensors.torch import save_file

    metadata = {"config": json.dumps(model.cfg.to_dict())}
    metadata.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()})
    state = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=metadata)
    return sha256(path)


def record(path: Path, digest: str, meta: dict[str, object]) -> None:
    """Put ``path``'s sha256 and provenance into the manifest of its folder."""
    manifest = read_manifest(path.parent)
    manifest[path.name] = {"sha256": digest, **meta}
    with atomic_path(path.parent / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def read_metadata(path: Path) -> dict[str, str]:
    try:
        with safe_open(str(path), framework="numpy") as f:  # the header only
            return dict(f.metadata() or {})
    except Exception as e:  # safetensors raises several types for a damaged header
        raise WeightsError(f"{path}: not a valid safetensors file ({e})") from e


def load_model(path: str | Path, device: str | torch.device = "cpu", verify: bool = True) -> DSRN:
    """Build the model a weights file describes and load it; verify its sha256 if recorded."""
    from safetensors.torch import load_file

    from .network import DSRN

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    if verify:
        expected = read_manifest(path.parent).get(path.name, {}).get("sha256")
        if expected and sha256(path) != expected:
            raise WeightsError(f"{path}: sha256 does not match {MANIFEST}; the file is corrupted")
    meta = read_metadata(path)
    if "config" not in meta:
        raise WeightsError(f"{path}: no model configuration in its metadata")
    model = DSRN(DSRNConfig.from_dict(json.loads(meta["config"])))
    try:
        model.load_state_dict(load_file(str(path)))
    except Exception as e:
        raise WeightsError(f"{path}: weights do not fit the model ({e})") from e
    return model.to(device).eval()


def available(folder: Path | None = None) -> dict[tuple[str, int], Path]:
    """Bundled files by (configuration name, scale)."""
    folder = folder or weights_dir()
    found = {}
    for p in sorted(folder.glob("dsrn_*_x*.safetensors")):
        name, _, scale = p.stem.removeprefix("dsrn_").rpartition("_x")
        if scale.isdigit():
            found[(name, int(scale))] = p
    return found


def resolve(scale: int, model_name: str | None = None, device: torch.device | None = None) -> Path:
    """The bundled file for ``scale``: ``model_name`` if given, else the default.

    The default is the paper-size model on a GPU and the lite one elsewhere: on a
    laptop CPU the paper model is about four times slower for 0.2-0.3 dB.
    """
    found = available()
    order = [model_name] if model_name not in (None, "auto") else default_order(device)
    for name in order:
        if (name, scale) in found:
            return found[(name, scale)]
    have = ", ".join(f"{n} x{s}" for n, s in sorted(found)) or "none"
    want = f"model {model_name!r} at" if model_name not in (None, "auto") else "a model for"
    raise WeightsError(
        f"no bundled weights: {want} x{scale} (bundled: {have}); pass --weights PATH"
    )


def weights_for_quality(
    scale: int, quality: int | None, model_name: str | None = None,
    device: torch.device | str | None = None,
) -> Path:
    """The bundled file for an input of estimated JPEG ``quality`` (None: not a JPEG, or
    tables not IJG-scaled): ``model_name`` if forced, else ``auto``'s choice.

    Under ``auto`` a quality of at most ``JPEG_AUTO_MAX_QUALITY`` gets the ``-jpeg`` variant
    (the default size's if bundled, else any size's for this scale); anything else gets the
    clean default. Raises :class:`WeightsError` when nothing is bundled for ``scale``.
    """
    if model_name not in (None, "auto"):
        return resolve(scale, model_name, device)
    if quality is not None and quality <= JPEG_AUTO_MAX_QUALITY:
        found = available()
        for size in default_order(device):
            if (f"{size}-jpeg", scale) in found:
                return found[(f"{size}-jpeg", scale)]
    return resolve(scale, None, device)


def weights_for_input(
    src: str | Path, scale: int, model_name: str | None = None,
    device: torch.device | str | None = None,
) -> Path:
    """The bundled file for one input: ``model_name`` if forced, else chosen by the input.

    Under ``auto`` a JPEG whose estimated quality (quantization tables) is at most
    ``JPEG_AUTO_MAX_QUALITY`` gets the ``-jpeg`` variant; PNGs, better JPEGs and JPEGs with
    non-IJG tables get the clean default (see :func:`weights_for_quality`).
    """
    if model_name not in (None, "auto"):
        return resolve(scale, model_name, device)
    return weights_for_quality(scale, estimate_quality(src), None, device)


def role(name: str) -> str:
    """What ``auto`` uses a configuration for: ``-jpeg`` files only get low-quality JPEGs."""
    if name.endswith("-jpeg"):
        return f"JPEG inputs of quality <= {JPEG_AUTO_MAX_QUALITY}"
    return "clean inputs (PNG, better JPEGs)"


def load_matching(model: DSRN, path: Path) -> list[str]:
    """Copy every tensor whose name and shape match (e.g. x2 weights into an x4 model)."""
    from safetensors.torch import load_file

    state = load_file(str(path))
    own = model.state_dict()
    taken = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    own.update(taken)
    model.load_state_dict(own)
    return sorted(taken)


def fetch_weights(spec: str | Path, debug: bool = False) -> Path:
    """A local path as is; ``hf://OWNER/REPO/FILE`` downloaded once into the user cache."""
    spec = str(spec)
    if not spec.startswith("hf://"):
        return Path(spec)
    parts = spec.removeprefix("hf://").split("/")
    if len(parts) < 3:
        raise WeightsError(f"{spec}: expected hf://OWNER/REPO/FILE")
    from huggingface_hub import hf_hub_download

    from ..cache import cache_dir, quiet_hub

    try:
        with quiet_hub(debug):
            return Path(hf_hub_download("/".join(parts[:2]), "/".join(parts[2:]),
                                        cache_dir=cache_dir() / "hub"))
    except Exception as e:  # offline, missing file, network: one line for the user
        raise WeightsError(f"could not fetch {spec} ({type(e).__name__}); "
                           "pass a local .safetensors file instead") from e


def default_order(device: torch.device | str | None = None) -> list[str]:
    """Configuration names in the order ``auto`` tries them on ``device``."""
    on_gpu = device is not None and str(device).split(":")[0] == "cuda"
    return ["paper", "lite"] if on_gpu else ["lite", "paper"]


def count_parameters(path: Path) -> int:
    """Numbers stored in a safetensors file, read from its header (nothing is loaded)."""
    with safe_open(str(path), framework="numpy") as f:
        return sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())


def _psnr(results: object, dataset: str) -> float | None:
    entry = results.get(dataset) if isinstance(results, dict) else None
    return float(entry["psnr"]) if isinstance(entry, dict) and "psnr" in entry else None


def describe(folder: Path | None = None, device: torch.device | str | None = None) -> list[dict]:
    """One record per bundled file for ``dsrn models``: read from the manifest and the
    files' metadata only, so a new variant appears without code changes.

    PSNR comes from the manifest's ``results`` (and ``results_ensemble``, measured with
    ``dsrn bench``); Set5 falls back to the validation score in the file's metadata.
    ``auto`` marks the file that ``resolve`` picks for its scale on ``device``;
    ``auto_jpeg`` the one it picks there for JPEG inputs of quality <= ``JPEG_AUTO_MAX_QUALITY``;
    ``role`` says which inputs ``auto`` gives the file.
    """
    folder = folder or weights_dir()
    manifest = read_manifest(folder)
    found = available(folder)
    order = default_order(device)
    picked, picked_jpeg = set(), set()
    for scale in {s for _, s in found}:
        name = next((n for n in order if (n, scale) in found), None)
        if name is not None:
            picked.add((name, scale))
        jname = next((f"{n}-jpeg" for n in order if (f"{n}-jpeg", scale) in found), None)
        if jname is not None:
            picked_jpeg.add((jname, scale))
    rows = []
    for (name, scale), path in sorted(found.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        meta = read_metadata(path)
        entry = manifest.get(path.name, {})
        digest = sha256(path)
        results = entry.get("results", {})
        set5 = _psnr(results, "Set5")
        if set5 is None and meta.get("val") == "Set5" and "val_psnr" in meta:
            set5 = float(meta["val_psnr"])
        ens = entry.get("results_ensemble", {})
        rows.append({
            "file": path.name,
            "name": name,
            "scale": scale,
            "parameters": count_parameters(path),
            "bytes": path.stat().st_size,
            "sha256": digest,
            "verified": entry.get("sha256") == digest,
            "set5_psnr": set5,
            "set14_psnr": _psnr(results, "Set14"),
            "set5_psnr_ensemble": _psnr(ens, "Set5"),
            "set14_psnr_ensemble": _psnr(ens, "Set14"),
            "auto": (name, scale) in picked,
            "auto_jpeg": (name, scale) in picked_jpeg,
            "role": role(name),
        })
    return rows
