"""The batch runner: decode, upscale and encode the planned jobs as a pipeline.

Three stages overlap so the device never waits for the CPU: a reader thread decodes
the next images, the calling thread runs the network and the per-pixel work (on the
model's device), and a small pool of writer threads encodes and writes (Pillow's
encoders release the GIL). Queues are bounded, so memory stays at a few images however
long the batch. Records keep the planned order; Ctrl-C stops reading, lets the writes
in flight finish, and the caller still gets every record so far.

Under ``torchrun`` every rank plans the same list and takes every ``world``-th job;
rank 0 gathers the records (gloo object collectives, :mod:`dsrn_cli.run.ranks`) for one
summary and one JSON. The jobs come from :mod:`dsrn_cli.run.plan`; the records, summary
and exit code are :mod:`dsrn_cli.run.report`'s; the reader thread is
:mod:`dsrn_cli.run.reader`.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import torch

from ..api import render_picture
from ..files.imageio import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_PNG_LEVEL,
    Picture,
    UpscaleError,
    WriteOptions,
    write,
)
from ..files.partfiles import atomic_path, sweep
from ..files.video import DEFAULT_CODEC, VideoError
from ..model.network import DSRN
from ..pixels.outsize import SizeSpec, plan_factors
from ..runtime.backend import Backend
from .plan import Job, Plan, pil_format
from .ranks import gather, rank_info, sigterm_as_interrupt
from .reader import Reader
from .report import (
    SKIP_EXISTS,
    Bars,
    Console,
    Record,
    Report,
    error_text,
    print_failed,
    print_notes,
)
from .video import upscale_video, video_size


def writer_count() -> int:
    """A small pool: encoding is the slowest stage, but each writer holds one image."""
    return max(2, min(8, (os.cpu_count() or 2) // 2))


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
    background: tuple[int, int, int] = (255, 255, 255)  # alpha onto this for JPEG
    size: SizeSpec | None = None  # --outscale / --width / --height; None: ``scale``
    allowed: tuple[int, ...] = (2, 3, 4)  # network factors a chain may use
    codec: str = DEFAULT_CODEC  # videos: FFmpeg encoder
    crf: int | None = None  # videos: None is files.video.DEFAULT_CRF for x264/x265

    def spec(self) -> SizeSpec:
        return self.size or SizeSpec(scale=self.scale)


# The network for one job's pass of factor ``s`` (``first``: the pass that sees the input
# file) and the name of its weights (``--model auto`` picks per input).
NetFor = Callable[[Job, int, bool], tuple[Backend | DSRN, str | None]]


def _as_net_for(net: Backend | DSRN | NetFor) -> NetFor:
    if isinstance(net, Backend | DSRN):
        return lambda _job, _s, _first: (net, None)
    return net


def precheck(jobs: list[Job], overwrite: bool) -> list[Record | None]:
    """Records for the jobs decided before any work (bad input, skip), None for the rest.

    Two inputs planned onto one output: the later one is skipped, as if the earlier had
    already written it (what a one-by-one run does), on every rank alike.
    """
    out: list[Record | None] = []
    claimed: set[Path] = set()
    for job in jobs:
        if job.error is not None or job.dst is None:
            out.append(Record.of(job, "failed", job.error))
            continue
        dst = job.dst.resolve()
        if dst == job.src.resolve():
            out.append(Record.of(job, "failed", "the output would overwrite the input"))
        elif (job.dst.exists() and not overwrite) or dst in claimed:
            out.append(Record.of(job, "skipped", SKIP_EXISTS))
        else:
            out.append(None)
        claimed.add(dst)
    return out


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


@dataclass
class _Upscaled:
    """A still through the network, waiting for a writer."""

    pic: Picture
    size_in: tuple[int, int]
    fmt: str  # Pillow's format name
    used: str | None  # the weights' names, ``+``-joined for a chain
    scales: list[int]
    resized: bool
    precision: str


class _Run:
    """One rank's share of a batch: the records so far, the stages' seconds, the notes."""

    def __init__(
        self,
        jobs: list[Job],
        net: Backend | DSRN | NetFor,
        opts: Options,
        console: Console,
        on_record: Callable[[], None],
        on_frames: Callable[[int, int | None, int | None], None],
    ) -> None:
        self.jobs, self.net_for, self.opts, self.console = jobs, _as_net_for(net), opts, console
        self.on_record, self.on_frames = on_record, on_frames
        self.records: dict[int, dict[str, Any]] = {}
        self.stages = {"read": 0.0, "upscale": 0.0, "write": 0.0}
        self.lock = threading.Lock()
        self.noted: dict[str, list[int]] = {}  # each conversion note: the jobs it was about

    def finish(self, i: int, rec: Record) -> None:
        if rec.status == "failed":
            print_failed(self.console, self.jobs[i].src, rec.error)
        with self.lock:
            self.records[i] = rec.as_dict()
        self.on_record()

    def failed(self, i: int, e: BaseException) -> Record:
        return Record.of(self.jobs[i], "failed", error_text(e, self.opts.debug))

    def todo(self, indices: list[int]) -> list[int]:
        """The jobs left after the precheck (the others finish at once); temp files a
        killed run left in their folders are swept (never a live process's)."""
        pre = precheck([self.jobs[i] for i in indices], self.opts.overwrite)
        for folder in {self.jobs[i].dst.parent for i, rec in zip(indices, pre, strict=True)
                       if rec is None and self.jobs[i].dst is not None}:  # fmt: skip
            sweep(folder)
        todo = []
        for i, rec in zip(indices, pre, strict=True):
            if rec is None:
                todo.append(i)
            else:
                self.finish(i, rec)
        return todo

    def upscale(self, i: int, decoded: Picture) -> _Upscaled:
        """Still ``jobs[i]`` through its network chain (UpscaleError for a size that
        cannot be planned)."""
        job, opts = self.jobs[i], self.opts
        fmt = pil_format(job, opts.fmt)
        w, h = decoded.size
        try:
            scales, final = plan_factors(w, h, opts.spec(), opts.allowed)
        except ValueError as e:
            raise UpscaleError(str(e)) from None
        picked = [self.net_for(job, s, k == 0) for k, s in enumerate(scales)]
        used = "+".join(u for _, u in picked if u) or None
        img = render_picture(decoded, scales, [n for n, _ in picked], final, opts.tile)
        resized = final != (w * math.prod(scales), h * math.prod(scales))
        prec = getattr(picked[0][0], "precision", "fp32")  # a bare DSRN runs fp32
        return _Upscaled(img, decoded.size, fmt, used, scales, resized, prec)

    def encode(self, i: int, t0: float, up: _Upscaled) -> None:
        """Writes an upscaled still (on a writer thread) and finishes its job."""
        job, opts = self.jobs[i], self.opts
        assert job.dst is not None
        tw = time.perf_counter()
        try:
            wo = WriteOptions(up.fmt, opts.quality, opts.png_level, opts.background)
            written = write(job.dst, up.pic, wo)
            rec = Record.of(job, "done")
            rec.seconds = round(time.perf_counter() - t0, 3)
            rec.size_in, rec.size_out = list(up.size_in), list(written.size)
            rec.weights, rec.scales, rec.resized = up.used, up.scales, up.resized
            rec.notes, rec.frames, rec.precision = written.notes, len(up.pic.frames), up.precision
            with self.lock:
                for note in written.notes:
                    self.noted.setdefault(note, []).append(i)
        except Exception as e:
            rec = self.failed(i, e)
        with self.lock:
            self.stages["write"] += time.perf_counter() - tw
        self.finish(i, rec)

    def video(self, i: int, t0: float) -> Record:
        """One video, frame by frame; its record (failed with one line on a bad file)."""
        job, opts = self.jobs[i], self.opts
        assert job.dst is not None
        try:
            w, h = video_size(job.src)
            scales, final = plan_factors(w, h, opts.spec(), opts.allowed)
            if len(scales) != 1 or final != (w * scales[0], h * scales[0]):
                raise VideoError("videos take one network factor (-s 2, 3 or 4); "
                                 "--outscale/--width/--height are for stills")  # fmt: skip
            job_net, used = self.net_for(job, scales[0], True)
            out = upscale_video(job.src, job.dst, scales[0], job_net, opts.tile, opts.codec,
                                opts.crf, progress=partial(self.on_frames, i))  # fmt: skip
            rec = Record.of(job, "done")
            rec.seconds = round(time.perf_counter() - t0, 3)
            rec.size_in, rec.size_out = out["size_in"], out["size_out"]
            rec.weights, rec.scales = used, scales
            rec.precision = getattr(job_net, "precision", "fp32")
            rec.frames, rec.fps, rec.duration = out["frames"], out["fps"], out["duration"]
        except KeyboardInterrupt:
            raise
        except Exception as e:
            rec = self.failed(i, e)
        finally:
            self.on_frames(i, None, None)
        return rec

    def pipeline(self, todo: list[int]) -> bool:
        """Reads, upscales and writes the ``todo`` jobs; whether it was interrupted."""
        reader = Reader(todo, self.jobs, self.opts.max_pixels, self.opts.debug)
        slots = threading.Semaphore(self.opts.writers + 1)  # upscaled, not yet written
        pool = ThreadPoolExecutor(max_workers=self.opts.writers, thread_name_prefix="dsrn-writer")
        interrupted = False
        reader.start()
        try:
            while (item := reader.q.get()) is not None:
                i, t0, decoded, error = item
                if error is not None:
                    self.finish(i, Record.of(self.jobs[i], "failed", error))
                    continue
                tu = time.perf_counter()
                if self.jobs[i].video:
                    try:
                        self.finish(i, self.video(i, t0))
                    finally:
                        self.stages["upscale"] += time.perf_counter() - tu
                    continue
                try:
                    up = self.upscale(i, decoded)
                except KeyboardInterrupt:
                    raise
                except Exception as e:
                    self.finish(i, self.failed(i, e))
                    continue
                finally:
                    self.stages["upscale"] += time.perf_counter() - tu
                decoded.frames = []  # the writer needs only the upscaled picture (its metadata)
                slots.acquire()
                fut: Future = pool.submit(self.encode, i, t0, up)
                fut.add_done_callback(lambda _f: slots.release())
                del up
        except KeyboardInterrupt:
            interrupted = True
        finally:
            reader.stop.set()
            try:  # images already upscaled are still written (a few, bounded by the slots)
                pool.shutdown(wait=True)
            except KeyboardInterrupt:  # a second Ctrl-C: only the writes already running
                interrupted = True
                pool.shutdown(wait=True, cancel_futures=True)
        self.stages["read"] = reader.seconds
        return interrupted


def run_jobs(
    jobs: list[Job],
    indices: list[int],
    net: Backend | DSRN | NetFor,
    opts: Options,
    console: Console,
    on_record: Callable[[], None] = lambda: None,
    on_frames: Callable[[int, int | None, int | None], None] = lambda i, done, total: None,
) -> tuple[dict[int, dict[str, Any]], dict[str, float], bool]:
    """Convert ``jobs[i]`` for ``i`` in ``indices`` with ``net`` (or ``net(job)``'s choice).

    Returns the records (:meth:`Record.as_dict`) by job index, the summed seconds of each
    stage and whether it was interrupted. ``on_record`` is called once per finished job
    (progress bars); ``on_frames(i, done, total)`` after each frame of video ``jobs[i]``
    (``total`` None when the container does not tell), and with ``done`` None when that
    video is over. Videos run on the calling thread, frame by frame
    (``dsrn_cli.run.video``).
    """
    release_large_frees()
    run = _Run(jobs, net, opts, console, on_record, on_frames)
    interrupted = run.pipeline(run.todo(indices))
    print_notes(console, {note: [jobs[i].src for i in sorted(ix)] for note, ix in
                          sorted(run.noted.items(), key=lambda kv: min(kv[1]))})  # fmt: skip
    return run.records, run.stages, interrupted


def run_batch(
    jobs: list[Job] | Plan,
    net: Backend | DSRN | NetFor,
    opts: Options,
    console: Console,
    json_path: Path | None = None,
    quiet: bool = False,
) -> int:
    """Run the planned jobs (this rank's share under torchrun), report, and return the
    exit code (:attr:`Report.return_code`: 0 all done or skipped, 1 any failed, 130
    interrupted by Ctrl-C or SIGTERM)."""
    with sigterm_as_interrupt():
        return _run_batch(jobs, net, opts, console, json_path, quiet)


def _run_batch(
    jobs: list[Job] | Plan,
    net: Backend | DSRN | NetFor,
    opts: Options,
    console: Console,
    json_path: Path | None,
    quiet: bool,
) -> int:
    walk = jobs if isinstance(jobs, Plan) else Plan(jobs)
    jobs = walk.jobs
    rank, world, _ = rank_info()
    if world > 1 and not torch.distributed.is_initialized():
        # CPU collectives for a few records. Ranks finish their shares at different times
        # and rank 0 waits at the gather for the last: no 30-minute default timeout.
        torch.distributed.init_process_group("gloo", timeout=timedelta(days=7))
    mine = list(range(rank, len(jobs), world))
    t0 = time.perf_counter()
    videos = any(jobs[i].video for i in mine)
    names = [job.src.name for job in jobs]
    with Bars(console, quiet or rank != 0, len(mine), names, videos) as bars:
        shares = run_jobs(jobs, mine, net, opts, console, bars.advance, bars.frames)
    if world > 1:
        merged = gather(shares, rank, world)
        if merged is None:
            return 130 if shares[2] else 0  # rank 0 reports for everyone
        shares = merged
    records, stages, interrupted = shares
    report = Report([records[i] for i in sorted(records)], stages, walk.hidden, walk.left_out,
                    interrupted)  # fmt: skip
    if json_path is not None:
        with atomic_path(json_path) as tmp:  # never a half-written file
            tmp.write_text(json.dumps(report.records, indent=1) + "\n")
    return report.print(console, time.perf_counter() - t0, quiet)
