"""A loopback IP camera: a video file served as an MJPEG stream on 127.0.0.1.

For trying ``rtstyle webcam`` on a machine without a camera, and for the tests
and benchmarks, which need a live source they can kill and bring back:

    python -m rtstyle.loopback clip.mp4 --port 8090 --size 640x480 --stamp
    rtstyle webcam --camera http://127.0.0.1:8090/ --style starry

Frames are produced at the clip's own rate (looping) whether or not anyone
watches, like a camera; every client gets the newest frame. With ``stamp`` each
frame carries its index as a block code in the top-left corner (see
``stamp_index``), readable after stylization, so latency can be measured where
a frame is displayed or recorded; ``served`` maps each index to the
``time.monotonic()`` at which it went on the wire (a system-wide clock, so
another process can compare against it).
"""
from __future__ import annotations

import argparse
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import cv2
import numpy as np

from .capture import parse_size

HOST = "127.0.0.1"  # never reachable from outside the machine
BOUNDARY = "rtstyleframe"

# Stamp layout: 11 bits of index and an even-parity bit in two bands of 6 bits. A band
# is two rows of blocks: a bit is a column, white over black for 1, black over white
# for 0, and column 0 is a reference "1". A style maps white and black to arbitrary
# colours (starry: yellow and teal of equal brightness), so each column is read by
# comparing its two blocks along the reference's colour axis, never against a fixed
# threshold. 2**11 frames is 85 s at 24 fps, far more than any latency: indices unwrap.
STAMP_INDEX_BITS = 11
STAMP_MODULO = 1 << STAMP_INDEX_BITS
BAND_BITS = (STAMP_INDEX_BITS + 1) // 2
STAMP_COLS = 1 + BAND_BITS


def stamp_block(width: int) -> int:
    """Block side in pixels: large enough to survive a style network's brush strokes."""
    return max(8, width // 14)


def _code(index: int) -> list[int]:
    bits = [(index >> i) & 1 for i in range(STAMP_INDEX_BITS)]
    return bits + [sum(bits) % 2]


def stamp_index(image: np.ndarray, index: int) -> None:
    """Write ``index`` (mod STAMP_MODULO) into the top-left corner of an HxWx3 uint8 image, in place."""
    b = stamp_block(image.shape[1])
    bits = _code(index % STAMP_MODULO)
    for band in range(2):
        top = [1] + bits[band * BAND_BITS:(band + 1) * BAND_BITS]
        for col, bit in enumerate(top):
            y = 2 * band * b
            image[y:y + b, col * b:(col + 1) * b] = 255 * bit
            image[y + b:y + 2 * b, col * b:(col + 1) * b] = 255 * (1 - bit)


def read_stamp(image: np.ndarray, min_contrast: float = 20.0) -> int | None:
    """The index written by ``stamp_index`` (mod STAMP_MODULO), or None when the corner holds no
    readable code (no contrast in a reference column, or a parity error)."""
    b = stamp_block(image.shape[1])
    if image.shape[0] < 4 * b or image.shape[1] < STAMP_COLS * b:
        return None
    q = b // 4  # the inner half of each block: edges bleed into their neighbours
    means = np.array([[image[r * b + q:(r + 1) * b - q, c * b + q:(c + 1) * b - q].reshape(-1, 3).mean(axis=0)
                       for c in range(STAMP_COLS)] for r in range(4)])  # rows x cols x RGB
    bits: list[int] = []
    for band in range(2):
        diff = means[2 * band] - means[2 * band + 1]  # top minus bottom, per column
        axis = diff[0]
        if np.linalg.norm(axis) < min_contrast:
            return None
        bits += [int(v > 0) for v in diff[1:] @ axis]
    if sum(bits) % 2:
        return None
    return sum(bit << i for i, bit in enumerate(bits[:STAMP_INDEX_BITS]))


@dataclass(frozen=True)
class LoopbackConfig:
    size: tuple[int, int] | None = None  # (w, h) to serve; None: the clip's own size
    fps: float | None = None  # None: the clip's own rate
    stamp: bool = False
    quality: int = 90  # JPEG quality
    duration_s: float = 600.0  # the server stops itself after this (bounded in time)


class LoopbackCamera:
    """Serves ``clip`` as MJPEG at ``url`` until ``stop()``; ``start()`` again brings it back
    on the same port (a camera that was unplugged and plugged in again)."""

    def __init__(self, clip: str | Path, port: int = 0, config: LoopbackConfig = LoopbackConfig()):
        self.clip = Path(clip)
        if not self.clip.is_file():
            raise FileNotFoundError(f"clip not found: {self.clip}")
        self.config = config
        self.port = port
        self.served: dict[int, float] = {}  # frame index -> time.monotonic() when published
        self._frames = _looped_frames(self.clip, config.size)
        self._rate = config.fps or _clip_rate(self.clip)
        self._index = 0
        self._latest: tuple[int, bytes] | None = None
        self._new_frame = threading.Condition()
        self._running = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def start(self) -> "LoopbackCamera":
        self._server = ThreadingHTTPServer((HOST, self.port), _handler_for(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._running.set()
        deadline = time.monotonic() + self.config.duration_s
        self._threads = [threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                          name="loopback-http", daemon=True),
                         threading.Thread(target=self._produce, args=(deadline,), name="loopback-frames",
                                          daemon=True)]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        """Close the server and every open stream: clients see the connection end."""
        self._running.clear()
        with self._new_frame:
            self._new_frame.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(5)

    @property
    def running(self) -> bool:
        return self._running.is_set()

    def __enter__(self) -> "LoopbackCamera":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _produce(self, deadline: float) -> None:
        period = 1.0 / self._rate
        next_t = time.monotonic()
        while self._running.is_set():
            if time.monotonic() >= deadline:
                threading.Thread(target=self.stop, daemon=True).start()
                return
            image = next(self._frames).copy()
            if self.config.stamp:
                stamp_index(image, self._index)
            ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                                    [cv2.IMWRITE_JPEG_QUALITY, self.config.quality])
            with self._new_frame:
                self._latest = (self._index, jpeg.tobytes())
                self.served[self._index] = time.monotonic()
                self._new_frame.notify_all()
            self._index += 1
            next_t += period
            time.sleep(max(0.0, next_t - time.monotonic()))
            next_t = max(next_t, time.monotonic() - period)  # a stall skips frames, never bursts

    def frames_for_client(self) -> Iterator[bytes]:
        """The newest JPEG each time one is published, until the camera stops."""
        last = -1
        while True:
            with self._new_frame:
                while self._running.is_set() and (self._latest is None or self._latest[0] == last):
                    self._new_frame.wait(0.5)
                if not self._running.is_set():
                    return
                last, jpeg = self._latest
            yield jpeg


def _handler_for(camera: LoopbackCamera) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            try:
                for jpeg in camera.frames_for_client():
                    self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                                     f"Content-Length: {len(jpeg)}\r\n\r\n".encode())
                    self.wfile.write(jpeg + b"\r\n")
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError, socket.timeout):
                pass  # the client went away
            self.close_connection = True

        def log_message(self, *args) -> None:
            pass  # one line per request would drown the caller's output

    return Handler


