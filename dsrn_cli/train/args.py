"""What a training run is asked to do (:class:`TrainArgs`) and the check of every input
before any work starts or any file is written (:func:`check_inputs`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..files.imageio import list_images
from .data import list_training_files, parse_jpeg_range


@dataclass
class TrainArgs:
    """One run's options, as ``dsrn train`` takes them; ``args.json`` in ``out`` holds them.

    ``data`` are folders of HR images (or of luma PNGs, see :mod:`dsrn_cli.train.data`);
    ``init`` a safetensors file whose matching tensors start the network; ``val`` a folder
    validated on every ``val_every`` steps; ``cache`` the folder of prepared pairs (None:
    ``.cache`` beside ``out``); a checkpoint is written every ``ckpt_minutes``.
    """

    scale: int
    data: list[str]
    out: str
    config: str = "lite"  # a name of ``model.config.CONFIGS``
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
    lr: float | None = None  # base rate (None: 1e-3 for Adam, 0.01 for SGD)
    batch: int = 16
    patch: int = 128  # HR patch side (rounded down to a multiple of the scale)
    context: int = 0  # LR pixels seen around each patch but not scored (17: a tile's margin)
    val_every: int = 500
    ckpt_minutes: float = 3.0
    seed: int = 0
    precision: str = "auto"  # "auto": bf16 autocast on CUDA and on CPUs with AMX
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
    p = lr_patch(a)
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


def lr_patch(a: TrainArgs) -> int:
    """The LR patch side in pixels: ``patch`` HR pixels at ``scale``, at least 8."""
    return max(a.patch // a.scale, 8)


def _lr_side(path: Path, scale: int) -> int:
    """The shorter side of an image's LR version at ``scale``, from its header only."""
    try:
        with Image.open(path) as im:
            return min(im.size) // scale
    except OSError as e:  # PIL's UnidentifiedImageError too
        raise TrainInputError(f"{path}: not a readable image ({e})") from None
