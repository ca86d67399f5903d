"""The ``dsrn`` command: parses options and calls the library, nothing more."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from . import __version__

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Upscale images with DSRN; measure it the way SR papers do.")
console = Console(stderr=True)
out = Console()


def _version(value: bool) -> None:
    if value:
        print(f"dsrn {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Upscale images with DSRN; measure it the way SR papers do."""


def _fmt(x: float | None, digits: int) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


@app.command()
def bench(
    dataset: str = typer.Option(..., "--dataset", "-d",
                                help="set5, set14, b100, urban100, manga109, or a folder of HR "
                                     "images."),
    scale: list[int] = typer.Option([2, 3, 4], "--scale", "-s", help="Scales (repeatable)."),
    method: list[str] = typer.Option(["bicubic"], "--method", "-m",
                                     help="bicubic and/or dsrn (repeatable)."),
    model: str | None = typer.Option(None, "--model", help="Bundled model: lite or paper "
                                     "(or lite-jpeg, paper-jpeg)."),
    weights: str | None = typer.Option(None, "--weights",
                                       help="A .safetensors file or hf://REPO/FILE."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or mps."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the results as JSON."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N images."),
    jpeg: list[int] = typer.Option([], "--jpeg", min=1, max=100,
                                   help="Also score with the LR saved as JPEG at this quality "
                                        "(repeatable)."),
) -> None:
    """PSNR/SSIM on a benchmark, beside the paper's Table 1."""
    from .bench import JPEG_PROTOCOL, PROTOCOL, evaluate, published
    from .datasets import DatasetError, resolve_dataset
    from .device import pick_device
    from .imageio import list_images
    from .weights import WeightsError, fetch_weights, load_model, resolve

    for m in method:
        if m not in ("bicubic", "dsrn"):
            raise typer.BadParameter(f"unknown method {m!r} (bicubic or dsrn)",
                                     param_hint="--method")
    for s in scale:
        if s not in (2, 3, 4):
            raise typer.BadParameter(f"scale must be 2, 3 or 4, not {s}", param_hint="--scale")
    try:
        name, folder = resolve_dataset(dataset)
    except DatasetError as e:
        console.print(f"[red]error:[/] {e}")
        raise typer.Exit(1) from None
    paths = list_images(folder)[:limit]
    if not paths:
        console.print(f"[red]error:[/] no images in {folder}")
        raise typer.Exit(1)
    dev = pick_device(device)
    results = []
    table = Table(title=f"{name}: {len(paths)} images")
    for col in ("scale", "method", "LR", "PSNR", "SSIM", "paper PSNR", "paper SSIM"):
        table.add_column(col, justify="right" if col not in ("method", "LR") else "left")
    for s in scale:
        for m in method:
            mdl = None
            if m == "dsrn":
                try:
                    path = fetch_weights(weights) if weights else resolve(s, model, dev)
                    mdl = load_model(path, dev)
                except WeightsError as e:
                    console.print(f"[red]error:[/] {e}")
                    raise typer.Exit(1) from None
            for q in [None, *jpeg]:
                with console.status(f"{name} x{s} {m}" + (f" JPEG q{q}" if q else "")):
                    r = evaluate(paths, s, m, mdl, dev, jpeg=q)
                r["dataset"] = name
                results.append(r)
                pub = published(name, s, m) if q is None else None
                label = m if mdl is None else f"dsrn ({Path(path).stem.removeprefix('dsrn_')})"
                table.add_row(f"x{s}", label, "clean" if q is None else f"JPEG q{q}",
                              f"{r['psnr']:.2f}", f"{r['ssim']:.4f}",
                              _fmt(pub[0] if pub else None, 2), _fmt(pub[1] if pub else None, 3))
    protocol = PROTOCOL + (JPEG_PROTOCOL if jpeg else "")
    out.print(table)
    out.print(f"[dim]protocol: {protocol}[/]")
    if json_path:
        keys = ("dataset", "scale", "method", "jpeg", "psnr", "ssim", "images")
        doc = {"protocol": protocol, "results": [{k: r[k] for k in keys} for r in results]}
        json_path.write_text(json.dumps(doc, indent=1))


@app.command()
def train(
    scale: int = typer.Option(..., "--scale", "-s", help="2, 3 or 4."),
    data: list[Path] = typer.Option(..., "--data", help="Folders of HR training images."),
    out_dir: Path = typer.Option(..., "--out", help="Run folder (checkpoint, log, weights)."),
    config: str = typer.Option("lite", "--config", help="lite or paper."),
    minutes: float | None = typer.Option(None, "--minutes", help="Schedule length in minutes."),
    steps: int | None = typer.Option(None, "--steps", help="... or in steps."),
    stop_after: float | None = typer.Option(None, "--stop-after",
                                            help="End this invocation after M minutes."),
    init: Path | None = typer.Option(None, "--init", help="Start from these weights."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out."),
    val: Path | None = typer.Option(None, "--val", help="Validation folder of HR images."),
    device: str = typer.Option("auto", "--device"),
    optimizer: str = typer.Option("adam", "--optimizer", help="adam (cosine) or sgd (paper)."),
    loss: str = typer.Option("l1", "--loss", help="l1 or mse (paper)."),
    lr: float | None = typer.Option(None, "--lr"),
    batch: int = typer.Option(16, "--batch"),
    patch: int = typer.Option(128, "--patch", help="HR patch side."),
    unroll: int | None = typer.Option(None, "--unroll", help="T (default: the config's)."),
    val_every: int = typer.Option(500, "--val-every"),
    seed: int = typer.Option(0, "--seed"),
    jpeg: str | None = typer.Option(None, "--jpeg", help="QMIN-QMAX: JPEG-compress LR patches "
                                    "at a random quality in this range."),
    jpeg_clean_share: float = typer.Option(0.2, "--jpeg-clean-share", min=0.0, max=1.0,
                                           help="With --jpeg: share of patches left clean."),
) -> None:
    """Train DSRN on folders of HR images (resumable; runs under torchrun too)."""
    from .train import TrainArgs
    from .train import train as run

    if (minutes is None) == (steps is None):
        raise typer.BadParameter("give exactly one of --minutes or --steps")
    if optimizer not in ("adam", "sgd") or loss not in ("l1", "mse"):
        raise typer.BadParameter("--optimizer adam|sgd, --loss l1|mse")
    if jpeg:
        from .trainset import parse_jpeg_range

        try:
            parse_jpeg_range(jpeg)
        except ValueError as e:
            raise typer.BadParameter(str(e), param_hint="--jpeg") from None
    args = TrainArgs(scale=scale, data=[str(d) for d in data], out=str(out_dir), config=config,
                     steps_t=unroll, minutes=minutes, steps=steps, stop_after=stop_after,
                     init=str(init) if init else None, resume=resume,
                     val=str(val) if val else None, device=device, optimizer=optimizer,
                     loss=loss, lr=lr, batch=batch, patch=patch, val_every=val_every, seed=seed,
                     jpeg=jpeg, jpeg_clean_share=jpeg_clean_share)
    run(args, log=console.print)
    console.print(f"weights: {out_dir / 'last.safetensors'}")


def _register_upscale() -> None:
    from .cli_upscale import upscale_command

    app.command("upscale")(upscale_command)


_register_upscale()


def expand_multi(argv: list[str], option: str = "--data") -> list[str]:
    """Let ``--data A B C`` mean ``--data A --data B --data C`` (click options take one value)."""
    out, taking = [], False
    for arg in argv:
        if arg == option:
            taking = False
            out.append(arg)
            continue
        if taking and not arg.startswith("-"):
            out.append(option)
        out.append(arg)
        taking = out[-2:-1] == [option] or (taking and not arg.startswith("-"))
    return out


def main() -> None:
    import sys

    app(args=expand_multi(sys.argv[1:]), prog_name="dsrn")
