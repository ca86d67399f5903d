"""Training: patches in, checkpoints, a CSV log and safetensors out.

The paper's recipe is there as options (``--optimizer sgd``: momentum 0.95, the rate /10 at
50/75/90 % of the schedule, gradients clipped at 0.5; ``--loss mse``); the defaults train
faster: Adam, L1 and a cosine schedule. Patches are 128 HR pixels, 16 a batch, as the paper's.

One process trains on its device; under ``torchrun`` each rank draws its own patches
and DistributedDataParallel averages the gradients (NCCL on GPUs, gloo on CPUs).
Every run is resumable: the checkpoint holds the weights, the optimiser, the step,
the elapsed time and the sampler's RNG state.

:func:`run_training` is the entry; the steps it takes, in order: start the process group
(:func:`start_processes`), clear or create the run folder (:func:`prepare_out`), build the
network and optimiser (:func:`build_model`), the patches (:func:`build_sampler`), resume
(:func:`resume`), open the log (:func:`open_log`), then the loop (:func:`train_loop`: one
:func:`train_step` at a time, :func:`log_validation`, :func:`save_checkpoint`) and the
export (:func:`export_weights`).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import torch
import torch.distributed as torch_dist
from torch import nn

from ..evaluation.bench import evaluate
from ..files.imageio import list_images
from ..files.partfiles import atomic_path
from ..model.config import get_config
from ..model.network import DSRN
from ..model.weights import load_matching, save_weights
from ..runtime.device import pick_device
from ..runtime.precision import train_in_bf16
from .args import TrainArgs, check_inputs, existing_run, lr_patch
from .data import AUG_FACTORS, PatchSampler, crop_context, parse_jpeg_range, prepare_pairs

Log = Callable[[str], object]
OnProgress = Callable[[dict], object] | None


@dataclass
class Run:
    """One run's parts and counters, shared by the steps below; a checkpoint keeps them."""

    a: TrainArgs
    out: Path  # the run folder
    device: torch.device
    main: bool  # rank 0: the one process that validates, logs and writes files
    distributed: bool
    model: DSRN
    opt: torch.optim.Optimizer
    sampler: PatchSampler
    step: int = 0
    elapsed: float = 0.0  # training seconds, over every invocation of this run
    best: float = -1.0  # the best validation PSNR so far (dB; -1: none yet)
    log_file: IO[str] | None = None  # rank 0's log.csv, open for appending
    csv: Any = None  # its csv writer


class _LossSum:
    """Training losses summed on the device (no ``.item()``, so no GPU sync per step) and
    averaged when read."""

    def __init__(self, device: torch.device) -> None:
        self.total = torch.zeros((), device=device, dtype=torch.float64)
        self.n = 0

    def add(self, loss: torch.Tensor) -> None:
        self.total += loss.detach()
        self.n += 1

    def take(self, empty: float | None = None) -> float | None:
        """The mean since the last take (``empty`` when nothing was added); starts over."""
        mean = float(self.total) / self.n if self.n else empty
        self.total, self.n = torch.zeros_like(self.total), 0
        return mean


def learning_rate(a: TrainArgs, progress: float) -> float:
    """Cosine from the base rate for Adam; the paper's /10 steps (at 50/75/90 %) for SGD."""
    if a.optimizer == "sgd":
        base = a.lr or 0.01
        return base * 0.1 ** sum(progress >= m for m in (0.5, 0.75, 0.9))
    base = a.lr or 1e-3
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def progress(run: Run) -> float:
    """How much of the schedule is done: 0 at the start, 1 (or more) at its end."""
    if run.a.steps is not None:
        return run.step / run.a.steps
    return run.elapsed / (run.a.minutes * 60)


def validate(model: nn.Module, val_dir: str | None, scale: int, device) -> tuple[float, float]:
    """Mean PSNR (dB) and SSIM of ``model`` on ``val_dir`` (the bench's protocol); both nan
    without a folder. The model is back in training mode afterwards."""
    if not val_dir:
        return float("nan"), float("nan")
    model.eval()
    r = evaluate(list_images(val_dir), scale, "dsrn", model, device, backend="torch",
                 metrics=("psnr", "ssim"))
    model.train()
    return r["psnr"], r["ssim"]


