"""``dsrn upscale``: files and folders in, upscaled images out, one bad file never stops a batch.

Registered by ``cli.py`` as ``app.command("upscale")(upscale_command)``. Exit codes:
0 everything done or skipped, 1 any file failed (or the weights are unusable), 2 usage
error, 130 interrupted (the summary so far is still printed and the JSON still written).
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Annotated, Literal

import typer
from PIL import ImageColor
from rich.console import Console
from rich.markup import escape

from .backends import Backend, BackendError, get_model, precision_allowed, with_precision
from .batch import Job, Options, plan, rank_device, run_batch
from .device import pick_device
from .ensemble import with_ensemble
from .imageio import DEFAULT_MAX_PIXELS, DEFAULT_PNG_LEVEL
from .options import ENSEMBLE_HELP, BackendName, Device, ModelName
from .weights import JPEG_AUTO_MAX_QUALITY, WeightsError, resolve, weights_for_input

Format = Literal["png", "jpg", "jpeg", "webp", "tiff", "gif", "same"]
Precision = Literal["fp32", "fp16", "bf16"]


def _usage(console: Console, msg: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {escape(msg)}", highlight=False)
    return typer.Exit(2)


def _validate(
    console: Console,
    scale: int,
    model: str | None,
    weights: str | None,
    device: str,
    tile: int | None,
    quality: int | None,
    max_pixels: int,
    png_level: int,
) -> None:
    if scale not in (2, 3, 4):
        raise _usage(console, f"--scale must be 2, 3 or 4, not {scale}")
    if model not in (None, "auto") and weights:
        raise _usage(console, "give --model or --weights, not both")
    if device == "cuda" and not pick_device("auto").type == "cuda":
        raise _usage(console, "--device cuda, but CUDA is not available")
    if tile is not None and tile < 8:
        raise _usage(console, "--tile must be at least 8 (LR pixels)")
    if quality is not None and not 1 <= quality <= 100:
        raise _usage(console, "--quality must be between 1 and 100")
    if max_pixels < 1:
        raise _usage(console, "--max-pixels must be positive")
    if not 0 <= png_level <= 9:
        raise _usage(console, "--png-compression must be between 0 and 9")


def upscale_command(
    inputs: Annotated[
        list[Path], typer.Argument(metavar="INPUT", help="Image files and/or folders.")
    ],
    scale: Annotated[int, typer.Option("--scale", "-s", help="Upscaling factor: 2, 3 or 4.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Output file (one input; --format overrides its extension) or folder.",
        ),
    ] = None,
    model: Annotated[
        ModelName | None,
        typer.Option(
            "--model",
            help="auto (default: paper on a GPU, lite elsewhere; their -jpeg variant for a "
            f"JPEG input of quality <= {JPEG_AUTO_MAX_QUALITY}); see dsrn models.",
        ),
    ] = None,
    weights: Annotated[
        str | None, typer.Option("--weights", help="A .safetensors file or hf://REPO/FILE.")
    ] = None,
    device: Annotated[Device, typer.Option()] = "auto",
    backend: Annotated[
        BackendName, typer.Option(help="auto: torch on a GPU, the fastest exact installed "
                                       "backend on a CPU.")
    ] = "auto",
    tile: Annotated[int | None, typer.Option(help="Tile side in LR pixels.")] = None,
    recursive: Annotated[bool, typer.Option("--recursive", help="Walk folders.")] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace existing outputs.")
    ] = False,
    fmt: Annotated[
        Format, typer.Option("--format", case_sensitive=False, help="Output format.")
    ] = "same",
    quality: Annotated[int | None, typer.Option(help="JPEG/WebP quality 1-100.")] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write per-file records here.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress/summary.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Tracebacks for errors.")] = False,
    max_pixels: Annotated[
        int, typer.Option("--max-pixels", help="Refuse inputs with more pixels.")
    ] = DEFAULT_MAX_PIXELS,
    png_level: Annotated[
        int,
        typer.Option(
            "--png-compression", help="PNG zlib level 0-9: lower is faster, larger files."
        ),
    ] = DEFAULT_PNG_LEVEL,
    precision: Annotated[
        Precision,
        typer.Option(
            "--precision", help="fp16/bf16 on a CUDA GPU; bf16 with openvino on a CPU."
        ),
    ] = "fp32",
    ensemble: Annotated[bool, typer.Option("--ensemble", help=ENSEMBLE_HELP)] = False,
    background: Annotated[
        str,
        typer.Option(
            "--background",
            help="Colour alpha is composited onto for formats without alpha (JPEG): a name "
            "or #RRGGBB.",
        ),
    ] = "white",
) -> None:
    """Upscale images with DSRN (luma by the network, chroma and alpha by bicubic)."""
    console = Console(stderr=True, soft_wrap=True)
    fmt = fmt.lower()
    _validate(
        console, scale, model, weights, device, tile, quality, max_pixels, png_level
    )  # fmt: skip
    try:
        bg = ImageColor.getrgb(background)[:3]
    except ValueError:
        raise _usage(console, f"--background: not a colour: {background!r}") from None
    device = rank_device(device)
    dev = pick_device(device)
    if not precision_allowed(precision, backend, dev):
        raise _usage(console, f"--precision {precision} needs a CUDA GPU, or bf16 with the "
                     f"openvino backend on a CPU (this run: {backend} on {dev.type}); "
                     "use fp32")  # fmt: skip
    if output is not None and output.exists() and not output.is_dir():
        if len(inputs) > 1 or inputs[0].is_dir():
            raise _usage(console, f"{output} is a file; several inputs need an output folder")
    try:
        net = with_precision(get_model(scale, model, weights, device, backend=backend), precision)
        net = with_ensemble(net, ensemble)
    except BackendError as e:  # not installed, or not on this device: a usage error
        raise _usage(console, str(e)) from None
    except (WeightsError, ValueError) as e:
        console.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(1) from None
    except Exception as e:  # e.g. a device that fails to start
        if debug:
            traceback.print_exc()
        console.print(f"[red]error:[/red] cannot load the model: {e}", highlight=False)
        raise typer.Exit(1) from None

    jobs = plan(inputs, output, scale, fmt, recursive)
    opts = Options(scale, tile, fmt, quality, png_level, max_pixels, overwrite, debug,
                   background=bg)  # fmt: skip
    nets: dict[Path, Backend] = {}
    if weights is None:  # the clean default is loaded already
        nets[resolve(scale, model, dev)] = net

    def net_for(job: Job) -> tuple[Backend, str | None]:
        """The network for one input (``auto``: the -jpeg weights for a low-quality JPEG)."""
        if weights is not None:
            return net, str(weights)
        path = weights_for_input(job.src, scale, model, dev)
        if path not in nets:
            be = get_model(scale, None, path, device, backend=backend)
            nets[path] = with_ensemble(with_precision(be, precision), ensemble)
        return nets[path], path.name

    raise typer.Exit(run_batch(jobs, net_for, opts, console, json_path, quiet))


__all__ = ["upscale_command", "plan"]
