"""A video's frames through the network: each decoded frame upscaled in its own planes
(:class:`Frames`), and the three threads that decode, upscale and encode a stream
(:func:`pump`).

Frames stream through two bounded queues (a reader thread decodes, the caller's thread
runs the network, a writer thread encodes and muxes), so memory does not grow with the
clip's length (the encoder's own lookahead aside). FFmpeg objects are never shared
between threads: each container is used by one thread at a time, and the helpers are
joined before the caller closes the containers.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av
import numpy as np

from ..files.picture import round_half_up
from ..pixels.chroma import upscale_chroma
from ..runtime.backend import Backend
from ..runtime.strips import assemble_array

QUEUE = 4  # frames (or packets to copy) waiting between the reader, network and writer

# Planar YUV formats upscaled in their own planes; the rest go through RGB.
_PLANAR = {
    "yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p",
    "yuv420p10le", "yuv422p10le", "yuv444p10le", "yuv420p12le", "yuv422p12le", "yuv444p12le",
}  # fmt: skip
JPEG_FORMATS = {"yuvj420p": "yuv420p", "yuvj422p": "yuv422p", "yuvj444p": "yuv444p"}

Progress = Callable[[int, int | None], None]  # (frames done, frames in all or None)


def _plane(p: av.video.plane.VideoPlane, dtype: np.dtype) -> np.ndarray:
    """A view of one plane's pixels (``height x width``, line padding cut off)."""
    a = np.frombuffer(p, dtype=dtype)
    return a.reshape(p.height, p.line_size // a.itemsize)[:, : p.width]


def _luma(net: Backend, y: np.ndarray, scale: int, tile: int | None, bits: int) -> np.ndarray:
    """The network's luma for a ``bits``-deep Y plane through :func:`assemble_array` (8-bit as
    is; deeper planes widened to 16 bits by bit replication, exact at 0 and peak, and
    rounded back)."""
    if bits == 8:
        return assemble_array(net, y, scale, tile)
    shift = 16 - bits
    wide = (y.astype(np.uint16) << shift) | (y.astype(np.uint16) >> (bits - shift))
    up = assemble_array(net, wide, scale, tile).astype(np.float64) * ((2**bits - 1) / 65535.0)
    return round_half_up(up, 0, 2**bits - 1).astype(np.uint16)


class Frames:
    """Turns decoded frames into upscaled frames in the encoder's input format."""

    def __init__(
        self, net: Backend, scale: int, tile: int | None, fmt: str, codec: str, via_rgb: bool
    ) -> None:
        self.net, self.scale, self.tile = net, scale, tile
        self.planar = fmt in _PLANAR and not via_rgb
        desc = av.VideoFormat(fmt)
        self.bits = desc.components[0].bits if self.planar else 8
        self.out_fmt = JPEG_FORMATS.get(fmt, fmt) if self.planar else "rgb24"
        self.dtype = np.dtype(np.uint8 if self.bits == 8 else "<u2")
        # chroma siting: centre for JPEG-range formats and MJPEG, else MPEG's "left"
        centred = fmt in JPEG_FORMATS or codec in ("mjpeg", "jpeg2000")
        self.cosited = (False, not centred)

    def __call__(self, frame: av.VideoFrame) -> av.VideoFrame:
        s = self.scale
        if not self.planar:
            rgb = frame.to_ndarray(format="rgb24")
            return av.VideoFrame.from_ndarray(assemble_array(self.net, rgb, s, self.tile), "rgb24")
        w, h = frame.width * s, frame.height * s
        out = av.VideoFrame(w, h, self.out_fmt)
        peak = 2**self.bits - 1
        for k, (p, q) in enumerate(zip(frame.planes, out.planes, strict=True)):
            src, dst = _plane(p, self.dtype), _plane(q, self.dtype)
            if k == 0:
                dst[...] = _luma(self.net, src, s, self.tile, self.bits)
            else:
                dst[...] = upscale_chroma(src, s, dst.shape, self.cosited, peak)
        return out


def _tag_colour(frame: av.VideoFrame, cc: Any) -> None:
    frame.color_range = cc.color_range
    frame.colorspace = cc.colorspace
    frame.color_primaries = cc.color_primaries
    frame.color_trc = cc.color_trc


class _Pipe:
    """Three threads joined by two bounded queues, so decoding and encoding overlap the
    network: a reader demuxes and decodes (decoded frames and packets to copy, in file
    order), the caller's thread upscales, a writer encodes and muxes. Any failure or
    interrupt halts all three; :meth:`close` joins the helpers before the containers
    are closed (FFmpeg objects are never shared between threads)."""

    END = object()

    def __init__(self) -> None:
        self.decoded: queue.Queue = queue.Queue(maxsize=QUEUE)
        self.upscaled: queue.Queue = queue.Queue(maxsize=QUEUE)
        self.halt = threading.Event()
        self.errors: list[BaseException] = []
        self.threads: list[threading.Thread] = []

    def put(self, q: queue.Queue, item: Any) -> bool:
        while not self.halt.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(self, q: queue.Queue) -> Any:
        while True:
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                if self.halt.is_set():
                    return self.END

    def start(self, name: str, work: Callable[[], None]) -> None:
        def run() -> None:
            try:
                work()
            except BaseException as e:  # handed to the caller's thread by check()
                self.errors.append(e)
                self.halt.set()

        t = threading.Thread(target=run, name=f"dsrn-video-{name}", daemon=True)
        self.threads.append(t)
        t.start()

    def check(self) -> None:
        if self.errors:
            raise self.errors[0]

    def close(self) -> None:
        self.halt.set()
        for t in self.threads:
            t.join()


def pump(
    inp: av.container.InputContainer,
    vin: av.VideoStream,
    out: av.container.OutputContainer,
    vout: av.VideoStream,
    mapped: dict[int, Any],
    frames: Frames,
    rate: Fraction,
    progress: Progress | None,
    total: int | None,
    stop: threading.Event | None,
) -> tuple[int, int]:
    """Demux ``inp`` once: video packets are decoded, upscaled and encoded, the others
    remuxed as they come (FFmpeg's interleaving buffer orders them). Returns the frames
    encoded and the video packets read (edit lists can drop frames, never packets)."""
    pipe = _Pipe()
    streams = [vin] + [s for s in inp.streams if s.index in mapped]
    packets = 0

    def read() -> None:
        nonlocal packets
        for packet in inp.demux(streams):
            if packet.stream.index != vin.index:
                if packet.size and not pipe.put(pipe.decoded, packet):
                    return
                continue
            packets += packet.size > 0
            try:
                decoded = vin.decode(packet)
            except av.InvalidDataError:  # one damaged packet: FFmpeg conceals, go on
                continue
            for frame in decoded:
                if not pipe.put(pipe.decoded, frame):
                    return
        pipe.put(pipe.decoded, pipe.END)

    def write() -> None:
        while (item := pipe.get(pipe.upscaled)) is not pipe.END:
            if isinstance(item, av.Packet):
                item.stream = mapped[item.stream.index]
                out.mux(item)
            else:
                out.mux(vout.encode(item))
        if not pipe.halt.is_set():
            out.mux(vout.encode(None))  # the encoder's delayed frames

    done = 0
    step = 1 / (rate * vin.time_base) if vin.time_base else 1
    last_pts: int | None = None
    cc = vout.codec_context
    pipe.start("reader", read)
    pipe.start("writer", write)
    try:
        while (item := pipe.get(pipe.decoded)) is not pipe.END:
            if isinstance(item, av.Packet):
                pipe.put(pipe.upscaled, item)
                continue
            if stop is not None and stop.is_set():
                raise KeyboardInterrupt
            up = frames(item)
            pts = item.pts
            if pts is None:  # raw streams without timestamps: the nominal rate
                pts = 0 if last_pts is None else last_pts + max(1, math.floor(step))
            last_pts = pts
            up.pts, up.time_base = pts, vin.time_base
            if item.duration:
                up.duration = item.duration
            _tag_colour(up, cc)
            if not pipe.put(pipe.upscaled, up):
                break
            done += 1
            if progress is not None:
                progress(done, total)
        pipe.check()
        pipe.put(pipe.upscaled, pipe.END)
        pipe.threads[1].join()  # the writer drains and flushes
        pipe.check()
    finally:
        pipe.close()
    return done, packets
