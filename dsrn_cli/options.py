"""Option types the commands share: a fixed set of values becomes a choice that ``--help``
lists and the parser enforces (anything else is a usage error, exit 2)."""

from __future__ import annotations

from enum import Enum
from typing import Literal

from .config import CONFIGS
from .weights import available

Device = Literal["auto", "cpu", "cuda", "mps"]
BackendName = Literal["auto", "torch", "openvino", "onnxruntime"]
Precision = Literal["auto", "fp32", "fp16", "bf16"]
TrainPrecision = Literal["auto", "fp32", "bf16"]
_NAMES = ("auto", *sorted({name for name, _ in available()}))
# The bundled files' configuration names, read from the weights folder at start-up.
ModelName = Literal[_NAMES]  # type: ignore[valid-type]
ConfigName = Literal[tuple(CONFIGS)]  # type: ignore[valid-type]
Optimizer = Literal["adam", "sgd"]
Loss = Literal["l1", "mse"]
ENSEMBLE_HELP = ("Average the network over the 8 flips/rotations of the input: "
                 "usually a little better, 8x the time.")


class Method(str, Enum):
    """``bench --method`` (repeatable, so an Enum: typer takes no list of Literals)."""

    bicubic = "bicubic"
    dsrn = "dsrn"


def examples(*lines: str) -> str:
    """A command's ``--help`` epilog: a few commands to copy."""
    return "Examples:\n\n" + "\n\n".join(f"  {line}" for line in lines)