def _clip_rate(clip: Path) -> float:
    with av.open(str(clip)) as c:
        s = c.streams.video[0]
        return float(s.average_rate or s.guessed_rate or 25)


def _looped_frames(clip: Path, size: tuple[int, int] | None) -> Iterator[np.ndarray]:
    """The clip's frames as RGB, resized, forever (decoded once, kept in memory: clips are short)."""
    with av.open(str(clip)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    if not frames:
        raise ValueError(f"no video frames in {clip}")
    if size:
        frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
    while True:
        yield from frames


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rtstyle.loopback",
                                description="Serve a video file as an MJPEG camera on 127.0.0.1.")
    p.add_argument("clip", type=Path)
    p.add_argument("--port", type=int, default=8090)
    p.add_argument("--size", type=parse_size, help="serve at WxH (default: the clip's size)")
    p.add_argument("--fps", type=float, help="frame rate (default: the clip's)")
    p.add_argument("--stamp", action="store_true", help="write each frame's index in the top-left corner")
    p.add_argument("--duration", type=float, default=600.0, help="stop after this many seconds (default: 600)")
    p.add_argument("--log", type=Path, help="write 'index,monotonic_s' per served frame here at the end")
    a = p.parse_args(argv)
    try:
        camera = LoopbackCamera(a.clip, a.port, LoopbackConfig(a.size, a.fps, a.stamp, duration_s=a.duration))
        camera.start()
    except (OSError, ValueError) as e:
        print(f"loopback: error: {e}", file=sys.stderr)
        return 1
    print(f"serving {a.clip} at {camera.url}", file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` ends it like Ctrl-C: the log is still written
    try:
        while camera.running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        camera.stop()
        if a.log:
            a.log.write_text("".join(f"{i},{t:.6f}\n" for i, t in sorted(camera.served.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