def cache_size(folder: Path) -> int:
    """Bytes of the prepared-pair files in a cache folder."""
    return sum(f.stat().st_size for f in Path(folder).glob("*.npz"))


def start_processes(device_name: str) -> tuple[torch.device, bool]:
    """The device to train on and whether this is one of several torchrun processes; joins
    the process group (NCCL on GPUs, gloo on CPUs) where it is, each rank on its own GPU."""
    distributed = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
    device = pick_device(device_name)
    if distributed:
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(device)
        torch_dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device, distributed


def prepare_out(a: TrainArgs, main: bool) -> Path:
    """The run folder, created; with ``overwrite`` (and not ``resume``) rank 0 first removes
    an earlier run's files from it."""
    out = Path(a.out)
    if main and a.overwrite and not a.resume:
        for name in existing_run(out):
            (out / name).unlink()
    out.mkdir(parents=True, exist_ok=True)
    return out


def build_model(a: TrainArgs, device: torch.device, log: Log) -> tuple[DSRN, torch.optim.Optimizer]:
    """The network (``config`` at ``scale``, ``steps_t`` steps; the tensors of ``init`` that
    fit) on ``device``, and its optimiser: Adam, or the paper's SGD (momentum 0.95)."""
    cfg = get_config(a.config, a.scale, **({"steps": a.steps_t} if a.steps_t else {}))
    model = DSRN(cfg).to(device)
    if a.init and not a.resume:
        taken = load_matching(model, Path(a.init))
        log(f"init: {len(taken)} of {len(model.state_dict())} tensors from {a.init}")
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
    if a.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.95, weight_decay=1e-4)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    return model, opt


def build_sampler(
    a: TrainArgs, out: Path, device: torch.device, rank: int, log: Log, on_progress: OnProgress,
) -> PatchSampler:
    """The training pairs (prepared once per image, cached in ``cache`` or ``.cache`` beside
    the run folder) and the sampler of this rank's patches (seeded per rank)."""
    main = rank == 0
    cache = Path(a.cache) if a.cache else out.parent / ".cache"
    if main:
        log(f"training pairs: prepared once per image and scale, cached in {cache}")

    def prepared(done: int, total: int) -> None:
        if main and on_progress is not None:
            on_progress({"stage": "prepare", "done": done, "total": total})

    pairs = prepare_pairs(a.data, a.scale, cache, progress=prepared)
    if main:
        log(f"training pairs: {len(pairs)} from {len(pairs) // len(AUG_FACTORS)} images; "
            f"cache {cache} holds {cache_size(cache) / 1e6:.0f} MB")
    jpeg = parse_jpeg_range(a.jpeg) if a.jpeg else None
    return PatchSampler(pairs, a.scale, lr_patch(a), a.batch, device, seed=a.seed + 1000 * rank,
                        jpeg=jpeg, clean_share=a.jpeg_clean_share, context=a.context)


def resume(run: Run, log: Log) -> None:
    """With ``resume``, continue from the run folder's checkpoint where there is one: the
    weights, optimiser, counters and both RNG states."""
    ckpt_path = run.out / "ckpt.pt"
    if run.a.resume and not ckpt_path.exists() and run.main:
        log(f"no checkpoint in {run.out}: starting a new run")
    if run.a.resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=run.device, weights_only=False)
        run.model.load_state_dict(ck["model"])
        run.opt.load_state_dict(ck["opt"])
        run.step, run.elapsed, run.best = ck["step"], ck["elapsed"], ck.get("best", -1.0)
        run.sampler.gen.set_state(ck["sampler_rng"])
        torch.set_rng_state(ck["torch_rng"])
        log(f"resumed at step {run.step} ({run.elapsed / 60:.1f} min)")


def open_log(run: Run) -> None:
    """Rank 0: open ``log.csv`` for appending (a header first when it is new) and write
    ``args.json``."""
    if not run.main:
        return
    log_path = run.out / "log.csv"
    new_log = not log_path.exists()
    run.log_file = open(log_path, "a", newline="")
    run.csv = csv.writer(run.log_file)
    if new_log:
        run.csv.writerow(["step", "elapsed_s", "loss", "lr", "val_psnr", "val_ssim"])
    (run.out / "args.json").write_text(json.dumps(asdict(run.a), indent=1))


