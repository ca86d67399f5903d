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
import math
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from ..api import render_picture
from ..files.imageio import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_PNG_LEVEL,
    FORMATS,
    Picture,
    UpscaleError,
    WriteOptions,
    list_images,
    read,
    write,
)
from ..files.partfiles import sweep
from ..model.network import DSRN
from ..pixels.outsize import SizeSpec, plan_factors
from ..runtime.backend import Backend
from .video import (
    DEFAULT_CODEC,
    VIDEO_EXTS,
    VideoError,
    is_video,
    list_videos,
    upscale_video,
    video_size,
    video_suffix,
)

FORMAT_EXT = {"png": ".png", "jpg": ".jpg", "jpeg": ".jpg", "webp": ".webp", "tiff": ".tif",
              "gif": ".gif", "bmp": ".bmp"}  # fmt: skip
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
    video: bool = False  # upscaled frame by frame (dsrn_cli.run.video)


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
    crf: int | None = None  # videos: None is the encoder's default (video.DEFAULT_CRF)

    def spec(self) -> SizeSpec:
        return self.size or SizeSpec(scale=self.scale)


@dataclass
class Tally:
    records: list[dict[str, Any]] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)  # summed seconds per stage
    hidden: int = 0  # from the Plan
    left_out: int = 0

    def count(self, status: str) -> int:
        return sum(r["status"] == status for r in self.records)

    def summary(self, seconds: float) -> str:
        lines = [
            f"done {self.count('done')}, skipped {self.count('skipped')}, "
            f"failed {self.count('failed')} ({seconds:.1f} s)"
        ]
        lines += self.output_lines()
        exists = sum(r["status"] == "skipped" and r["error"] == SKIP_EXISTS for r in self.records)
        if exists:  # why, once for the batch rather than once per file
            lines.append(f"{exists} skipped: output exists — use --overwrite")
        lines += self.walk_lines()
        if used := self.weights_line():
            lines.append(used)
        return "\n".join(lines)

    def output_lines(self) -> list[str]:
        """Where a single file went; the network factors and final sizes of a resized run."""
        done = [r for r in self.records if r["status"] == "done"]
        if len(self.records) == 1 and done:
            r = done[0]
            how = ", ".join(filter(None, [f"{r['size_out'][0]}x{r['size_out'][1]}"
                                          if r.get("size_out") else "", _chain_text(r)]))
            return [f"wrote {r['output']}" + (f" ({how})" if how else "")]
        if len(self.records) == 1 and self.records[0]["status"] == "skipped":
            return [f"not written: {self.records[0]['output']}"]
        for sized in (True, False):  # with the final sizes while they are few
            chains: dict[str, int] = {}
            for r in done:
                if r.get("resized"):
                    text = _chain_text(r, sized)
                    chains[text] = chains.get(text, 0) + 1
            if len(chains) <= 3:
                break
        return [f"{n} file{'s' * (n > 1)}: {text}" for text, n in chains.items()]

    def weights_line(self) -> str:
        """Which weights the done files used, most used first (``--model auto`` picks per
        input), e.g. ``weights: dsrn_lite_x2 (3 files), dsrn_lite-jpeg_x2 (1 file)``;
        empty when no done record names its weights."""
        used = Counter(Path(r["weights"]).stem for r in self.records
                       if r["status"] == "done" and r.get("weights"))
        parts = [f"{name} ({n} file{'s' * (n != 1)})" for name, n in used.most_common()]
        return "weights: " + ", ".join(parts) if parts else ""

    def walk_lines(self) -> list[str]:
        lines = []
        if self.hidden:
            lines.append(f"{self.hidden} hidden file{'s' * (self.hidden > 1)} skipped")
        if self.left_out:
            lines.append(f"{self.left_out} image{'s' * (self.left_out > 1)} in subfolders "
                         "left out (add --recursive to include them)")  # fmt: skip
        return lines


def _chain_text(r: dict[str, Any], sized: bool = False) -> str:
    """``x2`` or ``network x4 then x2, then resized down [to WxH]``, from a record."""
    chain = " then ".join(f"x{s}" for s in r.get("scales") or [])
    if not r.get("resized"):
        return chain
    to = f" to {r['size_out'][0]}x{r['size_out'][1]}" if sized else ""
    return f"network {chain}, then resized down{to}"


# ------------------------------------------------------------------------- planning


