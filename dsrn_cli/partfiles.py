"""dsrn's temp files: ``.NAME.dsrn-HOST-PID.RANDOM.part`` beside each output while it is written.

``imageio.write_atomic`` creates one per output (``tempfile.mkstemp``) and renames it into
place; a process killed hard (SIGKILL, power loss) leaves it behind. A later run writing
into the same folder removes such leftovers, but never another live process's: a temp
file is stale when its process (by pid, on this host) is gone, or, for another host or
the pattern before pids were embedded, when it has not been written for ``STALE_AFTER_S``.
"""

from __future__ import annotations

import os
import re
import socket
import time
import zlib
from pathlib import Path

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
