"""Training data: luma planes, scale augmentation, aligned LR/HR patches.

Preparation happens once per image and is cached on disk, so the training loop only
cuts patches. Following the SR literature's MATLAB scripts, an image is converted to
its uint8 luma first and every resize runs on that plane (uint8 in, uint8 out, MATLAB
bicubic): for each augmentation factor f, ``HR_f = imresize(Y, f)`` and
``LR_f = imresize(modcrop(HR_f, s), 1 / s)``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..files.imageio import list_images, read_rgb_uint8
from ..files.jpeg import roundtrip
from ..files.partfiles import atomic_path
from ..pixels.color import y_uint8
from ..pixels.resize import imresize, modcrop
from ..runtime.tiling import PAD

AUG_FACTORS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5)
LUMA_MARKER = "luma.json"  # a folder holding this file already holds uint8 luma PNGs


def load_luma(path: Path, is_luma: bool = False) -> np.ndarray:
    """The uint8 luma of an image file (or the file itself, for a luma folder)."""
    if is_luma:
        with Image.open(path) as im:
            return np.asarray(im.convert("L"))
    return y_uint8(read_rgb_uint8(path))


def export_luma(dirs: list[Path], out: Path) -> int:
    """Write each image's uint8 luma as a grayscale PNG: a third of the bytes, same data.

    Used to ship the training set to another machine; ``--data`` accepts the folder.
    """
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for d in dirs:
        for p in list_images(d):
            Image.fromarray(load_luma(p)).save(out / f"{Path(d).name}_{p.stem}.png")
            n += 1
    (out / LUMA_MARKER).write_text(json.dumps({"source": [str(d) for d in dirs], "images": n}))
    return n


def parse_jpeg_range(text: str) -> tuple[int, int]:
    """``"30-95"`` -> ``(30, 95)``; a single ``"75"`` is a one-quality range."""
    parts = text.split("-")
    try:
        lo, hi = (int(parts[0]), int(parts[-1])) if len(parts) <= 2 else (0, -1)
    except ValueError:
        lo, hi = 0, -1
    if not 1 <= lo <= hi <= 100:
        raise ValueError(f"JPEG quality range must be QMIN-QMAX within 1..100, not {text!r}")
    return lo, hi


def _key(path: Path, scale: int, factors: tuple[float, ...]) -> str:
    st = path.stat()
    raw = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{scale}|{factors}|v1"
    return hashlib.sha1(raw.encode()).hexdigest()[:20]


def prepare_pairs(
    dirs: list[str | Path],
    scale: int,
    cache_dir: Path,
    factors: tuple[float, ...] = AUG_FACTORS,
    progress: Callable[[int, int], object] | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """All (LR, HR) uint8 luma pairs for ``scale``, from the cache where it has them;
    ``progress(done, total)`` after each image."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    files = list_training_files(dirs)
    pairs = []
    for i, (path, is_luma) in enumerate(files):
        pairs += prepare_one(path, is_luma, scale, cache_dir, factors)
        if progress is not None:
            progress(i + 1, len(files))
    return pairs


def list_training_files(dirs: list[str | Path]) -> list[tuple[Path, bool]]:
    """(image, is-luma) for every image in the training folders."""
    files = []
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            raise FileNotFoundError(f"training folder not found: {d}")
        is_luma = (d / LUMA_MARKER).exists()
        files += [(p, is_luma) for p in list_images(d)]
    if not files:
        raise FileNotFoundError(f"no images in {', '.join(map(str, dirs))}")
    return files