def save_checkpoint(run: Run) -> None:
    """Write ``ckpt.pt`` (replaced whole, never half-written): what :func:`resume` reads."""
    state = {"model": run.model.state_dict(), "opt": run.opt.state_dict(), "step": run.step,
             "elapsed": run.elapsed, "best": run.best,
             "sampler_rng": run.sampler.gen.get_state(), "torch_rng": torch.get_rng_state(),
             "args": asdict(run.a)}
    with atomic_path(run.out / "ckpt.pt") as tmp:
        torch.save(state, tmp)


def export_weights(run: Run, name: str, val_psnr: float, val_ssim: float) -> Path:
    """Write the network as ``name`` in the run folder, with the run's facts as metadata."""
    a, path = run.a, run.out / name
    jpeg = parse_jpeg_range(a.jpeg) if a.jpeg else None
    save_weights(run.model, path, {
        "scale": a.scale, "config_name": a.config, "train_steps": run.step,
        "train_minutes": round(run.elapsed / 60, 2), "data": [Path(d).name for d in a.data],
        "optimizer": a.optimizer, "loss": a.loss, "batch": a.batch,
        "patch": lr_patch(a) * a.scale, "context": a.context,
        "val": Path(a.val).name if a.val else "", "val_psnr": round(val_psnr, 4),
        "val_ssim": round(val_ssim, 5), "date": dt.date.today().isoformat(),
        "device": run.device.type,
        **({"jpeg": f"{jpeg[0]}-{jpeg[1]}", "jpeg_clean_share": a.jpeg_clean_share}
           if jpeg else {}),
    })
    return path


def train_step(
    run: Run, train_model: nn.Module, crit: nn.Module, lr_now: float, use_bf16: bool,
) -> torch.Tensor:
    """One optimiser step on one batch at rate ``lr_now``; returns the loss (on the device)."""
    a, device = run.a, run.device
    for g in run.opt.param_groups:
        g["lr"] = lr_now
    lr_b, hr_b = run.sampler()
    if device.type == "cuda":
        lr_b = lr_b.contiguous(memory_format=torch.channels_last)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
        pred = crop_context(train_model(lr_b), a.context, a.scale)
    loss = crit(pred.float(), hr_b)
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    if a.optimizer == "sgd":
        nn.utils.clip_grad_norm_(run.model.parameters(), 0.5)
    run.opt.step()
    run.step += 1
    return loss


def agree_to_stop(run: Run, started: float) -> bool:
    """Whether this invocation ends here (``stop_after`` minutes or ``stop_step``). Under
    torchrun every rank must agree on when to stop: rank 0's clock decides, and its
    elapsed time replaces each rank's."""
    a = run.a
    stop = (a.stop_after is not None and time.monotonic() - started > a.stop_after * 60
            ) or (a.stop_step is not None and run.step >= a.stop_step)
    if run.distributed:
        t = torch.tensor([run.elapsed, float(stop)], device=run.device, dtype=torch.float64)
        torch_dist.broadcast(t, 0)
        run.elapsed, stop = float(t[0]), bool(t[1])
    return stop


def log_validation(run: Run, losses: _LossSum, lr_now: float, log: Log) -> float | None:
    """Rank 0: validate, add a row to ``log.csv`` and a line to ``log`` (the mean loss since
    the last row), export ``best.safetensors`` on a new best PSNR; returns the PSNR (None
    without ``val``)."""
    a = run.a
    vp, vs = validate(run.model, a.val, a.scale, run.device)
    mean_loss = losses.take(empty=0.0)
    run.csv.writerow([run.step, round(run.elapsed, 1), mean_loss, lr_now,
                      round(vp, 4), round(vs, 5)])
    run.log_file.flush()
    val_text = f"val {vp:.3f} dB {vs:.4f}" if a.val else "no --val"
    log(f"step {run.step} {run.elapsed / 60:.1f} min loss {mean_loss:.4g} "
        f"lr {lr_now:.2e} {val_text}")
    if vp > run.best:  # never without --val (nan)
        run.best = vp
        export_weights(run, "best.safetensors", vp, vs)
    return vp if a.val else None


