"""dsrn's temp files: ``.NAME.dsrn-HOST-PID.RANDOM.part`` beside each output while it is written.

:func:`atomic` creates one per output (``tempfile.mkstemp``) and renames it into place; a
process killed hard (SIGKILL, power loss) leaves it behind. A later run writing into the
same folder removes such leftovers, but never another live process's: a temp file is stale
when its process (by pid, on this host) is gone, or, for another host or the pattern before
pids were embedded, when it has not been written for ``STALE_AFTER_S``.
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from .picture import UpscaleError

STALE_AFTER_S = 600.0  # a temp file not written to for 10 minutes is no live write's
_OURS = re.compile(
    r"^\.(?P<name>.+)\.dsrn-(?P<host>[0-9a-f]{8})-(?P<pid>\d+)\.[A-Za-z0-9_]+\.part$"
)
_OLD = re.compile(r"^\.(?P<name>.+\.[A-Za-z0-9]{2,5})\.[a-z0-9_]{8}\.part$")  # before pids


def _host() -> str:
    return f"{zlib.crc32(socket.gethostname().encode()):08x}"


def part_prefix(name: str) -> str:
    """The ``mkstemp`` prefix for a temp file of the output ``name`` (suffix ``.part``)."""
    return f".{name}.dsrn-{_host()}-{os.getpid()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except OSError:
        return True
    return True


def is_stale(path: Path, now: float | None = None) -> bool:
    """Whether ``path`` is a dsrn temp file that no running process is writing."""
    m = _OURS.match(path.name)
    old = None if m else _OLD.match(path.name)
    if m is None and old is None:
        return False
    if m is not None and m["host"] == _host():
        pid = int(m["pid"])
        return pid != os.getpid() and not _alive(pid)
    try:
        age = (now or time.time()) - path.stat().st_mtime
    except OSError:
        return False
    return age > STALE_AFTER_S


def sweep(folder: Path) -> int:
    """Remove the stale dsrn temp files directly in ``folder``; returns how many."""
    removed = 0
    try:
        names = [e for e in os.scandir(folder) if e.name.endswith(".part") and e.is_file()]
    except OSError:
        return 0
    now = time.time()
    for entry in names:
        path = Path(entry.path)
        if is_stale(path, now):
            try:
                path.unlink()
                removed += 1
            except OSError:
                pass
    return removed


def _umask() -> int:
    """The process umask. Linux shows it in /proc; elsewhere it can only be read by setting
    it, briefly, to the strictest mask (other threads may be creating files meanwhile)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _temp_beside(dst: Path, suffix: str = ".part") -> Path:
    """A new empty temp file beside ``dst``, named by :func:`part_prefix` (so :func:`sweep`
    finds a crash's leftover). mkstemp creates it 0600; it gets the mode any new file gets
    under the user's umask (0644 under 022), which the rename onto ``dst`` keeps."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=dst.parent, prefix=part_prefix(dst.name), suffix=suffix)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o666 & ~_umask())
    except BaseException:
        os.close(fd)
        Path(name).unlink(missing_ok=True)
        raise
    os.close(fd)
    return Path(name)


def atomic(dst: Path, save: Callable[[IO[bytes]], None]) -> None:
    """Run ``save`` on a temp file beside ``dst`` (:func:`_temp_beside`) and rename it into
    place: no half-written files. A folder that cannot be written is named in the
    UpscaleError, not dsrn's temp file in it; a write that fails names ``dst``."""
    try:
        tmp = _temp_beside(dst)
    except OSError as e:
        raise UpscaleError(f"cannot write to the folder {dst.parent}: {e.strerror}") from e
    try:
        with open(tmp, "w+b") as f:  # w+: TIFF pages are appended by reading back
            save(f)
        os.replace(tmp, dst)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.errno is None:  # an encoder's own error (Pillow raises OSError for those)
            raise
        raise UpscaleError(f"cannot write {dst}: {e.strerror}") from e  # a full disk, ...
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_path(dst: Path, suffix: str = ".part") -> Iterator[Path]:
    """A temp path beside ``dst`` for writers that take a path (torch.save, safetensors,
    numpy, ONNX, FFmpeg), renamed onto ``dst`` when the block ends without an error and
    removed when it raises: no half-written files. The name is :func:`part_prefix`'s, so a
    crash's leftover is found by :func:`sweep`; ``suffix`` is for writers that add their
    own (``np.savez`` appends ``.npz`` to any other name)."""
    tmp = _temp_beside(Path(dst), suffix)
    try:
        yield tmp
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
