"""The Dual-State Recurrent Network (Han et al., CVPR 2018): the paper's layers, except
that the maps between the states (``f_up``, ``f_down``) use kernel = stride = scale, which
treats every HR pixel alike at every scale (a 3x3 kernel at stride 4 would leave HR pixels
that no LR pixel reaches).

Two states exchange information at every step ``t = 1..T``::

    s_h^t = f_up(s_l^t)    + f_hr(s_h^{t-1})
    s_l^t = f_lr(s_l^{t-1}) + f_down(s_h^{t-1})      # delayed HR -> LR feedback

All transitions are shared over the T steps (so the parameter count does not depend
on T); each state gets its own scalar PReLU per step (2T of them). The prediction is
the mean of ``f_output(s_h^t)`` over t, computed as ``f_output(mean_t s_h^t)`` because
``f_output`` is linear. It is a residual on the bicubic upscale of the LR luma.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from ..pixels.resize import imresize_torch
from .config import DSRNConfig


class ResBlock(nn.Module):
    """``x + conv(relu(conv(x)))``: the paper's f_lr / f_hr.

    ``other``, the second transition into the same state, is added inside the block as
    ``conv(...) + (other + x)``: written so, both sums fuse into the convolutions that
    produce their operands (OpenVINO/oneDNN sum post-ops, about 5% of the CPU time of
    `lite`), where ``(x + conv(...)) + other`` leaves one unfused add per state and step.
    """

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor, other: torch.Tensor | None = None) -> torch.Tensor:
        skip = x if other is None else other + x
        return self.conv2(torch.relu(self.conv1(x))) + skip


class Transitions(nn.Module):
    """The four maps that move the states one step; shared over steps unless ablated."""

    def __init__(self, cfg: DSRNConfig) -> None:
        super().__init__()
        s = cfg.scale
        self.f_lr = ResBlock(cfg.c_lr)
        if not cfg.single_state:
            self.f_hr = ResBlock(cfg.c_hr)
            self.f_up = nn.ConvTranspose2d(cfg.c_lr, cfg.c_hr, kernel_size=s, stride=s)
            if cfg.feedback:
                self.f_down = nn.Conv2d(cfg.c_hr, cfg.c_lr, kernel_size=s, stride=s)


class DSRN(nn.Module):
    """Y in, Y out: ``forward(lr)`` maps ``N x 1 x h x w`` in [0, 1] to ``N x 1 x sh x sw``."""

    def __init__(self, cfg: DSRNConfig) -> None:
        super().__init__()
        self.cfg = cfg
        # s_l^0: conv-ReLU-conv with a 1x1 projection of the input as the skip.
        self.head1 = nn.Conv2d(1, cfg.c_first, 3, padding=1)
        self.head2 = nn.Conv2d(cfg.c_first, cfg.c_lr, 3, padding=1)
        self.head_skip = nn.Conv2d(1, cfg.c_lr, 1)
        n_blocks = 1 if cfg.shared else cfg.steps
        self.steps = nn.ModuleList(Transitions(cfg) for _ in range(n_blocks))
        self.prelu_lr = nn.ModuleList(nn.PReLU(1) for _ in range(cfg.steps))
        if cfg.single_state:
            self.tail_up = nn.ConvTranspose2d(cfg.c_lr, cfg.c_hr, cfg.scale, stride=cfg.scale)
        else:
            self.prelu_hr = nn.ModuleList(nn.PReLU(1) for _ in range(cfg.steps))
        self.f_output = nn.Conv2d(cfg.c_hr, 1, 3, padding=1)

    def hr_states(self, lr: torch.Tensor) -> Iterator[torch.Tensor]:
        """Yield the T HR states ``s_h^1..s_h^T`` (single-state: the upsampled LR states)."""
        cfg = self.cfg
        s_l = self.head2(torch.relu(self.head1(lr))) + self.head_skip(lr)
        s_h = None  # s_h^0 = 0: its transitions contribute nothing at t = 1
        for t in range(cfg.steps):
            f = self.steps[0 if cfg.shared else t]
            if cfg.single_state:
                s_l = self.prelu_lr[t](f.f_lr(s_l))
                yield self.tail_up(s_l)
                continue
            down = f.f_down(s_h) if cfg.feedback and s_h is not None else None
            s_l = self.prelu_lr[t](f.f_lr(s_l, down))
            up = f.f_up(s_l)
            s_h = self.prelu_hr[t](up if s_h is None else f.f_hr(s_h, up))
            yield s_h

    def residual(self, lr: torch.Tensor) -> torch.Tensor:
        """Averaged deep-supervision prediction of ``HR - bicubic(LR)``.

        A running sum of the states, so memory holds two HR states, not T.
        """
        total = None
        for s_h in self.hr_states(lr):
            total = s_h if total is None else total + s_h
        return self.f_output(total / self.cfg.steps)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return imresize_torch(lr, self.cfg.scale) + self.residual(lr)


def receptive_radius(cfg: DSRNConfig) -> int:
    """LR pixels on each side that can influence one output pixel (for tile overlaps).

    Counted in LR cells (an HR pixel's cell is the LR pixel it lies in). Head: two 3x3
    convs (2). Each step grows the LR state by its residual block (2); the HR paths grow
    no faster (f_up and f_down map a cell to itself, f_hr's 2 HR pixels are at most 1
    cell), so the LR chain sets the reach: 2 per step. The output conv adds 1 HR pixel
    (1 cell). Total ``2T + 3`` (17 for T = 7), exact for every config (the influence of
    one input pixel measured in tests/model/test_network.py); the bicubic base reaches only 2.
    Every kept pixel of a tile with this margin sees what a whole-image pass sees.
    """
    return 2 * cfg.steps + 3  # steps >= 1, so always past the base's 2


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
