"""Recording a live stream to H.264 on its own thread, so encoding never delays the window.

Timestamps are wall-clock milliseconds since the recording started (variable
frame rate: a live stream's rate is whatever the network delivers), so the file
plays back at the speed it was seen. ``latencies`` holds, per frame, the
seconds from capture to the encoder returning.
"""
from __future__ import annotations

import queue
import threading
import time
from fractions import Fraction
from pathlib import Path

from .pipeline import Frame, StreamInfo
from .sinks import EncoderConfig, VideoSink

MS = Fraction(1, 1000)


class Recorder:
    """``put`` frames from any thread; ``close`` finishes the file (playable, renamed into place)."""

    def __init__(self, path: str | Path, width: int, height: int, fps: float, backlog: int = 64):
        self.path = Path(path)
        info = StreamInfo(width, height, rate=Fraction(fps).limit_denominator(1000), time_base=MS)
        self._sink = VideoSink(self.path, info, EncoderConfig())
        self._queue: queue.Queue = queue.Queue(backlog)
        self._start = time.monotonic()
        self._last_pts = -1
        self.frames = 0
        self.dropped = 0  # frames the encoder could not keep up with
        self.latencies: list[float] = []
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._encode, name="rtstyle-recorder", daemon=True)
        self._thread.start()

    def put(self, frame: Frame) -> None:
        pts = max(self._last_pts + 1, round((time.monotonic() - self._start) * 1000))
        self._last_pts = pts
        try:
            self._queue.put_nowait(Frame(frame.image, pts, MS, frame.index, frame.born))
        except queue.Full:
            self.dropped += 1

    def _encode(self) -> None:
        while (frame := self._queue.get()) is not None:
            if self.error is not None:
                continue  # keep draining so put() never blocks; the error is raised by close()
            try:
                self._sink.write(frame)
                self.frames += 1
                self.latencies.append(time.perf_counter() - frame.born)
            except BaseException as e:  # noqa: BLE001 - handed to close()
                self.error = e

    def close(self) -> None:
        """Finish the file; it is kept when it has at least one frame. Raises a write error."""
        self._queue.put(None)
        self._thread.join()
        if self.error is None and self.frames > 0:
            try:
                self._sink.flush()
            except BaseException:
                self._sink.close(keep=False)
                raise
        self._sink.close(keep=self.error is None and self.frames > 0)
        if self.error is not None:
            raise self.error
