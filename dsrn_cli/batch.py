"""The batch runner: plan the jobs, then decode, upscale and encode as a pipeline.

Three stages overlap so the device never waits for the CPU: a reader thread decodes
the next images, the calling thread runs the network and the per-pixel work (on the
model's device), and a small pool of writer threads encodes and writes (Pillow's
encoders release the GIL). Queues are bounded, so memory stays at a few images however
long the batch. Records keep the planned order; Ctrl-C stops reading, lets the writes
in flight finish, and the caller still gets every record so far.

Under ``torchrun`` every rank plans the same list and takes every ``world``-th job;
rank 0 gathers the records (gloo object collectives) for one summary and one JSON.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .backends import Backend
from .imageio import list_images
from .model import DSRN
from .upscale import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_PNG_LEVEL,
    FORMATS,
    Decoded,
    UpscaleError,
    read_input,
    render,
    write_output,
)

FORMAT_EXT = {"png": ".png", "jpg": ".jpg", "jpeg": ".jpg", "webp": ".webp", "tiff": ".tif"}
SKIP_EXISTS = "output exists (use --overwrite)"
READ_AHEAD = 2  # decoded images waiting for the device


def writer_count() -> int:
    """A small pool: encoding is the slowest stage, but each writer holds one image."""
    return max(2, min(8, (os.cpu_count() or 2) // 2))


@dataclass
class Job:
    """One planned conversion; ``error`` set means it fails before any work (bad input)."""

    src: Path
    dst: Path | None
    error: str | None = None


@dataclass
class Options:
    """How every job of a batch is converted."""

    scale: int
    tile: int | None = None
    fmt: str = "same"  # the CLI's --format
    quality: int | None = None
    png_level: int = DEFAULT_PNG_LEVEL
    max_pixels: int = DEFAULT_MAX_PIXELS
    overwrite: bool = False
    debug: bool = False
    writers: int = field(default_factory=writer_count)


@dataclass
class Tally:
    records: list[dict[str, Any]] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)  # summed seconds per stage

    def count(self, status: str) -> int:
        return sum(r["status"] == status for r in self.records)

    def summary(self, seconds: float) -> str:
        line = (
            f"done {self.count('done')}, skipped {self.count('skipped')}, "
            f"failed {self.count('failed')} ({seconds:.1f} s)"
        )
        exists = sum(r["status"] == "skipped" and r["error"] == SKIP_EXISTS for r in self.records)
        if exists:  # why, once for the batch rather than once per file
            line += f"\n{exists} skipped: output exists — use --overwrite"
        used = self.weights_line()
        return f"{line}\n{used}" if used else line

    def weights_line(self) -> str:
        """Which weights the done files used, most used first (``--model auto`` picks per
        input), e.g. ``weights: dsrn_lite_x2 (3 files), dsrn_lite-jpeg_x2 (1 file)``;
        empty when no done record names its weights."""
        used = Counter(Path(r["weights"]).stem for r in self.records
                       if r["status"] == "done" and r.get("weights"))
        parts = [f"{name} ({n} file{'s' * (n != 1)})" for name, n in used.most_common()]
        return "weights: " + ", ".join(parts) if parts else ""


# ------------------------------------------------------------------------- planning


def _out_ext(src: Path, fmt: str) -> str:
    if fmt == "same":
        return src.suffix if src.suffix.lower() in FORMATS else ".png"
    return FORMAT_EXT[fmt]


def _named(src: Path, scale: int, fmt: str) -> str:
    return f"{src.stem}_x{scale}{_out_ext(src, fmt)}"


def plan(
    inputs: list[Path], output: Path | None, scale: int, fmt: str, recursive: bool
) -> list[Job]:
    """Pair every input image with its output path.

    One input file: ``-o`` is the output file (or a folder to put it in). Otherwise ``-o``
    is a folder: files keep their names, folder trees are mirrored under it. Without
    ``-o`` outputs go next to their inputs as ``NAME_xS.EXT``.
    """
    single = len(inputs) == 1 and not inputs[0].is_dir()
    jobs: list[Job] = []
    for inp in inputs:
        if inp.is_dir():
            found = list_images(inp, recursive)
            if not found:
                jobs.append(Job(inp, None, "is a directory with no images in it"))
            for src in found:
                if output is None:
                    jobs.append(Job(src, src.with_name(_named(src, scale, fmt))))
                else:
                    rel = src.relative_to(inp).with_suffix(_out_ext(src, fmt))
                    jobs.append(Job(src, output / rel))
        elif not inp.exists():
            jobs.append(Job(inp, None, "no such file"))
        elif output is None:
            jobs.append(Job(inp, inp.with_name(_named(inp, scale, fmt))))
        elif single and not (output.is_dir() or str(output).endswith(("/", "\\"))):
            jobs.append(Job(inp, output))
        else:
            jobs.append(Job(inp, output / _named(inp, scale, fmt)))
    # Without -o, a re-run over a folder must not upscale last run's outputs again.
    planned = {j.dst.resolve() for j in jobs if j.dst is not None}
    return [j for j in jobs if j.src.resolve() not in planned or not j.src.is_file()]


def record(job: Job, status: str, error: str | None = None) -> dict[str, Any]:
    return {
        "input": str(job.src),
        "output": str(job.dst) if job.dst else None,
        "status": status,
        "error": error,
        "seconds": 0.0,
        "size_in": None,
        "size_out": None,
        "weights": None,
    }


# The network for one job and the name of its weights (``--model auto`` picks per input).
NetFor = Callable[[Job], tuple[Backend | DSRN, str | None]]


def _as_net_for(net: Backend | DSRN | NetFor) -> NetFor:
    if isinstance(net, Backend | DSRN):
        return lambda _job: (net, None)
    return net


def precheck(jobs: list[Job], overwrite: bool) -> list[dict[str, Any] | None]:
    """Records for the jobs decided before any work (bad input, skip), None for the rest.

    Two inputs planned onto one output: the later one is skipped, as if the earlier had
    already written it (what a one-by-one run does), on every rank alike.
    """
    out: list[dict[str, Any] | None] = []
    claimed: set[Path] = set()
    for job in jobs:
        if job.error is not None or job.dst is None:
            out.append(record(job, "failed", job.error))
            continue
        dst = job.dst.resolve()
        if dst == job.src.resolve():
            out.append(record(job, "failed", "the output would overwrite the input"))
        elif (job.dst.exists() and not overwrite) or dst in claimed:
            out.append(record(job, "skipped", SKIP_EXISTS))
        else:
            out.append(None)
        claimed.add(dst)
    return out


# ------------------------------------------------------------------------- the runner


def _error_text(e: BaseException, debug: bool) -> str:
    """One line for a failed file; a bug or resource problem too, with the type named."""
    if debug:
        traceback.print_exception(e, file=sys.stderr)
    return str(e) if isinstance(e, UpscaleError) else f"{type(e).__name__}: {e}"


def _pil_format(job: Job, fmt: str) -> str:
    if fmt != "same":
        return FORMATS[FORMAT_EXT[fmt]]
    assert job.dst is not None
    found = FORMATS.get(job.dst.suffix.lower())
    if found is None:
        raise UpscaleError(f"cannot tell the output format from {job.dst.name!r}")
    return found


class _Reader(threading.Thread):
    """Decodes the jobs in order into a bounded queue; ``None`` ends it."""

    def __init__(self, todo: list[int], jobs: list[Job], opts: Options) -> None:
        super().__init__(daemon=True, name="dsrn-reader")
        self.todo, self.jobs, self.opts = todo, jobs, opts
        self.q: queue.Queue = queue.Queue(maxsize=READ_AHEAD)
        self.stop = threading.Event()
        self.seconds = 0.0

    def _put(self, item: Any) -> bool:
        while not self.stop.is_set():
            try:
                self.q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run(self) -> None:
        for i in self.todo:
            if self.stop.is_set():
                return
            t0 = time.perf_counter()
            try:
                item = (i, t0, read_input(self.jobs[i].src, self.opts.max_pixels), None)
            except Exception as e:  # every failure is that file's, never the batch's
                item = (i, t0, None, _error_text(e, self.opts.debug))
            self.seconds += time.perf_counter() - t0
            if not self._put(item):
                return
        self._put(None)


def release_large_frees() -> None:
    """Ask glibc to give large freed blocks back to the OS at once.

    Every strip allocates and frees a few arrays of several MB; glibc's adaptive mmap
    threshold soon keeps such blocks in per-thread heaps instead, so RSS creeps up (27 MB
    more on a 2400x160 -> x4 run). A fixed 1 MiB threshold stops that (no-op outside
    glibc).
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def run_jobs(
    jobs: list[Job],
    indices: list[int],
    net: Backend | DSRN | NetFor,
    opts: Options,
    console: Console,
    on_record: Callable[[], None] = lambda: None,
) -> tuple[dict[int, dict[str, Any]], dict[str, float], bool]:
    """Convert ``jobs[i]`` for ``i`` in ``indices`` with ``net`` (or ``net(job)``'s choice).

    Returns the records by job index, the summed seconds of each stage and whether it
    was interrupted. ``on_record`` is called once per finished job (progress bars).
    """
    release_large_frees()
    net_for = _as_net_for(net)
    records: dict[int, dict[str, Any]] = {}
    stages = {"read": 0.0, "upscale": 0.0, "write": 0.0}
    lock = threading.Lock()

    def finish(i: int, rec: dict[str, Any]) -> None:
        if rec["status"] == "failed":
            console.print(
                f"[red]failed:[/red] {jobs[i].src}: {rec['error']}", highlight=False, soft_wrap=True
            )
        with lock:
            records[i] = rec
        on_record()

    pre = precheck([jobs[i] for i in indices], opts.overwrite)
    todo = []
    for i, rec in zip(indices, pre, strict=True):
        if rec is None:
            todo.append(i)
        else:
            finish(i, rec)

    def write(i: int, t0: float, img: Any, decoded: Decoded, fmt: str, used: str | None) -> None:
        job = jobs[i]
        assert job.dst is not None
        tw = time.perf_counter()
        try:
            size = write_output(img, job.dst, fmt, opts.quality, decoded, opts.png_level)
            rec = record(job, "done")
            rec.update(seconds=round(time.perf_counter() - t0, 3), size_in=list(decoded.size),
                       size_out=list(size), weights=used)  # fmt: skip
        except Exception as e:
            rec = record(job, "failed", _error_text(e, opts.debug))
        with lock:
            stages["write"] += time.perf_counter() - tw
        finish(i, rec)

    reader = _Reader(todo, jobs, opts)
    slots = threading.Semaphore(opts.writers + 1)  # upscaled images not yet written, at most
    pool = ThreadPoolExecutor(max_workers=opts.writers, thread_name_prefix="dsrn-writer")
    interrupted = False
    reader.start()
    try:
        while (item := reader.q.get()) is not None:
            i, t0, decoded, error = item
            if error is not None:
                finish(i, record(jobs[i], "failed", error))
                continue
            tu = time.perf_counter()
            try:
                fmt = _pil_format(jobs[i], opts.fmt)
                job_net, used = net_for(jobs[i])
                img = render(decoded.arr, decoded.mode, opts.scale, job_net, opts.tile)
            except KeyboardInterrupt:
                raise
            except Exception as e:
                finish(i, record(jobs[i], "failed", _error_text(e, opts.debug)))
                continue
            finally:
                stages["upscale"] += time.perf_counter() - tu
            decoded.arr = decoded.arr[:0]  # the writer needs only the metadata
            slots.acquire()
            fut: Future = pool.submit(write, i, t0, img, decoded, fmt, used)
            fut.add_done_callback(lambda _f: slots.release())
            del img
    except KeyboardInterrupt:
        interrupted = True
    finally:
        reader.stop.set()
        try:  # images already upscaled are still written (a few, bounded by the slots)
            pool.shutdown(wait=True)
        except KeyboardInterrupt:  # a second Ctrl-C: only the writes already running
            interrupted = True
            pool.shutdown(wait=True, cancel_futures=True)
    stages["read"] = reader.seconds
    return records, stages, interrupted


