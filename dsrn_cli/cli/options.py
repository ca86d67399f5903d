"""Option types the commands share: a fixed set of values becomes a choice that ``--help``
lists and the parser enforces (anything else is a usage error, exit 2)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Literal

import typer
from typer.core import TyperGroup

from ..model.config import CONFIGS
from ..model.weights import available

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
# The weights options of bench and export (upscale says more in its own help).
ModelOption = Annotated[ModelName | None, typer.Option(
    "--model", help="Bundled model (default: auto, see dsrn models).")]
WeightsOption = Annotated[str | None, typer.Option(
    "--weights", help="A .safetensors file or hf://REPO/FILE.")]

ENSEMBLE_HELP = ("Average the network over the 8 flips/rotations of the input: "
                 "usually a little better, 8x the time.")


class Method(str, Enum):
    """``bench --method`` (repeatable, so an Enum: typer takes no list of Literals)."""

    bicubic = "bicubic"
    dsrn = "dsrn"


def examples(*lines: str) -> str:
    """A command's ``--help`` epilog: a few commands to copy."""
    return "Examples:\n\n" + "\n\n".join(f"  {line}" for line in lines)


def _plain_flags(params: list[Any]) -> list[Any]:
    """Show an on/off option as a bare flag: no ``<bool>`` after it in ``--help`` (which
    invites ``--overwrite true``, "true" then taken as an input file). Typer may bring its
    own copy of click, so options are recognised by their ``is_flag``."""
    for p in params:
        if getattr(p, "is_flag", False):
            p.metavar = ""
    return params


class PlainFlagsGroup(TyperGroup):
    """The ``dsrn`` group: its own and every command's flags shown as plain flags."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_flags(super().get_params(ctx))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None:
            _plain_flags([*cmd.params, cmd.get_help_option(ctx)])
        return cmd
