"""``dsrn upscale``: files and folders in, upscaled images out, one bad file never stops a batch.

Registered by ``cli.py`` as ``app.command("upscale")(upscale_command)``. Exit codes:
0 everything done or skipped, 1 any file failed (or the weights are unusable), 2 usage
error, 130 interrupted (the summary so far is still printed and the JSON still written).
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .imageio import list_images
from .upscale import DEFAULT_MAX_PIXELS, FORMATS, UpscaleError, get_model, pick_device, upscale_file
from .weights import JPEG_AUTO_MAX_QUALITY, WeightsError, weights_for_input

FORMAT_EXT = {"png": ".png", "jpg": ".jpg", "jpeg": ".jpg", "webp": ".webp", "tiff": ".tif"}


@dataclass
class Job:
    """One planned conversion; ``error`` set means it fails before any work (bad input)."""

    src: Path
    dst: Path | None
    error: str | None = None


@dataclass
class Tally:
    records: list[dict[str, Any]] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(r["status"] == status for r in self.records)

    def summary(self, seconds: float) -> str:
        return (
            f"done {self.count('done')}, skipped {self.count('skipped')}, "
            f"failed {self.count('failed')} ({seconds:.1f} s)"
        )


def _usage(console: Console, msg: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {msg}", highlight=False)
    return typer.Exit(2)


def _out_ext(src: Path, fmt: str) -> str:
    if fmt == "same":
        return src.suffix if src.suffix.lower() in FORMATS else ".png"
    return FORMAT_EXT[fmt]


def _named(src: Path, scale: int, fmt: str) -> str:
    return f"{src.stem}_x{scale}{_out_ext(src, fmt)}"


def plan(
    inputs: list[Path], output: Path | None, scale: int, fmt: str, recursive: bool
) -> list[Job]:
    """Pair every input image with its output path.

    One input file: ``-o`` is the output file (or a folder to put it in). Otherwise ``-o``
    is a folder: files keep their names, folder trees are mirrored under it. Without
    ``-o`` outputs go next to their inputs as ``NAME_xS.EXT``.
    """
    single = len(inputs) == 1 and not inputs[0].is_dir()
    jobs: list[Job] = []
    for inp in inputs:
        if inp.is_dir():
            found = list_images(inp, recursive)
            if not found:
                jobs.append(Job(inp, None, "is a directory with no images in it"))
            for src in found:
                if output is None:
                    jobs.append(Job(src, src.with_name(_named(src, scale, fmt))))
                else:
                    rel = src.relative_to(inp).with_suffix(_out_ext(src, fmt))
                    jobs.append(Job(src, output / rel))
        elif not inp.exists():
            jobs.append(Job(inp, None, "no such file"))
        elif output is None:
            jobs.append(Job(inp, inp.with_name(_named(inp, scale, fmt))))
        elif single and not (output.is_dir() or str(output).endswith(("/", "\\"))):
            jobs.append(Job(inp, output))
        else:
            jobs.append(Job(inp, output / _named(inp, scale, fmt)))
    # Without -o, a re-run over a folder must not upscale last run's outputs again.
    planned = {j.dst.resolve() for j in jobs if j.dst is not None}
    return [j for j in jobs if j.src.resolve() not in planned or not j.src.is_file()]


def _record(job: Job, status: str, error: str | None = None) -> dict[str, Any]:
    return {
        "input": str(job.src),
        "output": str(job.dst) if job.dst else None,
        "status": status,
        "error": error,
        "seconds": 0.0,
        "size_in": None,
        "size_out": None,
    }


def _progress(console: Console, quiet: bool, total: int) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=quiet or total < 2 or not console.is_terminal,
        transient=True,
    )


def _validate(
    console: Console,
    scale: int,
    model: str | None,
    weights: str | None,
    device: str,
    tile: int | None,
    fmt: str,
    quality: int | None,
    max_pixels: int,
) -> None:
    if scale not in (2, 3, 4):
        raise _usage(console, f"--scale must be 2, 3 or 4, not {scale}")
    if model not in (None, "auto") and weights:
        raise _usage(console, "give --model or --weights, not both")
    if device not in ("auto", "cpu", "cuda", "mps"):
        raise _usage(console, f"--device must be auto, cpu, cuda or mps, not {device!r}")
    if device == "cuda" and not pick_device("auto").type == "cuda":
        raise _usage(console, "--device cuda, but CUDA is not available")
    if tile is not None and tile < 8:
        raise _usage(console, "--tile must be at least 8 (LR pixels)")
    if fmt not in (*FORMAT_EXT, "same"):
        raise _usage(console, f"--format must be png, jpg, webp, tiff or same, not {fmt!r}")
    if quality is not None and not 1 <= quality <= 100:
        raise _usage(console, "--quality must be between 1 and 100")
    if max_pixels < 1:
        raise _usage(console, "--max-pixels must be positive")


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
        str | None,
        typer.Option(
            "--model",
            help="auto (default: paper on a GPU, lite elsewhere; their -jpeg variant for a "
            f"JPEG input of quality <= {JPEG_AUTO_MAX_QUALITY}), paper, lite, paper-jpeg "
            "or lite-jpeg.",
        ),
    ] = None,
    weights: Annotated[
        str | None, typer.Option("--weights", help="A .safetensors file or hf://REPO/FILE.")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = "auto",
    tile: Annotated[int | None, typer.Option(help="Tile side in LR pixels.")] = None,
    recursive: Annotated[bool, typer.Option("--recursive", help="Walk folders.")] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace existing outputs.")
    ] = False,
    fmt: Annotated[str, typer.Option("--format", help="png, jpg, webp, tiff or same.")] = "same",
    quality: Annotated[int | None, typer.Option(help="JPEG/WebP quality 1-100.")] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write per-file records here.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress/summary.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Tracebacks for errors.")] = False,
    max_pixels: Annotated[
        int, typer.Option("--max-pixels", help="Refuse inputs with more pixels.")
    ] = DEFAULT_MAX_PIXELS,
) -> None:
    """Upscale images with DSRN (luma by the network, chroma and alpha by bicubic)."""
    console = Console(stderr=True, soft_wrap=True)
    fmt = fmt.lower()
    _validate(console, scale, model, weights, device, tile, fmt, quality, max_pixels)
    if output is not None and output.exists() and not output.is_dir():
        if len(inputs) > 1 or inputs[0].is_dir():
            raise _usage(console, f"{output} is a file; several inputs need an output folder")
    try:
        net = get_model(scale, model, weights, device)
    except (WeightsError, ValueError) as e:
        console.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(1) from None
    except Exception as e:  # e.g. a device that fails to start
        if debug:
            traceback.print_exc()
        console.print(f"[red]error:[/red] cannot load the model: {e}", highlight=False)
        raise typer.Exit(1) from None

    jobs = plan(inputs, output, scale, fmt, recursive)
    tally = Tally()
    t0 = time.perf_counter()
    interrupted = False
    try:
        with _progress(console, quiet, len(jobs)) as bar:
            task = bar.add_task("upscaling", total=len(jobs))
            for job in jobs:
                job_net, used = _net_for(job, scale, model, weights, device, net)
                rec = _one(job, scale, job_net, tile, fmt, quality, max_pixels, overwrite,
                           console, debug)
                rec["weights"] = used if rec["status"] == "done" else None
                tally.records.append(rec)
                bar.advance(task)
    except KeyboardInterrupt:
        interrupted = True
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(tally.records, indent=1) + "\n")
    if interrupted:
        console.print(f"interrupted: {tally.summary(time.perf_counter() - t0)}", highlight=False)
        raise typer.Exit(130)
    if not quiet or tally.count("failed"):
        console.print(tally.summary(time.perf_counter() - t0), highlight=False)
    raise typer.Exit(1 if tally.count("failed") else 0)


def _net_for(
    job: Job, scale: int, model: str | None, weights: str | None, device: str, net: Any
) -> tuple[Any, str | None]:
    """The network for one input and its weights' name (``auto``: chosen by JPEG quality)."""
    if weights is not None:
        return net, str(weights)
    try:
        path = weights_for_input(job.src, scale, model, pick_device(device))
        return get_model(scale, None, path, device), path.name
    except WeightsError as e:  # e.g. a damaged -jpeg file: this input fails, not the batch
        job.error = job.error or str(e)
        return net, None


