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
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.distributed as torch_dist
from torch import nn

from .bench import evaluate
from .device import pick_device
from .imageio import list_images
from .model import DSRN, get_config
from .precision import train_in_bf16
from .trainset import PatchSampler, parse_jpeg_range, prepare_pairs
from .weights import load_matching, save_weights


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
    val_every: int = 500
    ckpt_minutes: float = 3.0
    seed: int = 0
    bf16: bool = True  # autocast on CUDA only
    precision: str = "auto"  # "auto": bf16 autocast on CUDA (if bf16) and on CPUs with AMX
    cache: str | None = None
    jpeg: str | None = None  # "QMIN-QMAX": JPEG-compress LR patches at a random quality
    jpeg_clean_share: float = 0.2  # ... except this share, left clean


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


def run_training(a: TrainArgs, log=print) -> DSRN:
    """Run (or resume) one training run; exports ``last.safetensors`` into ``a.out``."""
    if (a.minutes is None) == (a.steps is None):
        raise ValueError("give exactly one of --minutes or --steps")
    distributed = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
    rank = int(os.environ.get("RANK", 0))
    device = pick_device(a.device)
    if distributed:
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(device)
        torch_dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    main = rank == 0
    out = Path(a.out)
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
    pairs = prepare_pairs(a.data, a.scale, cache)
    p = max(a.patch // a.scale, 8)
    jpeg = parse_jpeg_range(a.jpeg) if a.jpeg else None
    sampler = PatchSampler(pairs, a.scale, p, a.batch, device, seed=a.seed + 1000 * rank,
                           jpeg=jpeg, clean_share=a.jpeg_clean_share)

    step, elapsed, best = 0, 0.0, -1.0
    ckpt_path = out / "ckpt.pt"
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
            "val": Path(a.val).name if a.val else "", "val_psnr": round(val_psnr, 4),
            "val_ssim": round(val_ssim, 5), "date": dt.date.today().isoformat(),
            "device": device.type,
            **({"jpeg": f"{jpeg[0]}-{jpeg[1]}", "jpeg_clean_share": a.jpeg_clean_share}
               if jpeg else {}),
        })
        return path

    use_bf16 = train_in_bf16(a.precision, device.type, a.bf16)
    last_ckpt = started = time.monotonic()
    t0 = time.monotonic() - elapsed
    running, n_run = 0.0, 0
    while progress() < 1.0:
        lr_now = learning_rate(a, progress())
        for g in opt.param_groups:
            g["lr"] = lr_now
        lr_b, hr_b = sampler()
        if device.type == "cuda":
            lr_b = lr_b.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            pred = train_model(lr_b)
        loss = crit(pred.float(), hr_b)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if a.optimizer == "sgd":
            nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        step += 1
        if step % 10 == 0:  # .item() waits for the GPU: not every step
            running, n_run = running + loss.item(), n_run + 1
        elapsed = time.monotonic() - t0
        stop = (a.stop_after is not None and time.monotonic() - started > a.stop_after * 60) or (
            a.stop_step is not None and step >= a.stop_step)
        if distributed:  # every rank must agree on when to stop: rank 0's clock decides
            t = torch.tensor([elapsed, float(stop)], device=device, dtype=torch.float64)
            torch_dist.broadcast(t, 0)
            elapsed, stop = float(t[0]), bool(t[1])
        done = progress() >= 1.0 or stop
        if main and (step % a.val_every == 0 or done):
            vp, vs = validate(model, a.val, a.scale, device)
            writer.writerow([step, round(elapsed, 1), running / max(n_run, 1), lr_now,
                             round(vp, 4), round(vs, 5)])
            logf.flush()
            log(f"step {step} {elapsed / 60:.1f} min loss {running / max(n_run, 1):.5f} "
                f"lr {lr_now:.2e} val {vp:.3f} dB {vs:.4f}")
            running, n_run = 0.0, 0
            if vp > best:
                best = vp
                export("best.safetensors", vp, vs)
        if main and (time.monotonic() - last_ckpt > a.ckpt_minutes * 60 or done):
            checkpoint()
            last_ckpt = time.monotonic()
        if done:
            break
    if main:
        vp, vs = validate(model, a.val, a.scale, device)
        export("last.safetensors", vp, vs)
        logf.close()
    if distributed:
        torch_dist.barrier()
        torch_dist.destroy_process_group()
    return model
