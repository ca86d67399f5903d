"""The reader thread of a batch: decodes the next stills while the device works."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

from ..files.imageio import read
from .plan import Job
from .report import error_text

READ_AHEAD = 2  # decoded images waiting for the device


class Reader(threading.Thread):
    """Decodes the jobs in order into a bounded queue; ``None`` ends it."""

    def __init__(self, todo: list[int], jobs: list[Job], max_pixels: int, debug: bool) -> None:
        super().__init__(daemon=True, name="dsrn-reader")
        self.todo, self.jobs, self.max_pixels, self.debug = todo, jobs, max_pixels, debug
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
                item = (i, t0, read(self.jobs[i].src, self.max_pixels), None)
            except Exception as e:  # every failure is that file's, never the batch's
                item = (i, t0, None, error_text(e, self.debug))
            self.seconds += time.perf_counter() - t0
            if not self._put(item):
                return
        self._put(None)
