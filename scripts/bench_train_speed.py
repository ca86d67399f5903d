"""Training speed: steps/s and achieved GFLOP/s per named configuration (not a test).

Beside them, a plain large 3x3 convolution's GFLOP/s (forward + backward) measured in the
same run: the machine's practical ceiling. FLOPs are counted by torch's FlopCounterMode.

    python scripts/bench_train_speed.py [--device cpu] [--batch 4] [--patch 64] [--steps 3]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from dsrn_cli.model.config import CONFIGS, get_config
from dsrn_cli.model.network import DSRN


def timed(fn, steps: int, device: torch.device) -> float:
    fn()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / steps


def flops_of(fn) -> int:
    with FlopCounterMode(display=False) as fc:
        fn()
    return fc.get_total_flops()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--patch", type=int, default=64, help="HR patch side")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--scale", type=int, default=2)
    a = ap.parse_args()
    dev = torch.device(a.device)
    p = a.patch // a.scale

    # The ceiling: the best of a few plain 3x3 convolutions (forward + backward).
    ceiling, best_shape = 0.0, None
    for ch, side in ((64, 128), (128, 64), (128, 128)):
        conv = torch.nn.Conv2d(ch, ch, 3, padding=1).to(dev)
        x = torch.randn(a.batch, ch, side, side, device=dev, requires_grad=True)

        def conv_step() -> None:
            conv(x).sum().backward()

        rate = flops_of(conv_step) / timed(conv_step, max(a.steps, 3), dev) / 1e9
        if rate > ceiling:
            ceiling, best_shape = rate, (ch, side)
    print(f"device {dev}, threads {torch.get_num_threads()}, batch {a.batch}, "
          f"HR patch {a.patch}, x{a.scale}")
    print(f"plain 3x3 conv {best_shape[0]}ch {best_shape[1]}px fwd+bwd: {ceiling:.1f} GFLOP/s"
          " (ceiling)")
    for name in CONFIGS:
        model = DSRN(get_config(name, a.scale)).to(dev)
        opt = torch.optim.Adam(model.parameters())
        lr = torch.rand(a.batch, 1, p, p, device=dev)
        hr = torch.rand(a.batch, 1, p * a.scale, p * a.scale, device=dev)

        def step() -> None:
            loss = (model(lr) - hr).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

        flops = flops_of(step)
        dt = timed(step, a.steps, dev)
        print(f"{name:6s} {1 / dt:7.2f} steps/s  {flops / dt / 1e9:7.1f} GFLOP/s  "
              f"({flops / 1e9:.1f} GFLOP/step, {flops / dt / 1e9 / ceiling:.0%} of ceiling)")


if __name__ == "__main__":
    main()
