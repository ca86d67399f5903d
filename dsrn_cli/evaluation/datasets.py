"""Benchmark datasets: a local folder of HR images, or a named benchmark fetched once and cached.

Named benchmarks (Set5, Set14, BSD100, Urban100) come from the ``eugenesiow/<Name>`` dataset
repos on the Hugging Face Hub, pinned to a revision, and are unpacked into
``cache_dir()/datasets/<Name>/``. Every failure surfaces as a one-line :class:`DatasetError`
that tells the user how to go on without the network: pass a local folder instead.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

import huggingface_hub
from tqdm.auto import tqdm

from ..cache import cache_dir, one_line, quiet_hub
from ..cache import offline as hub_offline
from ..files.imageio import IMAGE_EXTS, list_images

# CLI name -> dataset repo name on the Hub (eugenesiow/<Name>); None: no public mirror.
BENCHMARKS: dict[str, str | None] = {
    "set5": "Set5",
    "set14": "Set14",
    "b100": "BSD100",
    "urban100": "Urban100",
    "manga109": None,
}

# Revisions the archives are fetched at, so a re-upload upstream cannot silently change the
# benchmark. TODO: pin pending -- replace "main" with the repos' commit hashes (could not be
# looked up offline when this was written).
PINNED: dict[str, str] = {
    "Set5": "main",
    "Set14": "main",
    "BSD100": "main",
    "Urban100": "main",
}

# Folder names that are a known benchmark (case-insensitive) -> the name bench shows and looks
# up in the paper's table, so a local ``Urban100/HR`` gets the published numbers beside it.
FOLDER_NAMES: dict[str, str] = {
    **{key: name or key.capitalize() for key, name in BENCHMARKS.items()},
    "bsd100": "BSD100",
}


def folder_name(folder: Path) -> str:
    """The benchmark a folder holds, by its own name or its parent's; else its own name."""
    folder = Path(folder).resolve()
    for candidate in (folder.name, folder.parent.name):
        if candidate.lower() in FOLDER_NAMES:
            return FOLDER_NAMES[candidate.lower()]
    return folder.name


class DatasetError(RuntimeError):
    """A dataset cannot be found, fetched or unpacked; the message is one user-facing line."""


class _QuietTqdm(tqdm):
    """A progress bar that never draws, for ``progress=False``."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs["disable"] = True
        super().__init__(*args, **kwargs)


def _safe_member_name(member: tarfile.TarInfo) -> str | None:
    """The flattened file name for a tar member, or None if it must not be extracted."""
    if not member.isreg():  # symlinks, hardlinks, devices, fifos, directories
        return None
    raw = member.name
    if not raw or raw.startswith(("/", "\\")) or "\\" in raw or ":" in raw:
        return None
    parts = PurePosixPath(raw).parts
    if ".." in parts:
        return None
    base = parts[-1] if parts else ""
    # Dot-files include macOS "._x.png" resource forks, which are not images.
    if not base or base.startswith(".") or PurePosixPath(base).suffix.lower() not in IMAGE_EXTS:
        return None
    return base


def safe_extract_images(tar_path: Path, dest: Path) -> int:
    """Unpack only the images of ``tar_path`` into ``dest``, flattened; return their count.

    Member names are reduced to their basename and links or special files are skipped, so
    nothing can land outside ``dest``. The files go to a temporary folder beside ``dest`` that
    is renamed into place at the end, so an interrupted unpack never leaves a half-filled
    ``dest`` that a later run would mistake for a complete cache.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        count = 0
        try:
            with tarfile.open(tar_path, "r:*") as tf:
                for member in tf:
                    name = _safe_member_name(member)
                    if name is None or (tmp / name).exists():
                        continue
                    src = tf.extractfile(member)
                    if src is None:
                        continue
                    with src, open(tmp / name, "xb") as out:
                        shutil.copyfileobj(src, out)
                    count += 1
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise DatasetError(f"could not unpack {tar_path} ({one_line(exc)})") from exc
        if count == 0:
            raise DatasetError(f"no images found in {tar_path}")
        if dest.exists():
            try:
                dest.rmdir()  # only an empty leftover folder may be replaced
            except OSError as exc:
                raise DatasetError(f"{dest} already exists and is not empty") from exc
        os.replace(tmp, dest)
        return count
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