class _Reporter:
    """Rank 0's ``{"stage": "train", ...}`` events for ``on_progress``, at most every half
    second: the mean training loss since the last event and the last validation PSNR."""

    def __init__(self, run: Run, on_progress: OnProgress) -> None:
        self.run, self.on_progress = run, on_progress
        self.losses = _LossSum(run.device)
        self.last = time.monotonic()
        self.val_psnr: float | None = None

    def __call__(self, force: bool = False) -> None:
        run = self.run
        if not run.main or self.on_progress is None:
            return
        now = time.monotonic()
        if not force and now - self.last < 0.5:
            return
        self.last = now
        self.on_progress({"stage": "train", "step": run.step, "progress": min(progress(run), 1.0),
                          "elapsed": run.elapsed, "loss": self.losses.take(),
                          "val_psnr": self.val_psnr})


def train_loop(run: Run, train_model: nn.Module, log: Log, on_progress: OnProgress) -> None:
    """Steps until the schedule ends or this invocation stops (:func:`agree_to_stop`);
    validation every ``val_every`` steps and at the end, a checkpoint every ``ckpt_minutes``
    and at the end."""
    a = run.a
    crit = nn.L1Loss() if a.loss == "l1" else nn.MSELoss()
    use_bf16 = train_in_bf16(a.precision, run.device.type)
    last_ckpt = started = time.monotonic()
    t0 = time.monotonic() - run.elapsed
    since_val = _LossSum(run.device)  # for log.csv's rows
    report = _Reporter(run, on_progress)  # for the display
    while progress(run) < 1.0:
        lr_now = learning_rate(a, progress(run))
        loss = train_step(run, train_model, crit, lr_now, use_bf16)
        since_val.add(loss)
        report.losses.add(loss)
        run.elapsed = time.monotonic() - t0
        stop = agree_to_stop(run, started)
        done = progress(run) >= 1.0 or stop
        if run.main and (run.step % a.val_every == 0 or done):
            report.val_psnr = log_validation(run, since_val, lr_now, log)
        report(force=done)
        if run.main and (time.monotonic() - last_ckpt > a.ckpt_minutes * 60 or done):
            save_checkpoint(run)
            last_ckpt = time.monotonic()
        if done:
            break


def run_training(a: TrainArgs, log: Log = print, on_progress: OnProgress = None) -> DSRN:
    """Run (or resume) one training run; exports ``last.safetensors`` into ``a.out``.

    Every input is checked first (:func:`check_inputs`, raises :class:`TrainInputError`).
    ``log`` gets one line per validation and about the data cache; ``on_progress`` (rank 0
    only) gets ``{"stage": "prepare", "done": i, "total": n}`` per prepared image, then
    ``{"stage": "train", "step", "progress" (0..1 of the schedule), "elapsed" (s),
    "loss" (mean training loss since the last report; None before the first),
    "val_psnr" (dB of the last validation; None before it)}`` at most every half second.
    Ctrl-C (KeyboardInterrupt) writes a checkpoint, then propagates: ``resume`` continues.
    """
    rank = int(os.environ.get("RANK", 0))
    check_inputs(a, check_out=rank == 0)
    device, distributed = start_processes(a.device)
    main = rank == 0
    out = prepare_out(a, main)
    torch.manual_seed(a.seed)
    model, opt = build_model(a, device, log)
    sampler = build_sampler(a, out, device, rank, log, on_progress)
    run = Run(a, out, device, main, distributed, model, opt, sampler)
    resume(run, log)
    train_model = (
        nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda"
                                            else None)
        if distributed else model
    )
    open_log(run)
    try:
        train_loop(run, train_model, log, on_progress)
    except KeyboardInterrupt:
        if main and run.step > 0:
            save_checkpoint(run)
            log(f"interrupted at step {run.step}: checkpoint saved in {out / 'ckpt.pt'}; "
                "continue with --resume")
        if run.log_file is not None:
            run.log_file.close()
        raise
    if main:
        vp, vs = validate(model, a.val, a.scale, device)
        export_weights(run, "last.safetensors", vp, vs)
        run.log_file.close()
    if distributed:
        torch_dist.barrier()
        torch_dist.destroy_process_group()
    return model
