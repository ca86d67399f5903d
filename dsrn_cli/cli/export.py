"""``dsrn export``: the network as an ONNX graph for other runtimes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .errors import console, reported
from .options import ModelOption, WeightsOption

EXAMPLES = (
    "dsrn export -s 2 --model lite -o dsrn_lite_x2.onnx",
    "dsrn export -s 4 --weights runs/x4/best.safetensors -o my_x4.onnx --tile 96",
)


def export_command(
    scale: Annotated[int, typer.Option(
        "--scale", "-s",
        help="2, 3 or 4.")],
    output: Annotated[Path, typer.Option(
        "--output", "-o",
        help="The .onnx file to write.")],
    model: ModelOption = None,
    weights: WeightsOption = None,
    tile: Annotated[int, typer.Option(
        "--tile",
        help="Side of the square traced (H, W stay dynamic).")] = 64,
) -> None:
    """Write the network as ONNX (opset 17, dynamic H/W); the bicubic base stays outside."""
    from ..model.export import RECIPE, export_file
    from ..model.weights import WeightsError, fetch_weights, load_model, resolve, sha256

    if scale not in (2, 3, 4):
        raise typer.BadParameter(f"scale must be 2, 3 or 4, not {scale}", param_hint="--scale")
    if model and weights:
        raise typer.BadParameter("give --model or --weights, not both")
    if tile < 8:
        raise typer.BadParameter("--tile must be at least 8", param_hint="--tile")
    if output.is_dir() or str(output).endswith(("/", "\\")):
        raise typer.BadParameter(f"{output} is a folder; give the .onnx file to write",
                                 param_hint="--output")
    with reported():
        path = fetch_weights(weights) if weights else resolve(scale, model)
        net = load_model(path, "cpu")
        if net.cfg.scale != scale:
            raise WeightsError(f"{path} is an x{net.cfg.scale} model, but x{scale} was asked for")
        export_file(net, output, sha256(Path(path)), tile)
    console.print(f"wrote {output} (x{scale}, {Path(path).name}); {RECIPE}")
