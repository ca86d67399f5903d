"""The ``dsrn`` command: parses options and calls the library, nothing more."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .. import __version__
from .options import (
    ENSEMBLE_HELP,
    BackendName,
    Device,
    Method,
    ModelName,
    PlainFlagsGroup,
    Precision,
    examples,
)

app = typer.Typer(add_completion=False, no_args_is_help=True, cls=PlainFlagsGroup,
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


def _register_upscale() -> None:
    from .upscale import upscale_command

    app.command("upscale", epilog=examples(
        "dsrn upscale photo.jpg -s 4 -o photo_x4.png",
        "dsrn upscale photos/ -s 2 --recursive      # into photos_x2/ (a re-run resumes)",
        "dsrn upscale photos/ -s 2 -o big/ --format png",
        "dsrn upscale photo.jpg --width 1920         # exactly 1920 wide, aspect kept",
        "dsrn upscale photo.jpg --outscale 1.5       # x2 network, resized down to 1.5x",
        "dsrn upscale scan.png -s 2 --model paper --ensemble   # best quality, 8x slower",
    ))(upscale_command)


_register_upscale()


def _fmt(x: float | None, digits: int) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _pair(a: float | None, b: float | None) -> str:
    return "-" if a is None and b is None else f"{_fmt(a, 2)} / {_fmt(b, 2)}"


def _precision_note(rows: list[dict]) -> str:
    """The caption's word on what ``upscale`` computes in here (--precision auto)."""
    kinds = {r["precision"] for r in rows}
    if len(kinds) != 1:
        return "precision: what upscale computes in here by default."
    why = " (this CPU computes bf16 natively)" if kinds == {"bf16"} else ""
    return f"upscale computes in {kinds.pop()} here by default{why}; --precision fp32 is exact."


@app.command(epilog=examples(
    "dsrn models",
    "dsrn models --json > models.json",
))
def models(
    as_json: bool = typer.Option(False, "--json", help="Print the records as JSON."),
) -> None:
    """The bundled weights: size, checksum, Set5/Set14 PSNR, and which one auto picks here."""
    from ..model.weights import JPEG_AUTO_MAX_QUALITY, describe, weights_dir
    from ..runtime.device import device_type
    from ..runtime.precision import resolve_precision

    dev = device_type("auto")
    rows = describe(device=dev)
    for r in rows:  # what `upscale` runs it in here by default (--precision auto)
        r["precision"] = resolve_precision("auto", "auto", dev, (r["name"], r["scale"]))
    if as_json:
        print(json.dumps({"folder": str(weights_dir()), "device": dev, "models": rows},
                         indent=1))
        return
    if not rows:
        console.print(f"[red]error:[/] no bundled weights in {weights_dir()}", soft_wrap=True)
        raise typer.Exit(1)
    ens = any(r["set5_psnr_ensemble"] or r["set14_psnr_ensemble"] for r in rows)
    table = Table(title=f"bundled weights ({weights_dir()})", box=None,
                  padding=(0, 1), pad_edge=False,
                  caption=f"auto: used without --model on this machine ({dev}); "
                          f"JPEG: used instead for JPEG inputs of quality <= "
                          f"{JPEG_AUTO_MAX_QUALITY} (estimated from the file's tables). "
                          "Set5 / Set14: PSNR in dB on Y, as dsrn bench measures it (fp32). "
                          + _precision_note(rows))
    per_row = len({r["precision"] for r in rows}) > 1
    cols = ["model", "scale", "params", "size", "sha256", "Set5 / Set14"]
    cols += ["--ensemble"] * ens + ["precision"] * per_row + ["auto"]
    for col in cols:
        left = col in ("model", "sha256", "precision", "auto")
        table.add_column(col, justify="left" if left else "right", no_wrap=True)
    for r in rows:
        sha = r["sha256"][:10] + ("" if r["verified"] else " (not in manifest!)")
        n = r["parameters"]
        params = f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.0f} k"
        cells = [r["name"], f"x{r['scale']}", params,
                 f"{r['bytes'] / 1e6:.1f} MB", sha,
                 _pair(r["set5_psnr"], r["set14_psnr"])]
        if ens:
            cells.append(_pair(r["set5_psnr_ensemble"], r["set14_psnr_ensemble"]))
        if per_row:
            cells.append(r["precision"])
        auto = "auto" if r["auto"] else ""
        if r["auto_jpeg"]:  # its role, in the caption: low-quality JPEGs only
            auto = "JPEG"
        table.add_row(*cells, auto)
    out.print(table)