class PlanError(Exception):
    """The inputs and ``-o`` cannot be planned without losing or looping files (usage, exit 2)."""


@dataclass
class Plan:
    """The jobs of a run, and what the folder walk left out (said in the summary)."""

    jobs: list[Job]
    hidden: int = 0  # hidden image files (.name, ._name AppleDouble); hidden folders not walked
    left_out: int = 0  # images in subfolders, not walked without --recursive


def _out_ext(src: Path, fmt: str, video: bool = False, codec: str = DEFAULT_CODEC) -> str:
    if video:  # --format is for stills; a video keeps its container if it holds the codec
        return video_suffix(src, codec)
    if fmt == "same":
        return src.suffix if src.suffix.lower() in FORMATS else ".png"
    return FORMAT_EXT[fmt]


def _named(src: Path, tag: str, fmt: str, video: bool = False, codec: str = DEFAULT_CODEC) -> str:
    """The one naming rule for outputs in a folder: ``NAME_TAG.EXT`` (``photo_x2.png``)."""
    return f"{src.stem}_{tag}{_out_ext(src, fmt, video, codec)}"


def _image_suffixes() -> set[str]:
    """File extensions Pillow can open (to count the images a walk leaves out)."""
    return {e.lower() for e, f in Image.registered_extensions().items() if f in Image.OPEN}


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def _count_left_out(folder: Path, recursive: bool, skip: Path | None) -> tuple[int, int]:
    """(hidden image files, images in subfolders a non-recursive walk leaves out)."""
    exts = _image_suffixes()
    folder = folder.resolve()
    hidden = left_out = 0
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        rel = here.relative_to(folder)
        if skip is not None and (here == skip or skip in here.parents):
            dirs[:] = []
            continue
        if _hidden(rel):
            dirs[:] = []  # a hidden folder (.git, .thumbnails) is not counted inside
            continue
        images = [f for f in files if Path(f).suffix.lower() in exts]
        hidden_here = sum(f.startswith(".") for f in images)
        if rel == Path(".") or recursive:
            hidden += hidden_here
        else:
            left_out += len(images) - hidden_here
    return hidden, left_out


