"""What ``--precision auto`` means on this machine, decided without importing torch.

On a CPU whose OpenVINO reports native bf16 (``"BF16"`` in the CPU plugin's
``OPTIMIZATION_CAPABILITIES``: AVX512_BF16 or AMX, i.e. Intel Sapphire Rapids and later,
AMD Zen 4 and later) the OpenVINO backend runs bf16: ~1.8x faster on AVX512_BF16, ~4x
with AMX, and within :data:`BF16_BOUND_DB` of fp32's Set5/Set14 PSNR for every bundled
model and scale (scripts/precision_error.py, docs/performance.md). Everywhere else
(CUDA/MPS, torch or ONNX Runtime on a CPU, CPUs without bf16 units) auto is fp32, the
exact path. Torch-free so that ``dsrn models`` can say it in well under a second.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

# The largest change of a set's mean PSNR (dB) that auto accepts from bf16.
BF16_BOUND_DB = 0.02
# (config name, scale) pairs whose bf16 output moved a Set5 or Set14 mean PSNR by more than
# BF16_BOUND_DB in scripts/precision_error.py: auto keeps them fp32. None so far.
BF16_EXCLUDED: frozenset[tuple[str, int]] = frozenset()


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """Whether OpenVINO's CPU plugin reports native bf16 (``"BF16"`` in its
    ``OPTIMIZATION_CAPABILITIES``). False without OpenVINO or when it cannot be asked.
    Asked once per process (~0.4 s: OpenVINO's import and core)."""
    try:
        import openvino as ov

        return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # not installed, or no CPU plugin
        return False


def resolve_precision(
    precision: str, backend: str, device: Any, model: tuple[str, int] | None = None
) -> str:
    """The precision ``precision`` stands for with ``backend`` on ``device``.

    ``backend``: a backend name (``auto``, ``torch``, ``openvino``, ``onnxruntime``; a
    started backend's ``name`` is the best, since ``auto`` may have fallen back to torch);
    ``device``: a torch.device or its string. ``auto`` -> ``"bf16"`` for OpenVINO on a
    CPU with native bf16, unless ``model`` (config name, scale) is in
    :data:`BF16_EXCLUDED`; ``"fp32"`` otherwise. ``auto`` as the backend on a CPU counts
    as OpenVINO (first in ``selection.AUTO_ORDER``): where OpenVINO is not installed,
    :func:`cpu_has_native_bf16` is False anyway. Any other precision is returned as it
    is (``selection.precision_allowed`` checks it).
    """
    if precision != "auto":
        return precision
    kind = str(getattr(device, "type", device)).split(":")[0]
    if kind != "cpu" or backend not in ("auto", "openvino"):
        return "fp32"
    if model is not None and tuple(model) in BF16_EXCLUDED:
        return "fp32"
    return "bf16" if cpu_has_native_bf16() else "fp32"


@lru_cache(maxsize=1)
def cpu_has_amx() -> bool:
    """Whether the CPU has AMX bf16 tiles (``amx_bf16`` in /proc/cpuinfo; Linux only,
    False elsewhere): where torch's oneDNN training kernels gain from bf16."""
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith("flags") and "amx_bf16" in line.split() for line in f)
    except OSError:
        return False


def train_in_bf16(precision: str, device_type: str, cuda_bf16: bool = True) -> bool:
    """Whether ``dsrn train``'s forward pass runs under bf16 autocast (the weights, the
    optimizer and the loss stay f32): ``bf16`` yes, ``fp32`` no; ``auto`` on CUDA as
    ``cuda_bf16``, on a CPU only with AMX (:func:`cpu_has_amx`). On AVX512_BF16 without
    AMX (Zen 4) torch's bf16 training steps measured no faster than f32
    (scripts/train_precision.py, docs/performance.md), so auto stays f32 there."""
    if precision != "auto":
        return precision == "bf16"
    if device_type == "cuda":
        return cuda_bf16
    return device_type == "cpu" and cpu_has_amx()
