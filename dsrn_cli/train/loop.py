"""Training (spec section 3): patches in, checkpoints, a CSV log and safetensors out.

One process trains on its device; under ``torchrun`` each rank draws its own patches
and DistributedDataParallel averages the gradients (NCCL on GPUs, gloo on CPUs).
Every run is resumable: the checkpoint holds the weights, the optimiser, the step,
the elapsed time and the sampler's RNG state.
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

import torch
import torch.distributed as torch_dist
from PIL import Image
from torch import nn

from ..evaluation.bench import evaluate
from ..files.imageio import list_images
from ..model.network import DSRN, get_config
from ..model.weights import load_matching, save_weights
from ..runtime.device import pick_device
from ..runtime.precision import train_in_bf16
from .data import (
    AUG_FACTORS,
    PatchSampler,
    crop_context,
    list_training_files,
    parse_jpeg_range,
    prepare_pairs,
)


@dataclass
class TrainArgs:
    scale: int
    data: list[str]
    out: str
    config: str = "lite"
    steps_t: int | None = None  # unroll T (None: the configuration's)
    minutes: float | None = None  # the schedule's length in training minutes
    steps: int | None = None  # ... or in steps
    stop_after: float | None = None  # end this invocation after M minutes (resume later)
    stop_step: int | None = None  # ... or at this step
    init: str | None = None
    resume: bool = False
    val: str | None = None
    device: str = "auto"
    optimizer: str = "adam"  # "adam" (cosine, L1 by default) or "sgd" (the paper's)
    loss: str = "l1"  # "l1" or "mse" (the paper's)
    lr: float | None = None
    batch: int = 16
    patch: int = 128  # HR patch side (rounded down to a multiple of the scale)
    context: int = 0  # LR pixels seen around each patch but not scored (17: a tile's margin)
    val_every: int = 500
    ckpt_minutes: float = 3.0
    seed: int = 0
    bf16: bool = True  # autocast on CUDA only
    precision: str = "auto"  # "auto": bf16 autocast on CUDA (if bf16) and on CPUs with AMX
    cache: str | None = None
    jpeg: str | None = None  # "QMIN-QMAX": JPEG-compress LR patches at a random quality
    jpeg_clean_share: float = 0.2  # ... except this share, left clean
    overwrite: bool = False  # replace an earlier run's files in ``out`` (else refused)


# The files a run writes into its folder; any of them means "a run is already there".
RUN_FILES = ("ckpt.pt", "log.csv", "best.safetensors", "last.safetensors", "args.json")
# Names of the standard training sets: not downloadable here, so they must be folders.
TRAINING_SETS = {"t91": "T91", "bsd200": "BSD200", "general100": "General100",
                 "div2k": "DIV2K", "bsd300": "BSD300", "bsd500": "BSD500"}


class TrainInputError(ValueError):
    """An input of a training run is unusable; the message is one user-facing line."""


def existing_run(out: Path) -> list[str]:
    """The run files (``RUN_FILES``) already in ``out``."""
    return [n for n in RUN_FILES if (Path(out) / n).exists()]


def check_inputs(a: TrainArgs, check_out: bool = True) -> None:
    """Check every input of ``a`` before any work or any file is written.

    Raises :class:`TrainInputError` (one line) for: a schedule or option out of range, a
    ``--data`` entry that is not a folder of images (a training-set name such as T91 gets
    a hint: they are not downloaded), no training image large enough for the patch, a
    ``--val`` folder without images, an ``--init`` file that is missing, or an ``out``
    folder holding an earlier run without ``resume`` or ``overwrite`` (unless not
    ``check_out``: under torchrun only rank 0 looks, before it writes there itself).
    """
    if a.scale not in (2, 3, 4):
        raise TrainInputError(f"--scale must be 2, 3 or 4, not {a.scale}")
    if (a.minutes is None) == (a.steps is None):
        raise TrainInputError("give exactly one of --minutes or --steps")
    if (a.minutes is not None and not a.minutes > 0) or (a.steps is not None and a.steps < 1):
        raise TrainInputError("--minutes / --steps must be positive")
    for flag, value in (("--batch", a.batch), ("--val-every", a.val_every)):
        if value < 1:
            raise TrainInputError(f"{flag} must be at least 1, not {value}")
    if a.context < 0:
        raise TrainInputError(f"--context must be 0 or more, not {a.context}")
    if a.lr is not None and not a.lr > 0:
        raise TrainInputError(f"--lr must be positive, not {a.lr}")
    if a.stop_after is not None and not a.stop_after > 0:
        raise TrainInputError(f"--stop-after must be positive, not {a.stop_after}")
    if a.jpeg:
        try:
            parse_jpeg_range(a.jpeg)
        except ValueError as e:
            raise TrainInputError(str(e)) from None
    if not a.data:
        raise TrainInputError("give at least one --data folder")
    for d in a.data:
        if not Path(d).is_dir():
            name = TRAINING_SETS.get(Path(d).name.lower())
            hint = (f"; dsrn does not download training sets: pass the folder of {name}'s HR "
                    f"images, e.g. --data ../shared/data/train/{name}" if name else "")
            raise TrainInputError(f"--data {d}: no such folder{hint}")
        if not list_images(d):
            raise TrainInputError(f"--data {d}: no images in this folder")
    p = max(a.patch // a.scale, 8)
    if not any(_lr_side(f, a.scale) >= p for f, _ in list_training_files(a.data)):
        raise TrainInputError(
            f"no training image is at least {p * a.scale} pixels on its shorter side "
            f"(--patch {a.patch} at x{a.scale}); use a smaller --patch"
        )
    if a.val:
        if not Path(a.val).is_dir():
            raise TrainInputError(f"--val {a.val}: no such folder")
        if not list_images(a.val):
            raise TrainInputError(f"--val {a.val}: no images in this folder")
        small = [f.name for f in list_images(a.val) if _lr_side(f, a.scale) < 8]
        if small:
            raise TrainInputError(f"--val {a.val}: {small[0]} is too small for x{a.scale}")
    if a.init and not a.resume and not Path(a.init).is_file():
        raise TrainInputError(f"--init {a.init}: no such file")
    found = existing_run(Path(a.out)) if check_out else []
    if found and not (a.resume or a.overwrite):
        raise TrainInputError(
            f"{a.out} already holds a run ({', '.join(found)}): --resume continues it, "
            "--overwrite replaces it, or choose another --out"
        )


def _lr_side(path: Path, scale: int) -> int:
    """The shorter side of an image's LR version at ``scale``, from its header only."""
    try:
        with Image.open(path) as im:
            return min(im.size) // scale
    except OSError as e:  # PIL's UnidentifiedImageError too
        raise TrainInputError(f"{path}: not a readable image ({e})") from None


