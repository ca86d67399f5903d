"""Which torch device to run on: the one choice every stage shares."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """``auto``: CUDA if present, else Apple MPS, else CPU."""
    import torch

    if str(device) != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _cpu_only_torch() -> bool:
    """Whether the installed torch is a CPU-only build: its ``torch/version.py`` sets
    ``cuda``, ``hip`` and ``xpu`` to None. Read as text, not imported (~1.5 s)."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return False
    try:
        text = (Path(spec.submodule_search_locations[0]) / "version.py").read_text()
    except OSError:
        return False
    found = dict(re.findall(r"^(cuda|hip|xpu)\b[^=\n]*=\s*(.+?)\s*$", text, re.M))
    return len(found) == 3 and all(v == "None" for v in found.values())


def device_type(device: str | torch.device = "auto") -> str:
    """``pick_device(device).type`` ("cpu", "cuda", "mps"), without importing torch where
    the answer is sure to be "cpu" (a CPU-only torch build off macOS): for the commands
    that only need to know it (``dsrn models``)."""
    if str(device) != "auto":
        return str(device).split(":")[0]
    if sys.platform != "darwin" and _cpu_only_torch():
        return "cpu"
    return pick_device(device).type