def _is_folder_arg(output: str) -> bool:
    """``-o`` names a folder: it ends with a slash or is an existing directory."""
    return output.endswith(("/", os.sep)) or Path(output).is_dir()


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def plan(
    inputs: list[Path],
    output: str | Path | None,
    tag: str | int,
    fmt: str,
    recursive: bool,
    codec: str = DEFAULT_CODEC,
) -> Plan:
    """Pair every input image or video with its output path, or raise PlanError before
    any work.

    Naming, one rule: an output in a folder is ``NAME_TAG.EXT`` (``photo_x2.png``; TAG
    from :meth:`SizeSpec.tag`, EXT from ``--format``), folder trees mirrored below it.
    ``-o`` is a folder when it ends with a slash or is an existing directory (created if
    missing); else, for one input file, the output file itself. Without ``-o`` a file's
    output goes beside it, a folder's into the sibling folder ``FOLDER_TAG/`` (never into
    the input folder, so a later run cannot upscale the outputs again).

    PlanError (a usage error): ``-o`` names the input itself, or an image file name for
    a folder or several inputs; an output folder that is an input folder (or inside one,
    with ``recursive``); two inputs planned onto one output, or an output that is also an
    input. Hidden files and folders are skipped and counted, like images in subfolders
    without ``recursive``.

    Videos (by extension in folders, also by probing a named file) keep their container
    when it holds ``codec``, else become ``.mp4``; ``fmt`` is for stills only.
    """
    tag = f"x{tag}" if isinstance(tag, int) else tag
    raw = None if output is None else str(output)
    single = len(inputs) == 1 and not inputs[0].is_dir()
    out_dir: Path | None = None
    out_file: Path | None = None
    if raw is not None:
        if _is_folder_arg(raw):
            out_dir = Path(raw)
        elif single and is_video(inputs[0], probe=True):
            out_file = Path(raw)
            if out_file.suffix.lower() not in VIDEO_EXTS:
                raise PlanError(f"{inputs[0]} is a video: give -o a video name (.mp4, .mkv, "
                                "...), or end it with / for a folder")  # fmt: skip
        elif single:
            out_file = Path(raw)
            ext = out_file.suffix.lower()
            if fmt == "same" and ext not in FORMATS:
                raise PlanError(f"cannot tell the output format from -o {raw!r}: give an "
                                f"image name (.png, .jpg, ...), or end it with / for a folder")
            if fmt != "same" and ext in FORMATS and FORMATS[ext] != FORMATS[FORMAT_EXT[fmt]]:
                raise PlanError(f"-o {raw} names a {FORMATS[ext]} file, but --format is {fmt}: "
                                "give one of them (or -o a name ending in the format's "
                                "extension)")
        elif Path(raw).exists():
            raise PlanError(f"-o {raw} is a file; several inputs or a folder need an output "
                            "folder")
        elif Path(raw).suffix.lower() in _image_suffixes() | set(FORMATS):
            raise PlanError(f"-o {raw} is an image file name, but the input is a folder or "
                            f"several files: give a folder (e.g. -o {Path(raw).stem}/)")
        else:
            out_dir = Path(raw)
    found = Plan([])
    seen: set[Path] = set()
    for inp in inputs:
        if inp.resolve() in seen:  # the same file or folder named twice: once is enough
            continue
        seen.add(inp.resolve())
        if inp.is_dir():
            dest = out_dir
            if dest is None:
                name = inp.resolve().name
                if not name:
                    raise PlanError(f"cannot name an output folder for {inp}: give -o FOLDER/")
                dest = inp.resolve().parent / f"{name}_{tag}"
            here, there = inp.resolve(), dest.resolve()
            if there == here or (recursive and _inside(there, here)):
                where = "the" if there == here else "inside the"
                raise PlanError(f"the output folder {dest} is {where} input folder {inp}: a "
                                "later run would upscale the outputs again; give -o a folder "
                                "outside it")
            skip = there if _inside(there, here) else None
            hidden, left_out = _count_left_out(inp, recursive, skip)
            found.hidden += hidden
            found.left_out += left_out
            videos = set(list_videos(inp, recursive))
            images = [p for p in sorted(list_images(inp, recursive) + list(videos))
                      if not (skip and _inside(p.resolve().parent, skip))]  # fmt: skip
            if not images:
                found.jobs.append(Job(inp, None, "is a directory with no images or videos in it"))
            for src in images:
                rel, v = src.relative_to(inp), src in videos
                name = _named(src, tag, fmt, v, codec)
                found.jobs.append(Job(src, dest / rel.parent / name, video=v))
        elif not inp.exists():
            found.jobs.append(Job(inp, None, "no such file"))
        else:
            v = is_video(inp, probe=True)
            dst = out_file or (out_dir or inp.parent) / _named(inp, tag, fmt, v, codec)
            found.jobs.append(Job(inp, dst, video=v))
    # One file reached twice onto one output (named, and inside a folder named too): once.
    unique: dict[tuple[Path, Path | None], Job] = {}
    for job in found.jobs:
        unique.setdefault((job.src.resolve(), job.dst.resolve() if job.dst else None), job)
    found.jobs = list(unique.values())
    _check_collisions(found.jobs)
    return found


def _check_collisions(jobs: list[Job]) -> None:
    """Two inputs onto one output, or an output that is an input: a PlanError naming both."""
    by_dst: dict[Path, Job] = {}
    sources = {j.src.resolve(): j for j in jobs if j.dst is not None}
    for job in jobs:
        if job.dst is None:
            continue
        dst = job.dst.resolve()
        if dst == job.src.resolve():
            raise PlanError(f"the output {job.dst} is the input itself; give -o another file "
                            "or a folder")
        if dst in by_dst:
            raise PlanError(f"{by_dst[dst].src} and {job.src} would both be written to "
                            f"{job.dst}; use --format same, or run them into separate -o "
                            "folders")
        if dst in sources:
            raise PlanError(f"{job.dst}, the output of {job.src}, is also an input; leave it "
                            "out, or give -o a folder")
        by_dst[dst] = job


def record(job: Job, status: str, error: str | None = None) -> dict[str, Any]:
    return {
        "input": str(job.src),
        "output": str(job.dst) if job.dst else None,
        "status": status,
        "error": error,
        "kind": "video" if job.video else "image",
        "seconds": 0.0,
        "size_in": None,
        "size_out": None,
        "weights": None,
        "notes": [],  # conversions the output format forced (bit depth, alpha, metadata)
        "scales": None,  # the network factors run, e.g. [4, 2]
        "resized": False,  # resized down after the network (--outscale/--width/--height)
        "precision": None,  # what the network computed in (fp32, bf16, ...)
    }