def learning_rate(a: TrainArgs, progress: float) -> float:
    """Cosine from the base rate for Adam; the paper's /10 steps (at 50/75/90 %) for SGD."""
    if a.optimizer == "sgd":
        base = a.lr or 0.01
        return base * 0.1 ** sum(progress >= m for m in (0.5, 0.75, 0.9))
    base = a.lr or 1e-3
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def validate(model: nn.Module, val_dir: str | None, scale: int, device) -> tuple[float, float]:
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


def run_training(
    a: TrainArgs, log: Callable[[str], object] = print,
    on_progress: Callable[[dict], object] | None = None,
) -> DSRN:
    """Run (or resume) one training run; exports ``last.safetensors`` into ``a.out``.

    Every input is checked first (:func:`check_inputs`, raises :class:`TrainInputError`).
    ``log`` gets one line per validation and about the data cache; ``on_progress`` (rank 0
    only) gets ``{"stage": "prepare", "done": i, "total": n}`` per prepared image, then
    ``{"stage": "train", "step", "progress" (0..1 of the schedule), "elapsed" (s),
    "loss" (mean training loss since the last report; None before the first),
    "val_psnr" (dB of the last validation; None before it)}`` at most every half second.
    Ctrl-C (KeyboardInterrupt) writes a checkpoint, then propagates: ``resume`` continues.
    """
    distributed = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
    rank = int(os.environ.get("RANK", 0))
    check_inputs(a, check_out=rank == 0)
    device = pick_device(a.device)
    if distributed:
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(device)
        torch_dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    main = rank == 0
    out = Path(a.out)
    if main and a.overwrite and not a.resume:
        for name in existing_run(out):
            (out / name).unlink()
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(a.seed)

    cfg_over = {"steps": a.steps_t} if a.steps_t else {}
    cfg = get_config(a.config, a.scale, **cfg_over)
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
    p = max(a.patch // a.scale, 8)
    jpeg = parse_jpeg_range(a.jpeg) if a.jpeg else None
    sampler = PatchSampler(pairs, a.scale, p, a.batch, device, seed=a.seed + 1000 * rank,
                           jpeg=jpeg, clean_share=a.jpeg_clean_share, context=a.context)

    step, elapsed, best = 0, 0.0, -1.0
    ckpt_path = out / "ckpt.pt"
    if a.resume and not ckpt_path.exists() and main:
        log(f"no checkpoint in {out}: starting a new run")
    if a.resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=device, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, elapsed, best = ck["step"], ck["elapsed"], ck.get("best", -1.0)
        sampler.gen.set_state(ck["sampler_rng"])
        torch.set_rng_state(ck["torch_rng"])
        log(f"resumed at step {step} ({elapsed / 60:.1f} min)")
    train_model = (
        nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda"
                                            else None)
        if distributed else model
    )
    crit = nn.L1Loss() if a.loss == "l1" else nn.MSELoss()
    log_path = out / "log.csv"
    new_log = not log_path.exists()
    logf = open(log_path, "a", newline="") if main else None
    writer = csv.writer(logf) if main else None
    if main and new_log:
        writer.writerow(["step", "elapsed_s", "loss", "lr", "val_psnr", "val_ssim"])
    if main:
        (out / "args.json").write_text(json.dumps(asdict(a), indent=1))

    def progress() -> float:
        if a.steps is not None:
            return step / a.steps
        return elapsed / (a.minutes * 60)

    def checkpoint() -> None:
        _atomic_save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                      "elapsed": elapsed, "best": best, "sampler_rng": sampler.gen.get_state(),
                      "torch_rng": torch.get_rng_state(), "args": asdict(a)}, ckpt_path)

    def export(name: str, val_psnr: float, val_ssim: float) -> Path:
        path = out / name
        save_weights(model, path, {
            "scale": a.scale, "config_name": a.config, "train_steps": step,
            "train_minutes": round(elapsed / 60, 2), "data": [Path(d).name for d in a.data],
            "optimizer": a.optimizer, "loss": a.loss, "batch": a.batch, "patch": p * a.scale,
            "context": a.context,
            "val": Path(a.val).name if a.val else "", "val_psnr": round(val_psnr, 4),
            "val_ssim": round(val_ssim, 5), "date": dt.date.today().isoformat(),
            "device": device.type,
            **({"jpeg": f"{jpeg[0]}-{jpeg[1]}", "jpeg_clean_share": a.jpeg_clean_share}
               if jpeg else {}),
        })
        return path

    use_bf16 = train_in_bf16(a.precision, device.type, a.bf16)
    last_ckpt = started = last_report = time.monotonic()
    t0 = time.monotonic() - elapsed
    # The loss of every step is summed on the device (no .item(), so no GPU sync per step)
    # and averaged when it is read: for the log since the last validation, for the
    # progress display since the last report.
    running = torch.zeros((), device=device, dtype=torch.float64)
    n_run = 0
    shown = torch.zeros((), device=device, dtype=torch.float64)
    n_shown = 0
    last_val: float | None = None

    def report(force: bool = False) -> None:
        nonlocal shown, n_shown, last_report
        if not main or on_progress is None:
            return
        now = time.monotonic()
        if not force and now - last_report < 0.5:
            return
        loss_now = float(shown) / n_shown if n_shown else None
        shown, n_shown, last_report = torch.zeros_like(shown), 0, now
        on_progress({"stage": "train", "step": step, "progress": min(progress(), 1.0),
                     "elapsed": elapsed, "loss": loss_now, "val_psnr": last_val})

    try:
        while progress() < 1.0:
            lr_now = learning_rate(a, progress())
            for g in opt.param_groups:
                g["lr"] = lr_now
            lr_b, hr_b = sampler()
            if device.type == "cuda":
                lr_b = lr_b.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                pred = crop_context(train_model(lr_b), a.context, a.scale)
            loss = crit(pred.float(), hr_b)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if a.optimizer == "sgd":
                nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            opt.step()
            step += 1
            running += loss.detach()
            shown += loss.detach()
            n_run, n_shown = n_run + 1, n_shown + 1
            elapsed = time.monotonic() - t0
            stop = (a.stop_after is not None and time.monotonic() - started > a.stop_after * 60
                    ) or (a.stop_step is not None and step >= a.stop_step)
            if distributed:  # every rank must agree on when to stop: rank 0's clock decides
                t = torch.tensor([elapsed, float(stop)], device=device, dtype=torch.float64)
                torch_dist.broadcast(t, 0)
                elapsed, stop = float(t[0]), bool(t[1])
            done = progress() >= 1.0 or stop
            if main and (step % a.val_every == 0 or done):
                vp, vs = validate(model, a.val, a.scale, device)
                mean_loss = float(running) / max(n_run, 1)
                writer.writerow([step, round(elapsed, 1), mean_loss, lr_now,
                                 round(vp, 4), round(vs, 5)])
                logf.flush()
                val_text = f"val {vp:.3f} dB {vs:.4f}" if a.val else "no --val"
                log(f"step {step} {elapsed / 60:.1f} min loss {mean_loss:.4g} "
                    f"lr {lr_now:.2e} {val_text}")
                running, n_run = torch.zeros_like(running), 0
                last_val = vp if a.val else None
                if vp > best:  # never without --val (nan)
                    best = vp
                    export("best.safetensors", vp, vs)
            report(force=done)
            if main and (time.monotonic() - last_ckpt > a.ckpt_minutes * 60 or done):
                checkpoint()
                last_ckpt = time.monotonic()
            if done:
                break
    except KeyboardInterrupt:
        if main and step > 0:
            checkpoint()
            log(f"interrupted at step {step}: checkpoint saved in {ckpt_path}; "
                "continue with --resume")
        if logf is not None:
            logf.close()
        raise
    if main:
        vp, vs = validate(model, a.val, a.scale, device)
        export("last.safetensors", vp, vs)
        logf.close()
    if distributed:
        torch_dist.barrier()
        torch_dist.destroy_process_group()
    return model
