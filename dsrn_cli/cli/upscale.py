"""``dsrn upscale``: files and folders in, upscaled images and videos out, one bad file never
stops a batch.

Exit codes (:mod:`dsrn_cli.cli.errors`): 0 everything done or skipped, 1 any file failed
(or the weights are unusable), 2 usage error, 130 interrupted (the summary so far is still
printed and the JSON still written).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from ..files.formats import format_names
from ..files.imageio import DEFAULT_MAX_PIXELS, DEFAULT_PNG_LEVEL, DEFAULT_QUALITY, parse_colour
from ..files.video import DEFAULT_CODEC, DEFAULT_CRF
from ..model.weights import (
    JPEG_AUTO_MAX_QUALITY,
    WeightsError,
    available,
    resolve,
    weights_for_input,
)
from ..pixels.outsize import SizeSpec, network_factors
from ..runtime.device import device_type
from .errors import console, reported, say_error, usage
from .options import (
    ENSEMBLE_HELP,
    BackendName,
    Device,
    ModelName,
    Precision,
)

if TYPE_CHECKING:
    from ..run.plan import Job, Plan
    from ..runtime.backend import Backend

# The output-format table's --format names, and "same" (each input's own format).
Format = Literal[(*format_names(), "same")]  # type: ignore[valid-type]

EXAMPLES = (
    "dsrn upscale photo.jpg -s 4 -o photo_x4.png",
    "dsrn upscale photos/ -s 2 --recursive      # into photos_x2/ (a re-run resumes)",
    "dsrn upscale photos/ -s 2 -o big/ --format png",
    "dsrn upscale photo.jpg --width 1920         # exactly 1920 wide, aspect kept",
    "dsrn upscale photo.jpg --outscale 1.5       # x2 network, resized down to 1.5x",
    "dsrn upscale scan.png -s 2 --model paper --ensemble   # best quality, 8x slower",
)


def _validate(
    scale: int | None,
    model: str | None,
    weights: str | None,
    device: str,
    tile: int | None,
    quality: int | None,
    max_pixels: int,
    png_level: int,
) -> None:
    if scale is not None and scale not in (2, 3, 4):
        raise usage(f"--scale must be 2, 3 or 4, not {scale} (--outscale takes any "
                     "factor above 1)")
    if model not in (None, "auto") and weights:
        raise usage("give --model or --weights, not both")
    if device == "cuda" and not device_type("auto") == "cuda":
        raise usage("--device cuda, but CUDA is not available")
    if tile is not None and tile < 8:
        raise usage("--tile must be at least 8 (LR pixels)")
    if quality is not None and not 1 <= quality <= 100:
        raise usage("--quality must be between 1 and 100")
    if max_pixels < 1:
        raise usage("--max-pixels must be positive")
    if not 0 <= png_level <= 9:
        raise usage("--png-compression must be between 0 and 9")


def upscale_command(
    inputs: Annotated[
        list[Path], typer.Argument(metavar="INPUT", help="Image or video files and/or folders.")
    ],
    scale: Annotated[
        int | None,
        typer.Option("--scale", "-s", help="Network factor: 2, 3 or 4 (one pass, no resize)."),
    ] = None,
    outscale: Annotated[
        float | None,
        typer.Option("--outscale", help="Any factor above 1 (1.5, 2.5, 8): the smallest "
                     "network factor (chain) that reaches it, then resized down exactly."),
    ] = None,
    width: Annotated[
        int | None,
        typer.Option("--width", help="Output width in pixels (height by aspect; with "
                     "--height: fit inside both)."),
    ] = None,
    height: Annotated[
        int | None, typer.Option("--height", help="Output height in pixels.")
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            help="A file (one input) or a folder: a folder if it ends with / or exists "
            "(created if missing). Default: beside a file as NAME_x2.EXT; for a folder "
            "FOLDER_x2/ beside it. Outputs in folders are named NAME_x2.EXT.",
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
    recursive: Annotated[
        bool, typer.Option("--recursive", help="Walk subfolders too (mirrored in the output).")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace existing outputs (never an input).")
    ] = False,
    fmt: Annotated[
        Format, typer.Option("--format", case_sensitive=False, help="Output format.")
    ] = "same",
    quality: Annotated[
        int | None,
        typer.Option("--quality", show_default=str(DEFAULT_QUALITY),
                     help="JPEG/WebP quality 1-100 (a lossless WebP input gives a lossless "
                     "WebP unless this is given)."),
    ] = None,  # fmt: skip
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
            "--precision",
            help="auto: bf16 with openvino on a CPU with native bf16 (AVX512_BF16/AMX; "
            "~2x faster, within 0.02 dB), fp32 elsewhere. fp32: exact. fp16/bf16 on a CUDA "
            "GPU; bf16 with openvino on a CPU.",
        ),
    ] = "auto",
    ensemble: Annotated[bool, typer.Option("--ensemble", help=ENSEMBLE_HELP)] = False,
    background: Annotated[
        str,
        typer.Option(
            "--background",
            help="Colour alpha is composited onto for formats without alpha (JPEG): a name "
            "or #RRGGBB.",
        ),
    ] = "white",
    codec: Annotated[
        str, typer.Option("--codec", help="Videos: FFmpeg encoder (libx264 = H.264).")
    ] = DEFAULT_CODEC,
    crf: Annotated[
        int | None,
        typer.Option("--crf", help=f"Videos: constant rate factor, lower is better and "
                     f"larger (x264/x265 default {DEFAULT_CRF})."),
    ] = None,  # fmt: skip
) -> None:
    """Upscale images with DSRN (luma by the network, chroma and alpha by bicubic)."""
    # torch and the runtimes load here, not when the command line is built (dsrn --help)
    from ..run.batch import Options, run_batch
    from ..run.ranks import rank_device
    from ..runtime.device import pick_device
    from ..runtime.ensemble import with_ensemble
    from ..runtime.selection import get_model, precision_allowed, with_precision

    fmt = fmt.lower()
    _validate(
        scale, model, weights, device, tile, quality, max_pixels, png_level
    )  # fmt: skip
    try:
        bg = parse_colour(background)
    except ValueError:
        raise usage(f"--background: not a colour: {background!r}") from None
    device = rank_device(device)
    dev = pick_device(device)
    if not precision_allowed(precision, backend, dev):
        raise usage(f"--precision {precision} needs a CUDA GPU, or bf16 with the "
                     f"openvino backend on a CPU (this run: {backend} on {dev.type}); "
                     "use fp32")  # fmt: skip
    if json_path is not None and json_path.is_dir():
        raise usage(f"--json {json_path} is a folder; give a file name (e.g. "
                     f"{json_path / 'records.json'})")
    spec = SizeSpec(scale, outscale, width, height)
    with reported():
        found = _plan_jobs(inputs, output, spec, fmt, recursive, codec, crf)
    with reported(debug, others="cannot load the model"):
        net, precision = _first_network(scale, outscale, model, weights, device, dev, backend,
                                        precision, ensemble)
    if scale is not None and net.cfg.scale != scale:
        say_error(f"{weights} is an x{net.cfg.scale} model, but x{scale} was asked for")
        raise typer.Exit(1)
    allowed = (net.cfg.scale,) if weights is not None else _scales(model, dev)
    opts = Options(scale or net.cfg.scale, tile, fmt, quality, png_level, max_pixels,
                   overwrite, debug, size=spec, allowed=allowed, codec=codec,
                   crf=crf, background=bg)  # fmt: skip
    nets: dict[Path, Backend] = {}
    if weights is None:  # the clean default is loaded already
        nets[resolve(net.cfg.scale, model, dev)] = net

    def net_for(job: Job, s: int, first: bool) -> tuple[Backend, str | None]:
        """The network for one pass (``auto``: the -jpeg weights for a low-quality JPEG
        input; later passes of a chain see a clean image)."""
        if weights is not None:
            return net, str(weights)
        path = weights_for_input(job.src, s, model, dev) if first else resolve(s, model, dev)
        if path not in nets:
            be = get_model(s, None, path, device, backend=backend)
            nets[path] = with_ensemble(with_precision(be, precision), ensemble)
        return nets[path], path.name

    raise typer.Exit(run_batch(found, net_for, opts, console, json_path, quiet))



def _plan_jobs(inputs: list[Path], output: str | None, spec: SizeSpec, fmt: str,
               recursive: bool, codec: str, crf: int | None) -> Plan:
    """The jobs, checked before any work: sizes, encoder, output names (usage errors)."""
    from ..files.video import check_encoder
    from ..run.plan import PlanError, plan

    spec.check()
    if spec.outscale is not None:
        network_factors(spec.outscale)  # beyond what dsrn chains: a usage error
    check_encoder(codec, crf)
    found = plan(inputs, output, spec.tag(), fmt, recursive, codec)
    one_pass = spec.outscale in (2, 3, 4) and spec.width is None and spec.height is None
    if spec.scale is None and not one_pass and any(j.video for j in found.jobs):
        raise PlanError("videos take one network factor (-s 2, 3 or 4); --outscale, "
                        "--width and --height are for images")
    return found


def _first_network(scale: int | None, outscale: float | None, model: str | None,
                   weights: str | None, device: str, dev: object, backend: str,
                   precision: str, ensemble: bool) -> tuple[Backend, str]:
    """The first pass's network, loaded now to fail early, and the precision it runs in."""
    from ..runtime.ensemble import with_ensemble
    from ..runtime.precision import resolve_precision
    from ..runtime.selection import get_model, with_precision

    have = _scales(model, dev)
    first = scale or (network_factors(outscale, have)[0] if outscale else max(have))
    net = (
        get_model(scale or first, model, weights, device, backend=backend)
        if weights is None else get_model(_weights_scale(weights), None, weights, device,
                                          backend=backend)
    )  # fmt: skip
    precision = resolve_precision(precision, net.name, dev)  # the backend that started
    return with_ensemble(with_precision(net, precision), ensemble), precision

def _scales(model: str | None, dev: object) -> tuple[int, ...]:
    """The bundled factors of ``model`` (``auto``/None: of the default weights here)."""
    found = available()
    if model not in (None, "auto"):
        return tuple(sorted(s for n, s in found if n == model))
    return tuple(sorted({s for _, s in found if _has_default(s, dev)}))


def _has_default(s: int, dev: object) -> bool:
    try:
        resolve(s, None, dev)  # type: ignore[arg-type]
    except WeightsError:
        return False
    return True


def _weights_scale(weights: str) -> int:
    """The factor a --weights file was trained for (read from the file)."""
    from ..model.weights import fetch_weights, load_model

    return load_model(fetch_weights(weights), "cpu").cfg.scale


__all__ = ["upscale_command"]