@app.command("bench", epilog=examples(
    "dsrn bench --dataset set5 -s 4                       # bicubic and dsrn beside the paper",
    "dsrn bench --dataset ~/data/Urban100/HR --method dsrn --model lite --json r.json",
    "dsrn bench --dataset set14 -s 2 --method dsrn --ensemble",
))
def bench_command(
    dataset: str = typer.Option(..., "--dataset", "-d",
                                help="set5, set14, b100, urban100, manga109, or a folder of HR "
                                     "images (named after a benchmark, or inside one, e.g. "
                                     "Urban100/HR, to get the paper's numbers)."),
    scale: list[int] = typer.Option([2, 3, 4], "--scale", "-s", help="Scales (repeatable)."),
    method: list[Method] = typer.Option([Method.bicubic, Method.dsrn], "--method", "-m",
                                        help="Repeatable."),
    model: ModelName | None = typer.Option(None, "--model",
                                           help="Bundled model (default: auto, see dsrn models)."),
    weights: str | None = typer.Option(None, "--weights",
                                       help="A .safetensors file or hf://REPO/FILE."),
    device: Device = typer.Option("auto", "--device"),
    backend: BackendName = typer.Option("auto", "--backend",
                                        help="auto: torch on a GPU, the fastest exact "
                                             "installed backend on a CPU."),
    ensemble: bool = typer.Option(False, "--ensemble", help=ENSEMBLE_HELP),
    precision: Precision = typer.Option("fp32", "--precision",
                                        help="fp32 (default: the protocol's numbers do not "
                                             "depend on the CPU); auto/bf16/fp16 as for "
                                             "upscale, to measure them."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the results as JSON."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N images."),
    metrics: str = typer.Option("psnr,ssim,ifc", "--metrics",
                                help="Comma-separated subset of psnr,ssim,ifc. IFC costs about "
                                     "0.5 s of CPU per megapixel (about 10x SSIM); "
                                     "leave it out when time matters."),
    jpeg: list[int] = typer.Option([], "--jpeg", min=1, max=100,
                                   help="Also score with the LR saved as JPEG at this quality "
                                        "(repeatable); without --model, dsrn uses the weights "
                                        "auto picks for such a JPEG."),
    debug: bool = typer.Option(False, "--debug", help="Show the download library's log."),
) -> None:
    """PSNR/SSIM/IFC on a benchmark, beside the paper's Table 1."""
    from ..cache import cache_dir
    from ..evaluation.bench import METRICS, evaluate, protocol, published
    from ..evaluation.datasets import DatasetError, cached_dataset, resolve_dataset
    from ..files.imageio import list_images
    from ..model.weights import (
        JPEG_AUTO_MAX_QUALITY,
        WeightsError,
        fetch_weights,
        load_model,
        weights_for_quality,
    )
    from ..runtime.backend import BackendError
    from ..runtime.device import pick_device
    from ..runtime.precision import resolve_precision
    from ..runtime.selection import pick_backend, precision_allowed, with_precision

    for s in scale:
        if s not in (2, 3, 4):
            raise typer.BadParameter(f"scale must be 2, 3 or 4, not {s}", param_hint="--scale")
    if json_path is not None and json_path.is_dir():
        raise typer.BadParameter(f"{json_path} is a folder; give a file name",
                                 param_hint="--json")
    wanted = [w.strip().lower() for w in metrics.split(",") if w.strip()]
    for w in wanted:
        if w not in METRICS:
            raise typer.BadParameter(f"unknown metric {w!r} (psnr, ssim, ifc)",
                                     param_hint="--metrics")
    if not wanted:
        raise typer.BadParameter("name at least one of psnr, ssim, ifc", param_hint="--metrics")
    if model not in (None, "auto") and weights:
        raise typer.BadParameter("give --model or --weights, not both")
    shown = tuple(m for m in METRICS if m in wanted)
    digits = {"psnr": (2, 2), "ssim": (4, 3), "ifc": (3, 3)}  # ours, the paper's
    try:
        if cached_dataset(dataset) is None:  # a download: say so while it runs
            with console.status(f"fetching {dataset} from the Hugging Face Hub (once; cached "
                                f"in {cache_dir() / 'datasets'})"):
                name, folder = resolve_dataset(dataset, progress=False, debug=debug)
        else:
            name, folder = resolve_dataset(dataset, debug=debug)
    except DatasetError as e:
        console.print(f"[red]error:[/] {escape(str(e))}", soft_wrap=True, highlight=False)
        raise typer.Exit(1) from None
    paths = list_images(folder)[:limit]
    if not paths:
        console.print(f"[red]error:[/] no images in {escape(str(folder))}", soft_wrap=True)
        raise typer.Exit(1)
    dev = pick_device(device)
    results = []
    table = Table(title=f"{name}: {len(paths)} images")
    cols = [m.upper() for m in shown] + [f"paper {m.upper()}" for m in shown]
    for col in ("scale", "method", *(["LR"] if jpeg else []), *cols):
        table.add_column(col, justify="right" if col not in ("method", "LR") else "left")
    nets: dict[Path, object] = {}

    def net_for(s: int, q: int | None) -> tuple[Path, object]:
        """The weights for scale ``s`` and LR JPEG quality ``q`` (``auto``: what upscale
        would pick for such an input) and their backend, loaded once."""
        path = fetch_weights(weights, debug) if weights else weights_for_quality(s, q, model, dev)
        if path not in nets:
            be = pick_backend(backend, load_model(path, dev), dev)
            if not precision_allowed(precision, be.name, dev):
                raise BackendError(f"--precision {precision} needs a CUDA GPU, or "
                                   "bf16 with the openvino backend on a CPU")
            nets[path] = with_precision(be, resolve_precision(precision, be.name, dev))
        return path, nets[path]

    for s in scale:
        for m in (m.value for m in method):
            for q in [None, *jpeg]:
                mdl, label, used = None, m, None
                if m == "dsrn":
                    try:
                        used, mdl = net_for(s, q)
                    except WeightsError as e:
                        console.print(f"[red]error:[/] {escape(str(e))}", soft_wrap=True,
                                      highlight=False)
                        raise typer.Exit(1) from None
                    except BackendError as e:
                        console.print(f"[red]error:[/] {escape(str(e))}")
                        raise typer.Exit(2) from None
                    label = (f"dsrn ({Path(used).stem.removeprefix('dsrn_')}, {mdl.name}"
                             f"{', ensemble' * ensemble})")
                try:
                    with console.status(f"{name} x{s} {m}" + (f" JPEG q{q}" if q else "")):
                        r = evaluate(paths, s, m, mdl, dev, metrics=shown, ensemble=ensemble,
                                     jpeg=q)
                except ValueError as e:  # e.g. an image too small for IFC's pyramid
                    console.print(f"[red]error:[/] {escape(str(e))}")
                    raise typer.Exit(1) from None
                r["dataset"] = name
                r["weights"] = Path(used).name if used else None
                results.append(r)
                pub = (published(name, s, m, shown) if q is None else None) or (None,) * len(shown)
                lr_col = ["clean" if q is None else f"JPEG q{q}"] if jpeg else []
                table.add_row(f"x{s}", label, *lr_col,
                              *[_fmt(r[k], digits[k][0]) for k in shown],
                              *[_fmt(v, digits[k][1]) for k, v in zip(shown, pub, strict=True)])
    text = protocol(shown, bool(jpeg))
    out.print(table)
    out.print(f"[dim]protocol: {escape(text)}[/]")
    if jpeg and model in (None, "auto") and not weights and "dsrn" in [m.value for m in method]:
        out.print(f"[dim]dsrn rows: the weights --model auto picks for such an input "
                  f"(the -jpeg ones for JPEG quality <= {JPEG_AUTO_MAX_QUALITY}); "
                  "--model lite forces one.[/]")
    if json_path:
        keys = ("dataset", "scale", "method", "weights", "ensemble", "jpeg", *shown, "images")
        doc = {"protocol": text, "results": [{k: r[k] for k in keys} for r in results]}
        json_path.write_text(json.dumps(doc, indent=1))


