"""The pipeline: frames from a source, through a Stylizer, into a sink; one thread per stage.

    source thread --queue--> inference thread(s) --queue--> sink thread

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

Given several stylizers, the runner starts one inference thread per stylizer:
throughput for small CPUs, where two frames each on one core beat one frame on
two (ONNX Runtime scales poorly across threads on small convolutions). Each
item is numbered as a worker takes it and the sink writes them back in that
order, so output order is input order. Stylizers must then be independent
(no state carried from frame to frame: no temporal stage).
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
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
    prepared: Any = None  # the stylizer's work done ahead by the source thread (its ``prepare``), if any


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
    """``stylize_timed(frame[, prepared])``; optionally ``prepare(frame)``: the part of a frame's work that
    reads no earlier output, which the source thread then does ahead (rtstyle.stylizer.Stylizer.prepare)."""

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


PREPARED_AHEAD = 2  # queue size for prepared frames: the source thread works at most this far ahead
_END = object()  # end-of-stream marker passed down the queues
_SKIP = object()  # an item taken while stopping: not stylized, not written, but its number is used


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


def _read(run: _Run, source: Iterable, out: queue.Queue, prepare: Callable[[np.ndarray], Any] | None) -> None:
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
                if prepare is not None:
                    item.prepared = prepare(item.image)
            put = run.put_latest if run.config.latest_only and isinstance(item, Frame) else run.put
            if not put(out, item):
                return
    except BaseException as e:  # noqa: BLE001 - handed to the main thread
        run.fail(e)
        return
    run.put(out, _END)


class _Intake:
    """Hands the inference workers one item at a time, numbered in the order taken, so the sink can
    restore that order whichever worker finishes first."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.taken = 0
        self.ended = False

    def take(self, run: _Run, inbox: queue.Queue) -> tuple[int, Any] | None:
        """(number, item), the end marker included once; None for every worker after that."""
        with self.lock:  # one worker waits on the queue at a time: numbers follow queue order
            if self.ended:
                return None
            item = run.get(inbox)
            self.ended = item is _END
            self.taken += 1
            return self.taken - 1, item


def _stylize(run: _Run, stylizer: Stylize, intake: _Intake, inbox: queue.Queue, out: queue.Queue) -> None:
    try:
        while (taken := intake.take(run, inbox)) is not None:
            number, item = taken
            if item is not _END and run.stop.is_set():
                item = _SKIP  # stopping: drain without the expensive work
            elif isinstance(item, Frame):
                ahead = () if item.prepared is None else (item.prepared,)
                item.image, timings = stylizer.stylize_timed(item.image, *ahead)
                item.prepared = None  # no longer needed while the frame waits for the sink
                item.timings.update(timings)
            if not run.put(out, (number, item)) or item is _END:
                return
    except BaseException as e:  # noqa: BLE001
        run.fail(e)


def _in_order(run: _Run, inbox: queue.Queue) -> Iterable[Any]:
    """The inference workers' output in the order they took it, up to the end marker."""
    waiting: dict[int, Any] = {}  # finished early: a frame taken before them is still being stylized
    number = 0
    while (got := run.get(inbox)) is not _END:
        waiting[got[0]] = got[1]
        while number in waiting:
            item = waiting.pop(number)
            number += 1
            if item is _END:
                return
            if item is not _SKIP:
                yield item


def _write(run: _Run, sink: Sink, inbox: queue.Queue) -> None:
    try:
        for item in _in_order(run, inbox):
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


def run(source: Iterable, stylizer: Stylize | Sequence[Stylize], sink: Sink, *,
        stop: threading.Event | None = None, config: PipelineConfig = PipelineConfig(),
        on_progress: Callable[[int], None] | None = None) -> RunResult:
    """Stylize every frame of ``source`` into ``sink``, then close the sink.

    A sequence of stylizers runs one inference thread each (see the module's note).
    The sink is kept when at least one frame was written and no stage failed;
    otherwise it is discarded and a stage's exception is re-raised here."""
    stylizers = list(stylizer) if isinstance(stylizer, Sequence) else [stylizer]
    if not stylizers:
        raise ValueError("the pipeline needs at least one stylizer")
    state = _Run(stop or threading.Event(), config)
    # One stream through one stylizer: its frames' work that reads no earlier output (a temporal stage's flows)
    # runs in the source thread, beside inference. Not for a live source, which may replace a frame before
    # inference takes it (the motion is then from a frame never stylized), nor for workers taking turns.
    one = len(stylizers) == 1 and not config.latest_only
    prepare = getattr(stylizers[0], "prepare", None) if one else None
    # Prepared frames hold their flows (~20 MB at 720p): a short queue keeps the reader one or two frames ahead.
    to_stylize: queue.Queue = queue.Queue(min(config.queue_size, PREPARED_AHEAD) if prepare else config.queue_size)
    to_write: queue.Queue = queue.Queue(config.queue_size)
    intake = _Intake()
    threads = [
        threading.Thread(target=_read, args=(state, source, to_stylize, prepare), name="rtstyle-source", daemon=True),
        *(threading.Thread(target=_stylize, args=(state, s, intake, to_stylize, to_write),
                           name=f"rtstyle-inference-{i}", daemon=True) for i, s in enumerate(stylizers)),
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