# The network for one job's pass of factor ``s`` (``first``: the pass that sees the input
# file) and the name of its weights (``--model auto`` picks per input).
NetFor = Callable[[Job, int, bool], tuple[Backend | DSRN, str | None]]


def _as_net_for(net: Backend | DSRN | NetFor) -> NetFor:
    if isinstance(net, Backend | DSRN):
        return lambda _job, _s, _first: (net, None)
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
    return str(e) if isinstance(e, UpscaleError | VideoError) else f"{type(e).__name__}: {e}"


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
            if self.jobs[i].video:  # decoded frame by frame where it is upscaled
                if not self._put((i, t0, None, None)):
                    return
                continue
            try:
                item = (i, t0, read(self.jobs[i].src, self.opts.max_pixels), None)
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
    on_frames: Callable[[int, int | None, int | None], None] = lambda i, done, total: None,
) -> tuple[dict[int, dict[str, Any]], dict[str, float], bool]:
    """Convert ``jobs[i]`` for ``i`` in ``indices`` with ``net`` (or ``net(job)``'s choice).

    Returns the records by job index, the summed seconds of each stage and whether it
    was interrupted. ``on_record`` is called once per finished job (progress bars);
    ``on_frames(i, done, total)`` after each frame of video ``jobs[i]`` (``total`` None
    when the container does not tell), and with ``done`` None when that video is over.
    Videos run on the calling thread, frame by frame (``dsrn_cli.run.video``).
    """
    release_large_frees()
    net_for = _as_net_for(net)
    records: dict[int, dict[str, Any]] = {}
    stages = {"read": 0.0, "upscale": 0.0, "write": 0.0}
    lock = threading.Lock()
    noted: dict[str, list[int]] = {}  # each conversion note: the jobs it was about

    def finish(i: int, rec: dict[str, Any]) -> None:
        if rec["status"] == "failed":
            console.print(
                f"[red]failed:[/red] {jobs[i].src}: {rec['error']}", highlight=False, soft_wrap=True
            )
        with lock:
            records[i] = rec
        on_record()

    pre = precheck([jobs[i] for i in indices], opts.overwrite)
    for folder in {jobs[i].dst.parent for i, rec in zip(indices, pre, strict=True)
                   if rec is None and jobs[i].dst is not None}:  # fmt: skip
        sweep(folder)  # temp files a killed run left (never a live process's)
    todo = []
    for i, rec in zip(indices, pre, strict=True):
        if rec is None:
            todo.append(i)
        else:
            finish(i, rec)

    def encode(
        i: int, t0: float, pic: Picture, size_in: tuple[int, int], fmt: str, used: str | None,
        scales: list[int], resized: bool, prec: str,
    ) -> None:  # fmt: skip
        job = jobs[i]
        assert job.dst is not None
        tw = time.perf_counter()
        try:
            wo = WriteOptions(fmt, opts.quality, opts.png_level, opts.background)
            written = write(job.dst, pic, wo)
            rec = record(job, "done")
            rec.update(seconds=round(time.perf_counter() - t0, 3), size_in=list(size_in),
                       size_out=list(written.size), weights=used, scales=scales,
                       resized=resized, notes=written.notes, frames=len(pic.frames),
                       precision=prec)  # fmt: skip
            with lock:
                for note in written.notes:
                    noted.setdefault(note, []).append(i)
        except Exception as e:
            rec = record(job, "failed", _error_text(e, opts.debug))
        with lock:
            stages["write"] += time.perf_counter() - tw
        finish(i, rec)

    def video(i: int, t0: float) -> dict[str, Any]:
        """One video, frame by frame; its record (failed with one line on a bad file)."""
        job = jobs[i]
        assert job.dst is not None
        try:
            w, h = video_size(job.src)
            scales, final = plan_factors(w, h, opts.spec(), opts.allowed)
            if len(scales) != 1 or final != (w * scales[0], h * scales[0]):
                raise VideoError("videos take one network factor (-s 2, 3 or 4); "
                                 "--outscale/--width/--height are for stills")  # fmt: skip
            job_net, used = net_for(job, scales[0], True)
            out = upscale_video(job.src, job.dst, scales[0], job_net, opts.tile, opts.codec,
                                opts.crf, progress=partial(on_frames, i))  # fmt: skip
            rec = record(job, "done")
            rec.update(seconds=round(time.perf_counter() - t0, 3), size_in=out["size_in"],
                       size_out=out["size_out"], weights=used, scales=scales,
                       precision=getattr(job_net, "precision", "fp32"),
                       frames=out["frames"], fps=out["fps"],
                       duration=out["duration"])  # fmt: skip
        except KeyboardInterrupt:
            raise
        except Exception as e:
            rec = record(job, "failed", _error_text(e, opts.debug))
        finally:
            on_frames(i, None, None)
        return rec

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
            if jobs[i].video:
                try:
                    finish(i, video(i, t0))
                finally:
                    stages["upscale"] += time.perf_counter() - tu
                continue
            try:
                fmt = _pil_format(jobs[i], opts.fmt)
                w, h = decoded.size
                try:
                    scales, final = plan_factors(w, h, opts.spec(), opts.allowed)
                except ValueError as e:
                    raise UpscaleError(str(e)) from None
                picked = [net_for(jobs[i], s, k == 0) for k, s in enumerate(scales)]
                used = "+".join(u for _, u in picked if u) or None
                img = render_picture(decoded, scales, [n for n, _ in picked], final,
                                     opts.tile)  # fmt: skip
                resized = final != (w * math.prod(scales), h * math.prod(scales))
            except KeyboardInterrupt:
                raise
            except Exception as e:
                finish(i, record(jobs[i], "failed", _error_text(e, opts.debug)))
                continue
            finally:
                stages["upscale"] += time.perf_counter() - tu
            size_in = decoded.size
            decoded.frames = []  # the writer needs only the upscaled picture (its metadata)
            slots.acquire()
            prec = getattr(picked[0][0], "precision", "fp32")  # a bare DSRN runs fp32
            fut: Future = pool.submit(encode, i, t0, img, size_in, fmt, used, scales, resized,
                                      prec)  # fmt: skip
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
    print_notes(console, {note: [jobs[i].src for i in sorted(ix)] for note, ix in
                          sorted(noted.items(), key=lambda kv: min(kv[1]))})  # fmt: skip
    return records, stages, interrupted


