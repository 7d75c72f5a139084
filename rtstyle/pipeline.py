"""The pipeline: frames from a source, through a Stylizer, into a sink; one thread per stage.

    source thread --queue--> inference thread --queue--> sink thread

The runner knows nothing about files or cameras. A source is any iterable of
items, a sink anything with ``write(item)``, ``flush()`` and ``close(keep)``.
Items that are ``Frame`` get stylized; any other item (e.g. an audio packet a
video file source wants copied) rides through untouched, in order, so the sink
sees the same interleaving the source produced.

Queues are bounded and puts block, so the slowest stage throttles the others
(backpressure) and nothing is dropped, unless the run is stopped:

* ``stop`` (an Event, e.g. set by Ctrl-C): the source stops reading, frames not
  yet stylized are dropped, the ones already stylized are written, the sink is
  flushed and kept. The result says ``interrupted``.
* an exception in any stage aborts: every stage stops at once, the sink is
  closed with ``keep=False`` and the exception is re-raised to the caller.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Protocol

import numpy as np

from .stats import StageStats


@dataclass
class Frame:
    """One picture moving through the pipeline, with its timestamp and what it cost so far."""

    image: np.ndarray  # HxWx3 uint8 RGB
    pts: int | None = None  # presentation time in time_base units (None: let the sink number frames)
    time_base: Fraction | None = None
    index: int = 0
    born: float = 0.0  # time.perf_counter() when the source handed it over
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage, see rtstyle.stats


@dataclass(frozen=True)
class ColorTags:
    """How the source's YUV relates to RGB (FFmpeg enum values); the sink writes the same."""

    colorspace: int = 2  # AVCOL_SPC_UNSPECIFIED
    color_range: int = 0  # AVCOL_RANGE_UNSPECIFIED (limited)
    color_primaries: int = 2
    color_trc: int = 2


@dataclass(frozen=True)
class StreamInfo:
    """What a source knows about its picture stream, for the sink to reproduce."""

    width: int
    height: int
    rate: Fraction | None = None  # nominal frames per second
    time_base: Fraction | None = None  # unit of Frame.pts
    frames: int | None = None  # expected frame count (progress only); None for live sources
    display_matrix: tuple[int, ...] | None = None  # 9 ints, FFmpeg's layout: how players rotate/flip
    sample_aspect_ratio: Fraction | None = None
    color: ColorTags = ColorTags()
    passthrough: tuple[Any, ...] = ()  # PyAV streams whose packets the source yields for copying


class Stylize(Protocol):
    def stylize_timed(self, frame: np.ndarray) -> tuple[np.ndarray, dict[str, float]]: ...


class Sink(Protocol):
    def write(self, item: Any) -> None: ...
    def flush(self) -> None: ...
    def close(self, keep: bool) -> None: ...


@dataclass(frozen=True)
class PipelineConfig:
    queue_size: int = 8  # per queue; a file wants throughput, a camera will want 1-2 for latency
    poll_s: float = 0.1  # how often blocked stages look at the stop/abort flags
    join_timeout_s: float = 30.0  # after this a stuck stage is abandoned (threads are daemons)
    # Live sources: the source never waits; a frame the inference stage has not taken yet is
    # replaced by the newer one, so inference always gets the newest. (Live sources count their
    # drops themselves, from their frame indices.)
    latest_only: bool = False


@dataclass
class RunResult:
    frames: int  # frames written to the sink
    wall_s: float
    interrupted: bool  # stopped early by the stop event; the sink kept what was written
    stats: StageStats


_END = object()  # end-of-stream marker passed down the queues


