"""What a pipeline run measured: per-frame stage latencies, their summary, and a progress line.

Every finished frame contributes one sample per stage, in seconds:

    decode       the source producing the frame (demux + decode + conversion to RGB)
    preprocess   Stylizer: resize to --max-size, HWC uint8 -> NCHW float
    inference    Stylizer: the network
    postprocess  Stylizer: NCHW float -> HWC uint8, resize back
    encode       the sink taking the frame (RGB -> YUV, encoder, muxer)
    total        the frame's age: from the source handing it over to the sink returning

``total`` includes the time spent waiting in queues, so it is the latency a
viewer of a live stream would see, not the sum of the other stages.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import TextIO

import numpy as np

STAGES = ("decode", "preprocess", "inference", "postprocess", "encode", "total")
PERCENTILES = (50, 95, 99)


class StageStats:
    """Latency samples per stage. Filled by one thread (the sink's), read after the run."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {stage: [] for stage in STAGES}

    def add(self, timings: Mapping[str, float]) -> None:
        for stage, seconds in timings.items():
            self.samples.setdefault(stage, []).append(seconds)

    def summary(self) -> dict[str, dict[str, float | None]]:
        """{stage: {"p50_ms", "p95_ms", "p99_ms"}}; None when nothing was measured."""
        out = {}
        for stage, values in self.samples.items():
            q = np.percentile(np.asarray(values) * 1e3, PERCENTILES) if values else [None] * len(PERCENTILES)
            out[stage] = {f"p{p}_ms": (None if v is None else round(float(v), 3)) for p, v in zip(PERCENTILES, q)}
        return out


def run_report(frames: int, wall_s: float, engine: str, model: str, stats: StageStats, workers: int = 1) -> dict:
    """The ``--stats-json`` document. fps is frames written per second of pipeline wall time
    (model loading and file opening are not included)."""
    return {
        "frames": frames,
        "fps": round(frames / wall_s, 3) if wall_s > 0 else 0.0,
        "wall_s": round(wall_s, 3),
        "engine": engine,
        "model": model,
        "workers": workers,
        "stages": stats.summary(),
    }


def summary_line(report: dict) -> str:
    """One line for stderr: frames, fps and p50/p95 per stage."""
    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}" if v >= 10 else f"{v:.1f}"

    stages = ", ".join(f"{name} {ms(q['p50_ms'])}/{ms(q['p95_ms'])}" for name, q in report["stages"].items())
    workers = f", {report['workers']} workers" if report.get("workers", 1) > 1 else ""
    keys = f", {report['keyframes']} key frames" if "keyframes" in report else ""
    return (f"{report['frames']} frames in {report['wall_s']:.1f} s ({report['fps']:.2f} fps, "
            f"{report['engine']}{workers}{keys}); p50/p95 ms: {stages}")


class Progress:
    """``  120/240 frames  50% [#####     ] 6.8 fps  ETA 0:17`` redrawn in place on a terminal.

    Silent when disabled (not a TTY, --quiet), so logs and pipes stay clean."""

    WIDTH = 24
    INTERVAL_S = 0.2

    def __init__(self, total: int | None, enabled: bool, stream: TextIO = sys.stderr):
        self.total = total if total and total > 0 else None
        self.enabled = enabled
        self.stream = stream
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._drawn = False

    def update(self, done: int, force: bool = False) -> None:
        now = time.perf_counter()
        if not self.enabled or (not force and now - self._last_draw < self.INTERVAL_S):
            return
        self._last_draw = now
        elapsed = now - self.start
        fps = done / elapsed if elapsed > 0 else 0.0
        if self.total:
            frac = min(1.0, done / self.total)
            bar = "#" * round(frac * self.WIDTH)
            eta = (self.total - done) / fps if fps > 0 else None
            eta_s = "--:--" if eta is None else f"{int(eta // 60)}:{int(eta % 60):02d}"
            line = f"{done:6d}/{self.total} frames {frac:4.0%} [{bar:<{self.WIDTH}}] {fps:5.2f} fps  ETA {eta_s}"
        else:
            line = f"{done:6d} frames {fps:5.2f} fps"
        self.stream.write("\r" + line + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def message(self, text: str) -> None:
        """Print a line without garbling the bar: it is redrawn below on the next update."""
        if self._drawn:
            self.stream.write("\r\x1b[K")
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self, done: int) -> None:
        if self._drawn:
            self.update(done, force=True)
            self.stream.write("\n")
            self.stream.flush()