def _one(
    job: Job,
    scale: int,
    net: Any,
    tile: int | None,
    fmt: str,
    quality: int | None,
    max_pixels: int,
    overwrite: bool,
    console: Console,
    debug: bool,
) -> dict[str, Any]:
    """Run one job; every failure becomes a record and a one-line message."""
    error = job.error
    if error is None and job.dst is not None:
        if job.dst.resolve() == job.src.resolve():
            error = "the output would overwrite the input"
        elif job.dst.exists() and not overwrite:
            return _record(job, "skipped", "output exists (use --overwrite)")
    if error is None:
        try:
            assert job.dst is not None
            pil_fmt = None if fmt == "same" else FORMATS[FORMAT_EXT[fmt]]
            return upscale_file(
                job.src, job.dst, scale, net, None, tile, pil_fmt, quality, max_pixels
            )
        except UpscaleError as e:
            error = str(e)
            if debug:
                traceback.print_exc(file=sys.stderr)
        except KeyboardInterrupt:
            raise
        except Exception as e:  # a bug or a resource problem: still one line, go on
            error = f"{type(e).__name__}: {e}"
            if debug:
                traceback.print_exc(file=sys.stderr)
    console.print(f"[red]failed:[/red] {job.src}: {error}", highlight=False, soft_wrap=True)
    return _record(job, "failed", error)


__all__ = ["upscale_command", "plan"]