class _Run:
    """State shared by the three stage threads of one run."""

    def __init__(self, stop: threading.Event, config: PipelineConfig):
        self.stop = stop
        self.abort = threading.Event()
        self.config = config
        self.error: BaseException | None = None
        self.frames = 0  # written by the sink thread only
        self.stats = StageStats()

    def fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        self.abort.set()

    def put(self, q: queue.Queue, item: Any) -> bool:
        while not self.abort.is_set():
            try:
                q.put(item, timeout=self.config.poll_s)
                return True
            except queue.Full:
                pass
        return False

    def put_latest(self, q: queue.Queue, item: Any) -> bool:
        """Put without waiting: a queued item nobody took yet is discarded for this newer one."""
        while not self.abort.is_set():
            try:
                q.put_nowait(item)
                return True
            except queue.Full:
                try:
                    q.get_nowait()
                except queue.Empty:
                    pass  # the consumer took it meanwhile: there is room now
        return False

    def get(self, q: queue.Queue) -> Any:
        while not self.abort.is_set():
            try:
                return q.get(timeout=self.config.poll_s)
            except queue.Empty:
                pass
        return _END


def _read(run: _Run, source: Iterable, out: queue.Queue) -> None:
    try:
        items = iter(source)
        while not run.stop.is_set():
            t0 = time.perf_counter()
            item = next(items, _END)
            if item is _END:
                break
            if isinstance(item, Frame):
                item.born = time.perf_counter()
                item.timings["decode"] = item.born - t0
            put = run.put_latest if run.config.latest_only and isinstance(item, Frame) else run.put
            if not put(out, item):
                return
    except BaseException as e:  # noqa: BLE001 - handed to the main thread
        run.fail(e)
        return
    run.put(out, _END)


def _stylize(run: _Run, stylizer: Stylize, inbox: queue.Queue, out: queue.Queue) -> None:
    try:
        while (item := run.get(inbox)) is not _END:
            if run.stop.is_set():
                continue  # stopping: drain without the expensive work
            if isinstance(item, Frame):
                item.image, timings = stylizer.stylize_timed(item.image)
                item.timings.update(timings)
            if not run.put(out, item):
                return
    except BaseException as e:  # noqa: BLE001
        run.fail(e)
        return
    run.put(out, _END)


def _write(run: _Run, sink: Sink, inbox: queue.Queue) -> None:
    try:
        while (item := run.get(inbox)) is not _END:
            t0 = time.perf_counter()
            sink.write(item)
            if isinstance(item, Frame):
                now = time.perf_counter()
                item.timings["encode"] = now - t0
                item.timings["total"] = now - item.born
                run.stats.add(item.timings)
                run.frames += 1
        if not run.abort.is_set():
            sink.flush()
    except BaseException as e:  # noqa: BLE001
        run.fail(e)


def run(source: Iterable, stylizer: Stylize, sink: Sink, *, stop: threading.Event | None = None,
        config: PipelineConfig = PipelineConfig(),
        on_progress: Callable[[int], None] | None = None) -> RunResult:
    """Stylize every frame of ``source`` into ``sink``, then close the sink.

    The sink is kept when at least one frame was written and no stage failed;
    otherwise it is discarded and a stage's exception is re-raised here."""
    state = _Run(stop or threading.Event(), config)
    to_stylize: queue.Queue = queue.Queue(config.queue_size)
    to_write: queue.Queue = queue.Queue(config.queue_size)
    threads = [
        threading.Thread(target=_read, args=(state, source, to_stylize), name="rtstyle-source", daemon=True),
        threading.Thread(target=_stylize, args=(state, stylizer, to_stylize, to_write), name="rtstyle-inference",
                         daemon=True),
        threading.Thread(target=_write, args=(state, sink, to_write), name="rtstyle-sink", daemon=True),
    ]
    start = time.perf_counter()
    try:
        for t in threads:
            t.start()
        while threads[-1].is_alive():  # the sink finishes last
            threads[-1].join(config.poll_s)
            if on_progress:
                on_progress(state.frames)
    except BaseException as e:  # KeyboardInterrupt without a handler: abort, never keep a half file
        state.fail(e)
    wall = time.perf_counter() - start
    for t in threads:
        t.join(config.join_timeout_s)
    sink_done = not threads[-1].is_alive()
    if state.error is None and not sink_done:
        state.fail(RuntimeError("the sink did not finish in time"))
    if sink_done:  # never close a sink its thread may still be writing to
        sink.close(keep=state.error is None and state.frames > 0)
    if state.error is not None:
        raise state.error
    return RunResult(state.frames, wall, state.stop.is_set(), state.stats)
