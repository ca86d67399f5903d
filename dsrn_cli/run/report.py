"""What a run tells its user: the per-file record, the summary with its exit code, notes and
progress bars. The only module below ``cli/`` that imports rich.

A :class:`Record` is one input's outcome, the same type for stills and videos; its
:meth:`Record.as_dict` is the ``--json`` entry. A :class:`Report` sums the records of a
run (all ranks' under torchrun) and owns the exit code: 0 everything done or skipped, 1
any file failed, 130 interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import sys
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

from ..files.picture import UpscaleError
from ..files.video import VideoError
from .plan import Job

__all__ = ["SKIP_EXISTS", "Bars", "Console", "Record", "Report", "error_text", "note_line",
           "print_failed", "print_notes"]  # fmt: skip

SKIP_EXISTS = "output exists (use --overwrite)"


@dataclass
class Record:
    """One input's outcome. ``status``: "done", "skipped" or "failed" (``error`` the
    one-line reason). Sizes are ``[width, height]`` in pixels; ``seconds`` wall time from
    reading to written. ``frames`` is kept for done files, ``fps`` and ``duration`` (s,
    None when the container does not say) for done videos."""

    input: str
    output: str | None
    status: str
    error: str | None = None
    kind: str = "image"  # or "video"
    seconds: float = 0.0
    size_in: list[int] | None = None
    size_out: list[int] | None = None
    weights: str | None = None  # the weights file's name (``--model auto`` picks per input)
    notes: list[str] = field(default_factory=list)  # conversions the output format forced
    scales: list[int] | None = None  # the network factors run, e.g. [4, 2]
    resized: bool = False  # resized down after the network (--outscale/--width/--height)
    precision: str | None = None  # what the network computed in (fp32, bf16, ...)
    frames: int | None = None
    fps: float | None = None
    duration: float | None = None

    @classmethod
    def of(cls, job: Job, status: str, error: str | None = None) -> Record:
        """The record of ``job`` before any work: no sizes, no seconds."""
        return cls(str(job.src), str(job.dst) if job.dst else None, status, error,
                   "video" if job.video else "image")  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` entry: the keys every record has, then ``frames`` for a done
        file and ``fps``, ``duration`` for a done video."""
        out = {
            "input": self.input, "output": self.output, "status": self.status,
            "error": self.error, "kind": self.kind, "seconds": self.seconds,
            "size_in": self.size_in, "size_out": self.size_out, "weights": self.weights,
            "notes": self.notes, "scales": self.scales, "resized": self.resized,
            "precision": self.precision,
        }  # fmt: skip
        if self.status == "done":
            out["frames"] = self.frames
            if self.kind == "video":
                out["fps"], out["duration"] = self.fps, self.duration
        return out


@dataclass
class Report:
    """A run's records (:meth:`Record.as_dict` entries, in input order) and what it
    prints at the end."""

    records: list[dict[str, Any]] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)  # summed seconds per stage
    hidden: int = 0  # from the Plan
    left_out: int = 0
    interrupted: bool = False

    @property
    def return_code(self) -> int:
        """130 interrupted, 1 any file failed, else 0."""
        if self.interrupted:
            return 130
        return 1 if self.count("failed") else 0

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

    def print(self, console: Console, seconds: float, quiet: bool) -> int:
        """Prints the summary (``quiet``: only when something failed; always when
        interrupted, after ``interrupted:``) and returns :attr:`return_code`."""
        if self.interrupted:
            console.print(f"interrupted: {self.summary(seconds)}", highlight=False)
        elif not quiet or self.count("failed"):
            console.print(self.summary(seconds), highlight=False)
        return self.return_code


def _chain_text(r: dict[str, Any], sized: bool = False) -> str:
    """``x2`` or ``network x4 then x2, then resized down [to WxH]``, from a record."""
    chain = " then ".join(f"x{s}" for s in r.get("scales") or [])
    if not r.get("resized"):
        return chain
    to = f" to {r['size_out'][0]}x{r['size_out'][1]}" if sized else ""
    return f"network {chain}, then resized down{to}"


def error_text(e: BaseException, debug: bool) -> str:
    """One line for a failed file; a bug or resource problem too, with the type named."""
    if debug:
        traceback.print_exception(e, file=sys.stderr)
    return str(e) if isinstance(e, UpscaleError | VideoError) else f"{type(e).__name__}: {e}"


def print_failed(console: Console, src: Path, error: str | None) -> None:
    """The line a failed file gets as it fails."""
    console.print(f"[red]failed:[/red] {src}: {error}", highlight=False, soft_wrap=True)


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


class _FrameRate(ProgressColumn):
    """Frames per second, on a video's bar only."""

    def render(self, task: Task) -> Text:
        rate = task.speed if task.fields.get("video") else None
        return Text(f"{rate:.2f} fps" if rate else "", style="progress.data.speed")


class Bars:
    """The run's progress bars: files done of ``total``, and one bar per video while it
    runs (frames done / total, fps, ETA). Hidden when ``quiet``, on a console that is not
    a terminal, and for a single still. A context manager, like rich's ``Progress``."""

    def __init__(self, console: Console, quiet: bool, total: int, names: list[str],
                 videos: bool = False) -> None:  # fmt: skip
        self.names, self.total = names, total  # a video's bar title, by job index
        self.progress = Progress(
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
        self.videos: dict[int, TaskID] = {}

    def __enter__(self) -> Bars:
        self.progress.__enter__()
        self.files = self.progress.add_task("upscaling", total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)  # type: ignore[arg-type]

    def advance(self) -> None:
        """One more file finished."""
        self.progress.advance(self.files)

    def frames(self, i: int, done: int | None, total: int | None) -> None:
        """Video ``i`` has ``done`` frames of ``total`` (None: unknown); ``done`` None:
        it is over and its bar goes."""
        bar = self.progress
        if done is None:
            if i in self.videos:
                bar.remove_task(self.videos.pop(i))
            return
        if i not in self.videos:
            self.videos[i] = bar.add_task(self.names[i], total=total, video=True)
        bar.update(self.videos[i], completed=done, total=total)