def note_line(note: str, inputs: list[Path]) -> str:
    """One note and the inputs it is about: ``a.tif: NOTE`` or ``a.tif (and 5 more): NOTE``."""
    more = f" (and {len(inputs) - 1} more)" if len(inputs) > 1 else ""
    return f"{inputs[0]}{more}: {note}"


def print_notes(console: Console, noted: dict[str, list[Path]]) -> None:
    """Each conversion note once per run (after the run, in input order), naming its
    first input and how many more (``--json`` has every file's notes)."""
    for note, inputs in noted.items():
        console.print(f"[yellow]note:[/yellow] {note_line(note, inputs)}", highlight=False,
                      soft_wrap=True)  # fmt: skip


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


class _FrameRate(ProgressColumn):
    """Frames per second, on a video's bar only."""

    def render(self, task: Task) -> Text:
        rate = task.speed if task.fields.get("video") else None
        return Text(f"{rate:.2f} fps" if rate else "", style="progress.data.speed")


def _progress(console: Console, quiet: bool, total: int, videos: bool = False) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _FrameRate(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=quiet or (total < 2 and not videos) or not console.is_terminal,
        transient=True,
    )


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


def run_batch(
    jobs: list[Job] | Plan,
    net: Backend | DSRN | NetFor,
    opts: Options,
    console: Console,
    json_path: Path | None = None,
    quiet: bool = False,
) -> int:
    """Run the planned jobs (this rank's share under torchrun), report, and return the
    exit code: 0 all done or skipped, 1 any failed, 130 interrupted (Ctrl-C or SIGTERM)."""
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
    with _progress(console, quiet or rank != 0, len(mine), videos) as bar:
        task = bar.add_task("upscaling", total=len(mine))
        frame_bars: dict[int, TaskID] = {}

        def on_frames(i: int, done: int | None, total: int | None) -> None:
            """One bar per video while it runs: frames done / total, fps, ETA."""
            if done is None:
                if i in frame_bars:
                    bar.remove_task(frame_bars.pop(i))
                return
            if i not in frame_bars:
                frame_bars[i] = bar.add_task(jobs[i].src.name, total=total, video=True)
            bar.update(frame_bars[i], completed=done, total=total)

        records, stages, interrupted = run_jobs(
            jobs, mine, net, opts, console, lambda: bar.advance(task), on_frames
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
    tally = Tally([records[i] for i in sorted(records)], stages, walk.hidden, walk.left_out)
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
