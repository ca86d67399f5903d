"""``dsrn train``: every input checked before anything is created, then a progress display.

Exit codes (:mod:`dsrn_cli.cli.errors`): 0 the run finished (or stopped at
``--stop-after``), 1 it failed (or ``--val``'s benchmark could not be downloaded), 2 usage
error (nothing was created), 130 interrupted (a checkpoint was written: ``--resume``
continues).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from .errors import console, reported, usage
from .options import ConfigName, Device, Loss, Optimizer, TrainPrecision

EXAMPLES = (
    "dsrn train -s 2 --data ../shared/data/train/T91 ../shared/data/train/BSD200 "
    "--out runs/x2 --minutes 60 --val set5",
    "dsrn train -s 2 --data ../shared/data/train/T91 --out runs/x2 --minutes 60 --resume"
    "   # continue that run",
    "dsrn train -s 4 --data ../shared/data/train/T91 --out runs/x4 --steps 20000 "
    "--init runs/x2/last.safetensors --val ../shared/data/test/Set5",
)

BAR_STEPS = 1000  # the training bar's resolution: progress through the schedule, in 1/1000


class TrainDisplay:
    """Rich progress for ``train``'s ``on_progress`` events: one bar while the training
    pairs are prepared (images done / all), one for the schedule (step, elapsed, ETA,
    running loss, last validation PSNR)."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(bar_width=12),
            TextColumn("{task.fields[done]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(compact=True),
            TextColumn("{task.fields[info]}"),
            console=console,
        )
        self.prepare: TaskID | None = None
        self.train: TaskID | None = None

    def stop(self) -> None:
        """End the display (the bars stay on screen); nothing is drawn if it never started."""
        if self.prepare is not None or self.train is not None:
            self.progress.stop()

    def __call__(self, event: dict) -> None:
        p = self.progress
        if self.prepare is None and self.train is None:
            p.start()  # only now: an error before the first event leaves no empty bar line
        if event["stage"] == "prepare":
            if self.prepare is None:
                self.prepare = p.add_task("preparing", total=event["total"], done="",
                                          info="")
            p.update(self.prepare, completed=event["done"],
                     done=f"{event['done']}/{event['total']} images")
            return
        if self.train is None:
            self.train = p.add_task("training ", total=BAR_STEPS, done="", info="")
        info = []
        if event["loss"] is not None:
            info.append(f"loss {event['loss']:.4g}")
        if event["val_psnr"] is not None:
            info.append(f"val {event['val_psnr']:.2f} dB")
        p.update(self.train, completed=round(event["progress"] * BAR_STEPS),
                 done=f"step {event['step']}", info="  ".join(info))


def train_command(
    scale: Annotated[int, typer.Option("--scale", "-s", help="2, 3 or 4.")],
    data: Annotated[list[str], typer.Option(
        "--data", help="Folders of HR training images (several after one --data).")],
    out_dir: Annotated[Path, typer.Option(
        "--out", help="Run folder (checkpoint, log, weights); must not hold another run "
                      "unless --resume or --overwrite.")],
    config: Annotated[ConfigName, typer.Option("--config", help="Model size.")] = "lite",
    minutes: Annotated[float | None, typer.Option(
        "--minutes", help="Schedule length in minutes.")] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="... or in steps.")] = None,
    stop_after: Annotated[float | None, typer.Option(
        "--stop-after", help="End this invocation after M minutes (--resume continues).")] = None,
    init: Annotated[Path | None, typer.Option("--init", help="Start from these weights.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace the run in --out (its weights and log).")] = False,
    val: Annotated[str | None, typer.Option(
        "--val", help="Validation: a folder of HR images or a benchmark name (set5, set14: "
                      "downloaded once, as for bench).")] = None,
    device: Annotated[Device, typer.Option("--device")] = "auto",
    optimizer: Annotated[Optimizer, typer.Option(
        "--optimizer", help="adam (cosine) or sgd (the paper's).")] = "adam",
    loss: Annotated[Loss, typer.Option("--loss", help="l1, or mse (the paper's).")] = "l1",
    lr: Annotated[float | None, typer.Option("--lr")] = None,
    batch: Annotated[int, typer.Option("--batch")] = 16,
    patch: Annotated[int, typer.Option("--patch", help="HR patch side.")] = 128,
    context: Annotated[int, typer.Option(
        "--context", help="LR pixels of image around each patch that the network sees but "
                          "the loss skips (mirrored past the image border, as tiles are at "
                          "inference; 17 = a tile's margin).")] = 0,
    unroll: Annotated[int | None, typer.Option(
        "--unroll", help="T (default: the config's).")] = None,
    val_every: Annotated[int, typer.Option("--val-every")] = 500,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    jpeg: Annotated[str | None, typer.Option(
        "--jpeg", help="QMIN-QMAX: JPEG-compress LR patches at a random quality in this "
                       "range.")] = None,
    jpeg_clean_share: Annotated[float, typer.Option(
        "--jpeg-clean-share", min=0.0, max=1.0,
        help="With --jpeg: share of patches left clean.")] = 0.2,
    precision: Annotated[TrainPrecision, typer.Option(
        "--precision", help="Forward pass under bf16 autocast (f32 weights): auto = on CUDA "
                            "and on CPUs with AMX.")] = "auto",
    debug: Annotated[bool, typer.Option("--debug", help="Tracebacks for errors.")] = False,
) -> None:
    """Train DSRN on folders of HR images (resumable; runs under torchrun too)."""
    from ..evaluation.datasets import BENCHMARKS, cached_dataset, resolve_dataset
    from ..train.args import TrainArgs, check_inputs
    from ..train.loop import run_training as run

    if resume and overwrite:
        raise usage("give --resume or --overwrite, not both")
    args = TrainArgs(scale=scale, data=list(data), out=str(out_dir), config=config,
                     steps_t=unroll, minutes=minutes, steps=steps, stop_after=stop_after,
                     init=str(init) if init else None, resume=resume, val=None, device=device,
                     optimizer=optimizer, loss=loss, lr=lr, batch=batch, patch=patch,
                     context=context, val_every=val_every, seed=seed, jpeg=jpeg,
                     jpeg_clean_share=jpeg_clean_share, overwrite=overwrite,
                     precision=precision)
    found = cached_dataset(val) if val else None
    if val and found is None and val.strip().lower() not in BENCHMARKS:
        raise usage(f"--val {val}: no such folder, and not a benchmark name "
                              f"({', '.join(BENCHMARKS)})")
    args.val = str(found[1]) if found else None
    with reported(debug):
        first = os.environ.get("RANK", "0") == "0"  # under torchrun: rank 0 checks --out
        check_inputs(args, check_out=first)  # everything but a --val that needs a download
        if val and found is None:
            with console.status(f"fetching {val} from the Hugging Face Hub (once)"):
                args.val = str(resolve_dataset(val, progress=False, debug=debug,
                                               option="dsrn train ... --val")[1])
            check_inputs(args, check_out=first)

    display = TrainDisplay(console)
    with reported(debug, others="training failed", hint=True):
        try:
            run(args, log=lambda text: console.print(text, highlight=False), on_progress=display)
        finally:
            display.stop()
    best = out_dir / "best.safetensors"
    console.print(f"weights: {out_dir / 'last.safetensors'}"
                  + (f" (best on --val: {best})" if best.exists() else ""), highlight=False)


__all__ = ["train_command", "TrainDisplay"]
