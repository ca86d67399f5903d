"""The output planner: which file every input becomes, decided before any work.

Pure path logic (it reads folder listings and probes a named file for a video stream,
never decodes or writes). The rules, in one place:

* An output in a folder is ``NAME_TAG.EXT`` (``photo_x2.png``; TAG from
  :meth:`~dsrn_cli.pixels.outsize.SizeSpec.tag`, EXT from ``--format`` through
  :data:`FORMAT_EXT`, or the input's own for ``same``); folder trees are mirrored below it.
* ``-o`` is a folder when it ends with a slash or is an existing directory (created if
  missing); else, for one input file, the output file itself.
* Without ``-o`` a file's output goes beside it, a folder's into the sibling folder
  ``FOLDER_TAG/``: never into the input folder, so a later run cannot upscale the outputs
  again.
* Videos keep their container when it holds the codec, else become ``.mp4``.
* Nothing is lost or looped: two inputs onto one output, an output that is an input, an
  output folder that is (or, recursively, is inside) an input folder are
  :class:`PlanError`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..files.formats import FORMATS, format_names, output_extension
from ..files.imageio import is_hidden, list_images
from ..files.picture import UpscaleError
from ..files.video import DEFAULT_CODEC, is_video, list_videos, video_exts, video_suffix

# ``--format`` -> the extension of its outputs (``same`` keeps the input's), read off the
# output-format table.
FORMAT_EXT = {name: output_extension(name) for name in format_names()}


class PlanError(Exception):
    """The inputs and ``-o`` cannot be planned without losing or looping files (usage, exit 2)."""


@dataclass
class Job:
    """One planned conversion; ``error`` set means it fails before any work (bad input)."""

    src: Path
    dst: Path | None
    error: str | None = None
    video: bool = False  # upscaled frame by frame (dsrn_cli.run.video)


@dataclass
class Plan:
    """The jobs of a run, and what the folder walk left out (said in the summary)."""

    jobs: list[Job]
    hidden: int = 0  # hidden image files (.name, ._name AppleDouble); hidden folders not walked
    left_out: int = 0  # images in subfolders, not walked without --recursive


def out_ext(src: Path, fmt: str, video: bool = False, codec: str = DEFAULT_CODEC) -> str:
    """The extension of ``src``'s output: ``--format``'s; the input's own for ``same``
    when the encoder writes it (else ``.png``); a video's from :func:`video_suffix`
    (``--format`` is for stills)."""
    if video:
        return video_suffix(src, codec)
    if fmt == "same":
        return src.suffix if src.suffix.lower() in FORMATS else ".png"
    return FORMAT_EXT[fmt]


def named(src: Path, tag: str, fmt: str, video: bool = False, codec: str = DEFAULT_CODEC) -> str:
    """The one naming rule for outputs in a folder: ``NAME_TAG.EXT`` (``photo_x2.png``)."""
    return f"{src.stem}_{tag}{out_ext(src, fmt, video, codec)}"


def pil_format(job: Job, fmt: str) -> str:
    """The Pillow format name ``job``'s output is written in (``--format``, or for
    ``same`` the one its file name says); UpscaleError when the name tells none."""
    if fmt != "same":
        return FORMATS[FORMAT_EXT[fmt]]
    assert job.dst is not None
    found = FORMATS.get(job.dst.suffix.lower())
    if found is None:
        raise UpscaleError(f"cannot tell the output format from {job.dst.name!r}")
    return found


def _image_suffixes() -> set[str]:
    """File extensions Pillow can open (to count the images a walk leaves out)."""
    return {e.lower() for e, f in Image.registered_extensions().items() if f in Image.OPEN}


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
        if is_hidden(rel):
            dirs[:] = []  # a hidden folder (.git, .thumbnails) is not counted inside
            continue
        images = [f for f in files if Path(f).suffix.lower() in exts]
        hidden_here = sum(is_hidden(Path(f)) for f in images)
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


def _output_arg(raw: str, inputs: list[Path], fmt: str) -> tuple[Path | None, Path | None]:
    """``-o`` read as (output folder, output file), one of them None; PlanError for a
    name that cannot be the output of these inputs."""
    single = len(inputs) == 1 and not inputs[0].is_dir()
    if _is_folder_arg(raw):
        return Path(raw), None
    if single and is_video(inputs[0], probe=True):
        if Path(raw).suffix.lower() not in video_exts():
            raise PlanError(f"{inputs[0]} is a video: give -o a video name (.mp4, .mkv, "
                            "...), or end it with / for a folder")  # fmt: skip
        return None, Path(raw)
    if single:
        ext = Path(raw).suffix.lower()
        if fmt == "same" and ext not in FORMATS:
            raise PlanError(f"cannot tell the output format from -o {raw!r}: give an "
                            f"image name (.png, .jpg, ...), or end it with / for a folder")
        if fmt != "same" and ext in FORMATS and FORMATS[ext] != FORMATS[FORMAT_EXT[fmt]]:
            raise PlanError(f"-o {raw} names a {FORMATS[ext]} file, but --format is {fmt}: "
                            "give one of them (or -o a name ending in the format's "
                            "extension)")
        return None, Path(raw)
    if Path(raw).exists():
        raise PlanError(f"-o {raw} is a file; several inputs or a folder need an output "
                        "folder")
    if Path(raw).suffix.lower() in _image_suffixes() | set(FORMATS):
        raise PlanError(f"-o {raw} is an image file name, but the input is a folder or "
                        f"several files: give a folder (e.g. -o {Path(raw).stem}/)")
    return Path(raw), None


def _plan_folder(
    found: Plan, inp: Path, out_dir: Path | None, tag: str, fmt: str, recursive: bool,
    codec: str,
) -> None:  # fmt: skip
    """Adds the jobs of input folder ``inp`` (and what its walk left out) to ``found``."""
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
        found.jobs.append(Job(src, dest / rel.parent / named(src, tag, fmt, v, codec), video=v))


def plan(
    inputs: list[Path],
    output: str | Path | None,
    tag: str | int,
    fmt: str,
    recursive: bool,
    codec: str = DEFAULT_CODEC,
) -> Plan:
    """Pair every input image or video with its output path, or raise PlanError before
    any work (the rules are this module's docstring).

    PlanError (a usage error): ``-o`` names the input itself, or an image file name for
    a folder or several inputs; an output folder that is an input folder (or inside one,
    with ``recursive``); two inputs planned onto one output, or an output that is also an
    input. Hidden files and folders are skipped and counted, like images in subfolders
    without ``recursive``. A missing input is a job that fails (``error``), not a
    PlanError.

    Videos (by extension in folders, also by probing a named file) keep their container
    when it holds ``codec``, else become ``.mp4``; ``fmt`` is for stills only.
    """
    tag = f"x{tag}" if isinstance(tag, int) else tag
    out_dir: Path | None = None
    out_file: Path | None = None
    if output is not None:
        out_dir, out_file = _output_arg(str(output), inputs, fmt)
    found = Plan([])
    seen: set[Path] = set()
    for inp in inputs:
        if inp.resolve() in seen:  # the same file or folder named twice: once is enough
            continue
        seen.add(inp.resolve())
        if inp.is_dir():
            _plan_folder(found, inp, out_dir, tag, fmt, recursive, codec)
        elif not inp.exists():
            found.jobs.append(Job(inp, None, "no such file"))
        else:
            v = is_video(inp, probe=True)
            dst = out_file or (out_dir or inp.parent) / named(inp, tag, fmt, v, codec)
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
