"""The processes of a run: torchrun's ranks (each takes every ``world``-th job; rank 0
gathers the records for one summary) and SIGTERM, which stops a run like Ctrl-C."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch


def rank_info() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) alone."""
    env = os.environ
    return int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0))


def rank_device(device: str) -> str:
    """Under torchrun each rank takes its own GPU (``LOCAL_RANK``)."""
    rank, world, local = rank_info()
    if world > 1 and device in ("auto", "cuda") and torch.cuda.is_available():
        return f"cuda:{local}"
    return device


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, a scheduler, torchrun) stops the run like Ctrl-C: reading stops,
    the writes in flight finish or remove their temp files, the summary is printed. The
    previous handler comes back afterwards. Only the main thread can install handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# What one rank's ``run_jobs`` returns: records by job index, seconds per stage, interrupted.
Shares = tuple[dict[int, dict[str, Any]], dict[str, float], bool]


def gather(mine: Shares, rank: int, world: int) -> Shares | None:
    """Every rank's records, stages and interruption merged on rank 0 (None elsewhere)."""
    parts: list[Any] = [None] * world if rank == 0 else []
    torch.distributed.gather_object(mine, parts if rank == 0 else None, dst=0)
    torch.distributed.destroy_process_group()
    if rank != 0:
        return None
    records: dict[int, dict[str, Any]] = {}
    interrupted = False
    for recs, _, stopped in parts:
        records.update(recs)
        interrupted |= stopped
    stages = {k: sum(p[1][k] for p in parts) for k in mine[1]}
    return records, stages, interrupted