@app.command("export", epilog=examples(
    "dsrn export -s 2 --model lite -o dsrn_lite_x2.onnx",
    "dsrn export -s 4 --weights runs/x4/best.safetensors -o my_x4.onnx --tile 96",
))
def export_command(
    scale: int = typer.Option(..., "--scale", "-s", help="2, 3 or 4."),
    output: Path = typer.Option(..., "--output", "-o", help="The .onnx file to write."),
    model: ModelName | None = typer.Option(None, "--model",
                                           help="Bundled model (default: auto, see dsrn "
                                                "models)."),
    weights: str | None = typer.Option(None, "--weights",
                                       help="A .safetensors file or hf://REPO/FILE."),
    tile: int = typer.Option(64, "--tile", help="Side of the square traced (H, W stay dynamic)."),
) -> None:
    """Write the network as ONNX (opset 17, dynamic H/W); the bicubic base stays outside."""
    from ..model.export import RECIPE, ExportError, export_file
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
    try:
        path = fetch_weights(weights) if weights else resolve(scale, model)
        net = load_model(path, "cpu")
        if net.cfg.scale != scale:
            raise WeightsError(f"{path} is an x{net.cfg.scale} model, but x{scale} was asked for")
        export_file(net, output, sha256(Path(path)), tile)
    except WeightsError as e:
        console.print(f"[red]error:[/] {e}")
        raise typer.Exit(1) from None
    except ExportError as e:
        console.print(f"[red]error:[/] {escape(str(e))}")
        raise typer.Exit(2) from None
    console.print(f"wrote {output} (x{scale}, {Path(path).name}); {RECIPE}")


def _register_train() -> None:
    from .train import train_command

    app.command("train", epilog=examples(
        "dsrn train -s 2 --data ../shared/data/train/T91 ../shared/data/train/BSD200 "
        "--out runs/x2 --minutes 60 --val set5",
        "dsrn train -s 2 --data ../shared/data/train/T91 --out runs/x2 --minutes 60 --resume"
        "   # continue that run",
        "dsrn train -s 4 --data ../shared/data/train/T91 --out runs/x4 --steps 20000 "
        "--init runs/x2/last.safetensors --val ../shared/data/test/Set5",
    ))(train_command)


_register_train()


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
