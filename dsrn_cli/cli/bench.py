"""``dsrn bench``: PSNR/SSIM/IFC on a benchmark as SR papers measure them, beside the paper's
numbers. The evaluation is :class:`dsrn_cli.evaluation.bench.BenchRun`; this module parses
the options and prints the table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .errors import console, reported, say_error
from .options import (
    ENSEMBLE_HELP,
    BackendName,
    Device,
    Method,
    ModelOption,
    Precision,
    WeightsOption,
)

out = Console()

EXAMPLES = (
    "dsrn bench --dataset set5 -s 4                       # bicubic and dsrn beside the paper",
    "dsrn bench --dataset ~/data/Urban100/HR --method dsrn --model lite --json r.json",
    "dsrn bench --dataset set14 -s 2 --method dsrn --ensemble",
)


def _fmt(x: float | None, digits: int) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _metrics(text: str) -> tuple[str, ...]:
    """``--metrics`` as the metrics to score, in the table's order; BadParameter if unknown."""
    from ..evaluation.bench import METRICS

    wanted = [w.strip().lower() for w in text.split(",") if w.strip()]
    for w in wanted:
        if w not in METRICS:
            raise typer.BadParameter(f"unknown metric {w!r} (psnr, ssim, ifc)",
                                     param_hint="--metrics")
    if not wanted:
        raise typer.BadParameter("name at least one of psnr, ssim, ifc", param_hint="--metrics")
    return tuple(m for m in METRICS if m in wanted)


def _check(scale: list[int], json_path: Path | None, model: str | None,
           weights: str | None) -> None:
    for s in scale:
        if s not in (2, 3, 4):
            raise typer.BadParameter(f"scale must be 2, 3 or 4, not {s}", param_hint="--scale")
    if json_path is not None and json_path.is_dir():
        raise typer.BadParameter(f"{json_path} is a folder; give a file name",
                                 param_hint="--json")
    if model not in (None, "auto") and weights:
        raise typer.BadParameter("give --model or --weights, not both")


def _dataset(dataset: str, debug: bool) -> tuple[str, list[Path]]:
    """The benchmark's name and its images (fetched once, with a spinner while it is)."""
    from ..cache import cache_dir
    from ..evaluation.datasets import cached_dataset, resolve_dataset
    from ..files.imageio import list_images

    with reported(debug):
        if cached_dataset(dataset) is None:  # a download: say so while it runs
            with console.status(f"fetching {dataset} from the Hugging Face Hub (once; cached "
                                f"in {cache_dir() / 'datasets'})"):
                name, folder = resolve_dataset(dataset, progress=False, debug=debug)
        else:
            name, folder = resolve_dataset(dataset, debug=debug)
    paths = list_images(folder)
    if not paths:
        say_error(f"no images in {folder}")
        raise typer.Exit(1)
    return name, paths


def _table(name: str, n: int, shown: tuple[str, ...], jpeg: bool) -> Table:
    table = Table(title=f"{name}: {n} images")
    cols = [m.upper() for m in shown] + [f"paper {m.upper()}" for m in shown]
    for col in ("scale", "method", *(["LR"] if jpeg else []), *cols):
        table.add_column(col, justify="right" if col not in ("method", "LR") else "left")
    return table


def bench_command(
    dataset: Annotated[str, typer.Option(
        "--dataset", "-d",
        help="set5, set14, b100, urban100, manga109, or a folder of HR images (named after a "
             "benchmark, or inside one, e.g. Urban100/HR, to get the paper's numbers).")],
    scale: Annotated[list[int], typer.Option(
        "--scale", "-s",
        help="Scales (repeatable).")] = [2, 3, 4],  # noqa: B006
    method: Annotated[list[Method], typer.Option(
        "--method", "-m",
        help="Repeatable.")] = [Method.bicubic, Method.dsrn],  # noqa: B006
    model: ModelOption = None,
    weights: WeightsOption = None,
    device: Annotated[Device, typer.Option(
        "--device")] = "auto",
    backend: Annotated[BackendName, typer.Option(
        "--backend",
        help="auto: torch on a GPU, the fastest exact installed backend on a CPU.")] = "auto",
    ensemble: Annotated[bool, typer.Option(
        "--ensemble",
        help=ENSEMBLE_HELP)] = False,
    precision: Annotated[Precision, typer.Option(
        "--precision",
        help="fp32 (default: the protocol's numbers do not depend on the CPU); auto/bf16/fp16 as"
             " for upscale, to measure them.")] = "fp32",
    json_path: Annotated[Path | None, typer.Option(
        "--json",
        help="Write the results as JSON.")] = None,
    limit: Annotated[int | None, typer.Option(
        "--limit", min=1,
        help="Only the first N images.")] = None,
    metrics: Annotated[str, typer.Option(
        "--metrics",
        help="Comma-separated subset of psnr,ssim,ifc. IFC costs about 0.5 s of CPU per "
             "megapixel (about 10x SSIM); leave it out when time matters.")] = "psnr,ssim,ifc",
    jpeg: Annotated[list[int], typer.Option(
        "--jpeg", min=1, max=100,
        help="Also score with the LR saved as JPEG at this quality (repeatable); without "
             "--model, dsrn uses the weights auto picks for such a JPEG.")] = [],  # noqa: B006
    debug: Annotated[bool, typer.Option(
        "--debug",
        help="Show the download library's log.")] = False,
) -> None:
    """PSNR/SSIM/IFC on a benchmark, beside the paper's Table 1."""
    from ..evaluation.bench import DIGITS, BenchRun, protocol, results_json
    from ..files.partfiles import atomic_path
    from ..model.weights import JPEG_AUTO_MAX_QUALITY
    from ..runtime.device import pick_device

    _check(scale, json_path, model, weights)
    shown = _metrics(metrics)
    name, paths = _dataset(dataset, debug)
    paths = paths[:limit]
    run = BenchRun(name, paths, scale, [m.value for m in method], shown, pick_device(device),
                   model, weights, backend, precision, ensemble, jpeg, debug)
    table = _table(name, len(paths), shown, bool(jpeg))
    results = []
    with reported(debug):
        for r in run.rows(status=console.status):
            results.append(r)
            table.add_row(f"x{r['scale']}", r["label"], *([r["lr"]] if jpeg else []),
                          *[_fmt(r[k], DIGITS[k][0]) for k in shown],
                          *[_fmt(v, DIGITS[k][1]) for k, v in zip(shown, r["paper"], strict=True)])
    out.print(table)
    out.print(f"[dim]protocol: {escape(protocol(shown, bool(jpeg)))}[/]")
    if jpeg and model in (None, "auto") and not weights and "dsrn" in run.methods:
        out.print(f"[dim]dsrn rows: the weights --model auto picks for such an input "
                  f"(the -jpeg ones for JPEG quality <= {JPEG_AUTO_MAX_QUALITY}); "
                  "--model lite forces one.[/]")
    if json_path:
        with atomic_path(json_path) as tmp:  # never a half-written file
            tmp.write_text(results_json(results, shown, bool(jpeg)))
