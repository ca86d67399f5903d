"""``dsrn models``: the bundled weights, their checksums and measured PSNR, and which ones
``--model auto`` picks on this machine."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from .errors import say_error

out = Console()

EXAMPLES = (
    "dsrn models",
    "dsrn models --json > models.json",
)


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


def models_command(
    as_json: Annotated[bool, typer.Option(
        "--json",
        help="Print the records as JSON.")] = False,
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
        say_error(f"no bundled weights in {weights_dir()}")
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