# How long the Hub may take to answer one probe before we call it unreachable (seconds).
# huggingface_hub retries a failed connection five times (1 + 2 + 4 + 8 + 8 s of sleep), so
# without this probe an offline ``dsrn bench --dataset set5`` sat silent for ~25 s.
PROBE_TIMEOUT_S = 4.0


def hub_unreachable(timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None if the Hugging Face Hub answers one request within ``timeout`` seconds, else why not.

    One HEAD request through huggingface_hub's own HTTP client (so ``HF_ENDPOINT`` and proxy
    settings apply), no retries. Any HTTP status counts as reachable.
    """
    from huggingface_hub import constants
    from huggingface_hub.utils import get_session

    try:
        get_session().head(constants.ENDPOINT, timeout=timeout)
    except Exception as exc:  # DNS, refused, timeout, TLS, proxy: all mean "not reachable"
        return one_line(exc)
    return None


def _download(name: str, progress: bool) -> Path:
    """Fetch ``<name>_HR.tar.gz`` at its pinned revision into the Hub cache under ours."""
    kwargs: dict[str, object] = {}
    if not progress:
        kwargs["tqdm_class"] = _QuietTqdm
    path = huggingface_hub.hf_hub_download(
        repo_id=f"eugenesiow/{name}",
        repo_type="dataset",
        filename=f"data/{name}_HR.tar.gz",
        revision=PINNED[name],
        cache_dir=cache_dir() / "hub",
        local_files_only=hub_offline(),
        **kwargs,
    )
    return Path(path)


def local_hint(name: str, option: str = "dsrn bench --dataset") -> str:
    """The sentence every download failure ends with: how to go on with a local folder."""
    return (f"pass a local folder of {name}'s HR images instead, "
            f"e.g. {option} ../shared/data/test/{name}")


def cached_dataset(name_or_dir: str) -> tuple[str, Path] | None:
    """``(display name, folder)`` if ``name_or_dir`` is a folder or an already cached benchmark,
    else None (a download would be needed, or the name is unknown)."""
    path = Path(name_or_dir).expanduser()
    if path.is_dir():
        return folder_name(path), path
    name = BENCHMARKS.get(name_or_dir.strip().lower())
    if name is None:
        return None
    dest = cache_dir() / "datasets" / name
    return (name, dest) if dest.is_dir() and list_images(dest) else None


def resolve_dataset(
    name_or_dir: str, progress: bool = True, debug: bool = False,
    option: str = "dsrn bench --dataset",
) -> tuple[str, Path]:
    """Turn ``--dataset`` into (display name, folder of HR images), downloading if needed.

    ``option`` is the command the error messages suggest a local folder to (e.g.
    ``dsrn train ... --val``). Raises :class:`DatasetError` (one line, always ending with a
    local-folder example) at once when ``HF_HUB_OFFLINE`` is set and the benchmark is not
    cached, and within ``PROBE_TIMEOUT_S`` seconds when the Hub is unreachable.
    """
    found = cached_dataset(name_or_dir)
    if found is not None:
        return found
    key = name_or_dir.strip().lower()
    if key not in BENCHMARKS:
        known = ", ".join(BENCHMARKS)
        raise DatasetError(f"unknown dataset {name_or_dir!r}: not a folder, and not one of {known}")
    name = BENCHMARKS[key]
    if name is None:
        raise DatasetError(
            f"{key} has no public download; pass a local folder of HR images instead: "
            f"{option} /path/to/Manga109"
        )
    dest = cache_dir() / "datasets" / name
    hint = local_hint(name, option)
    offline = hub_offline()  # then only the Hub's disk cache is looked at: no network at all
    why = None if offline else hub_unreachable()
    if why is not None:
        raise DatasetError(
            f"could not download {name}: the Hugging Face Hub is unreachable ({why}); {hint}"
        )
    try:
        with quiet_hub(debug):
            tar_path = _download(name, progress)
    except Exception as exc:  # HTTP, auth, disk...: all mean "use a local folder"
        if offline:
            raise DatasetError(
                f"could not download {name}: HF_HUB_OFFLINE is set and it is not cached; {hint}"
            ) from exc
        raise DatasetError(f"could not download {name} ({one_line(exc)}); {hint}") from exc
    try:
        safe_extract_images(tar_path, dest)
    except DatasetError as exc:
        raise DatasetError(f"{exc}; {hint}") from exc
    return name, dest