# ------------------------------------------------------------------- ranks and totals


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


def _progress(console: Console, quiet: bool, total: int) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=quiet or total < 2 or not console.is_terminal,
        transient=True,
    )


def run_batch(
    jobs: list[Job],
    net: Backend | DSRN | NetFor,
    opts: Options,
    console: Console,
    json_path: Path | None = None,
    quiet: bool = False,
) -> int:
    """Run the planned jobs (this rank's share under torchrun), report, and return the
    exit code: 0 all done or skipped, 1 any failed, 130 interrupted."""
    rank, world, _ = rank_info()
    if world > 1 and not torch.distributed.is_initialized():
        # CPU collectives for a few records. Ranks finish their shares at different times
        # and rank 0 waits at the gather for the last: no 30-minute default timeout.
        torch.distributed.init_process_group("gloo", timeout=timedelta(days=7))
    mine = list(range(rank, len(jobs), world))
    t0 = time.perf_counter()
    with _progress(console, quiet or rank != 0, len(mine)) as bar:
        task = bar.add_task("upscaling", total=len(mine))
        records, stages, interrupted = run_jobs(
            jobs, mine, net, opts, console, lambda: bar.advance(task)
        )
    if world > 1:
        parts: list[Any] = [None] * world if rank == 0 else []
        torch.distributed.gather_object(
            (records, stages, interrupted), parts if rank == 0 else None, dst=0
        )
        torch.distributed.destroy_process_group()
        if rank != 0:
            return 130 if interrupted else 0  # rank 0 reports for everyone
        records, interrupted = {}, False
        for recs, _, stopped in parts:
            records.update(recs)
            interrupted |= stopped
        stages = {k: sum(p[1][k] for p in parts) for k in stages}
    tally = Tally([records[i] for i in sorted(records)], stages)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(tally.records, indent=1) + "\n")
    seconds = time.perf_counter() - t0
    if interrupted:
        console.print(f"interrupted: {tally.summary(seconds)}", highlight=False)
        return 130
    if not quiet or tally.count("failed"):
        console.print(tally.summary(seconds), highlight=False)
    return 1 if tally.count("failed") else 0