def prepare_one(
    path: Path, is_luma: bool, scale: int, cache_dir: Path, factors: tuple[float, ...]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """One image's (LR, HR) pairs, one per augmentation factor, cached on disk."""
    cached = cache_dir / f"{_key(path, scale, factors)}.npz"
    if cached.exists():
        with np.load(cached) as z:
            return [(z[f"lr{j}"], z[f"hr{j}"]) for j in range(len(factors))]
    y = load_luma(path, is_luma)
    arrays, pairs = {}, []
    for j, f in enumerate(factors):
        hr = modcrop(y if f == 1.0 else imresize(y, f), scale)
        arrays[f"hr{j}"], arrays[f"lr{j}"] = hr, imresize(hr, 1 / scale)
        pairs.append((arrays[f"lr{j}"], hr))
    with atomic_path(cached, suffix=".npz") as tmp:  # np.savez adds .npz to other names
        np.savez(tmp, **arrays)
    return pairs


class PatchSampler:
    """Random aligned patches with flips and 90-degree rotations, cut on ``device``.

    The whole set lives on the device as uint8, so a batch costs a few slices; the
    generator's state goes into checkpoints so a resumed run draws the same patches.
    With ``jpeg=(qmin, qmax)`` each LR patch (all but a ``clean_share`` of them) goes
    through a grayscale JPEG round trip at a quality drawn from the same generator.

    With ``context=m`` each LR patch comes with ``m`` more LR pixels on every side (the
    image around it, mirrored past the image border as ``runtime.tiling.PAD`` mirrors it), so the
    network sees what a tile sees at inference; the HR patch stays the core's: the
    trainer scores the centre of the output only (:func:`crop_context`).
    """

    def __init__(
        self,
        pairs: list[tuple[np.ndarray, np.ndarray]],
        scale: int,
        lr_patch: int,
        batch: int,
        device: torch.device,
        seed: int = 0,
        jpeg: tuple[int, int] | None = None,
        clean_share: float = 0.0,
        context: int = 0,
    ) -> None:
        self.scale, self.p, self.batch, self.device = scale, lr_patch, batch, device
        self.context = context
        self.jpeg, self.clean_share = jpeg, clean_share
        usable = [(lr, hr) for lr, hr in pairs if min(lr.shape) >= lr_patch]
        if not usable:
            raise ValueError(f"no training image is at least {lr_patch} LR pixels on a side")
        m = context
        self.lr = [torch.from_numpy(np.pad(lr, m, mode=PAD) if m else np.ascontiguousarray(lr))
                   .to(device) for lr, _ in usable]
        self.hr = [torch.from_numpy(np.ascontiguousarray(hr)).to(device) for _, hr in usable]
        # Draw images in proportion to their patch positions: every patch equally likely.
        area = torch.tensor([(lr.shape[0] - lr_patch + 1) * (lr.shape[1] - lr_patch + 1)
                             for lr, _ in usable], dtype=torch.float64)
        self.weights = area / area.sum()
        self.gen = torch.Generator().manual_seed(seed)

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(lr, hr)`` float batches in [0, 1]: ``B x 1 x (p + 2m) x (p + 2m)`` (``m`` the
        context) and ``B x 1 x sp x sp``."""
        p, s, m = self.p, self.scale, self.context
        idx = torch.multinomial(self.weights, self.batch, replacement=True, generator=self.gen)
        aug = torch.randint(0, 8, (self.batch,), generator=self.gen).tolist()
        u = torch.rand(self.batch, 2, generator=self.gen, dtype=torch.float64)
        quality = [None] * self.batch
        if self.jpeg is not None:
            q = torch.randint(self.jpeg[0], self.jpeg[1] + 1, (self.batch,), generator=self.gen)
            clean = torch.rand(self.batch, generator=self.gen, dtype=torch.float64)
            quality = [None if c < self.clean_share else int(v)
                       for c, v in zip(clean.tolist(), q.tolist(), strict=True)]
        lrs, hrs = [], []
        for k, i in enumerate(idx.tolist()):
            lr, hr = self.lr[i], self.hr[i]
            y = int(u[k, 0] * (hr.shape[0] // s - p + 1))
            x = int(u[k, 1] * (hr.shape[1] // s - p + 1))
            a = lr[y : y + p + 2 * m, x : x + p + 2 * m]  # padded by m: the core starts at m
            b = hr[y * s : (y + p) * s, x * s : (x + p) * s]
            if aug[k] & 4:
                a, b = a.t(), b.t()
            a = torch.rot90(a, aug[k] & 3)
            if quality[k] is not None:
                a = torch.from_numpy(roundtrip(a.cpu().numpy(), quality[k])).to(self.device)
            lrs.append(a)
            hrs.append(torch.rot90(b, aug[k] & 3))
        lr_b = torch.stack(lrs)[:, None].float() / 255.0
        hr_b = torch.stack(hrs)[:, None].float() / 255.0
        return lr_b, hr_b


def crop_context(hr: torch.Tensor, context: int, scale: int) -> torch.Tensor:
    """The centre of an HR batch ``B x C x H x W`` without ``context`` LR pixels (``context *
    scale`` HR pixels) on each side: the part of a :class:`PatchSampler` output scored."""
    c = context * scale
    return hr[..., c : hr.shape[-2] - c, c : hr.shape[-1] - c] if c else hr
