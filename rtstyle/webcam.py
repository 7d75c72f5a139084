"""``rtstyle webcam``: a live source, stylized, to a window, a recording and/or a virtual camera.

    capture thread --newest frame only--> inference thread --> output thread --> window (main thread)
                                                                         \\--> recorder thread (H.264)
                                                                          \\-> virtual camera

``pipeline.run`` with ``latest_only`` does the threading: the capture thread
reads the camera at its own rate and replaces the frame waiting for the network,
so the stream never falls behind the camera. The window lives in the main
thread (GUI toolkits want that), fed by ``pipeline.run``'s progress hook.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from .capture import CaptureConfig, LiveFrame, LiveSource, parse_size, parse_source
from .display import (QUIT, RECORD, SCREENSHOT, HudInfo, Window, check_window_possible, draw_hud, handle_key,
                      hud_lines)
from .effects import Controls, ControlState, LiveStylizer, side_by_side
from .pipeline import PipelineConfig, run
from .recorder import Recorder
from .sinks import check_output, write_image
from .stats import StageStats, run_report, summary_line

EXIT_GAVE_UP = 1
MESSAGE_S = 5.0  # how long a status message stays on the HUD
OnDelivered = Callable[[np.ndarray, LiveFrame], None]


@dataclass(frozen=True)
class WebcamConfig:
    capture: CaptureConfig = CaptureConfig()
    window: bool = True
    output: Path | None = None  # recorded from the start
    virtual_cam: bool = False
    save_dir: Path = Path(".")  # screenshots (s) and recordings started with r
    duration_s: float | None = None
    record_fps: float = 30.0  # nominal rate written in recordings (timestamps are the real ones)


@dataclass
class WebcamResult:
    delivered: int  # stylized frames shown (window) or handed to the outputs (headless)
    wall_s: float
    captured: int  # frames read from the source
    reconnects: int
    gave_up: bool
    stats: StageStats
    recordings: list[Path] = field(default_factory=list)
    screenshots: list[Path] = field(default_factory=list)

    @property
    def dropped(self) -> int:
        return max(0, self.captured - self.delivered)


class Rolling:
    """fps and latency percentiles over the last frames, for the HUD."""

    def __init__(self, n: int = 120):
        self.times: deque[float] = deque(maxlen=n)
        self.latencies: deque[float] = deque(maxlen=n)

    def add(self, now: float, latency_s: float) -> None:
        self.times.append(now)
        self.latencies.append(latency_s * 1e3)

    def fps(self) -> float:
        if len(self.times) < 2:
            return 0.0
        return (len(self.times) - 1) / max(1e-9, self.times[-1] - self.times[0])

    def percentiles(self) -> tuple[float | None, float | None]:
        if not self.latencies:
            return None, None
        p50, p95 = np.percentile(np.asarray(self.latencies), [50, 95])
        return float(p50), float(p95)


def timestamped(folder: Path, prefix: str, suffix: str) -> Path:
    """A new file name in ``folder`` that does not exist yet (never overwrites)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = folder / f"{prefix}-{stamp}{suffix}"
    n = 1
    while path.exists():
        path, n = folder / f"{prefix}-{stamp}-{n}{suffix}", n + 1
    return path


def import_pyvirtualcam():
    try:
        import pyvirtualcam
    except ImportError:
        raise ValueError("--virtual-cam needs pyvirtualcam: pip install 'rtstyle[virtualcam]'") from None
    return pyvirtualcam


class VirtualCamera:
    """The stylized stream as a system camera (pyvirtualcam: v4l2loopback, OBS, Unity Capture)."""

    def __init__(self, width: int, height: int, fps: float):
        pyvirtualcam = import_pyvirtualcam()
        try:
            self._cam = pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat.RGB)
        except RuntimeError as e:  # no v4l2loopback device / no OBS virtual camera installed
            raise OSError(f"cannot open a virtual camera: {e}") from None
        self.size = (width, height)
        self.device = self._cam.device

    def send(self, rgb: np.ndarray) -> None:
        if (rgb.shape[1], rgb.shape[0]) != self.size:
            rgb = cv2.resize(rgb, self.size, interpolation=cv2.INTER_AREA)
        self._cam.send(rgb)

    def close(self) -> None:
        self._cam.close()


class Outputs:
    """The pipeline's sink (output thread): recording, virtual camera, and the handoff to the window."""

    def __init__(self, config: WebcamConfig, say: Callable[[str], None],
                 on_delivered: OnDelivered | None = None):
        self.config = config
        self.say = say
        self.on_delivered = on_delivered
        self.delivered = 0
        self.recordings: list[Path] = []
        self.encode_latencies: list[float] = []  # capture -> encoder returned, all recordings
        self._record_to = config.output  # opened at the first frame, when the size is known
        self._recorder: Recorder | None = None
        self._vcam: VirtualCamera | None = None
        self._lock = threading.Lock()  # recorder on/off comes from the window's thread
        self._latest: LiveFrame | None = None
        self._new = threading.Condition()

    @property
    def recording(self) -> bool:
        return self._recorder is not None or self._record_to is not None

    def write(self, frame: LiveFrame) -> None:
        h, w = frame.image.shape[:2]
        with self._lock:
            if self._record_to is not None:
                self._recorder = Recorder(self._record_to, w, h, self.config.record_fps)
                self.say(f"recording to {self._record_to}")
                self._record_to = None
            if self._recorder is not None:
                self._recorder.put(frame)
        if self.config.virtual_cam:
            if self._vcam is None:
                self._vcam = VirtualCamera(w, h, self.config.capture.fps or self.config.record_fps)
                self.say(f"virtual camera: {self._vcam.device}")
            self._vcam.send(frame.image)
        self.delivered += 1
        if self.config.window:
            with self._new:
                self._latest = frame
                self._new.notify()
        elif self.on_delivered:
            self.on_delivered(frame.image, frame)

    def take(self, timeout_s: float) -> LiveFrame | None:
        """The newest frame not shown yet (window thread), waiting up to ``timeout_s``."""
        with self._new:
            if self._latest is None:
                self._new.wait(timeout_s)
            frame, self._latest = self._latest, None
        return frame

    def toggle_recording(self) -> None:
        with self._lock:
            if self._recorder is None and self._record_to is None:
                self._record_to = timestamped(self.config.save_dir, "rtstyle", ".mp4")
                return
            self._record_to = None
            recorder, self._recorder = self._recorder, None
        if recorder is not None:
            self._finish(recorder)

    def _finish(self, recorder: Recorder) -> None:
        recorder.close()
        self.encode_latencies += recorder.latencies
        if recorder.frames:
            self.recordings.append(recorder.path)
            lost = f", {recorder.dropped} frames dropped by the encoder" if recorder.dropped else ""
            self.say(f"wrote {recorder.path} ({recorder.frames} frames{lost})")

    def flush(self) -> None:
        pass

    def close(self, keep: bool) -> None:
        """End of the run: the recording is finished (even when a stage failed: never lose it)."""
        with self._lock:
            recorder, self._recorder, self._record_to = self._recorder, None, None
        try:
            if recorder is not None:
                self._finish(recorder)
        finally:
            if self._vcam is not None:
                self._vcam.close()


class LiveView:
    """The window, driven from the main thread: newest frame + HUD, keys, screenshots."""

    def __init__(self, window: Window, outputs: Outputs, live: LiveStylizer, stop: threading.Event,
                 source: LiveSource, save_dir: Path, on_delivered: OnDelivered | None = None):
        self.window, self.outputs, self.live, self.stop = window, outputs, live, stop
        self.source = source
        self.save_dir = save_dir
        self.on_delivered = on_delivered
        self.rolling = Rolling()
        self.latencies: list[float] = []  # capture -> on screen, seconds
        self.shown = 0
        self.screenshots: list[Path] = []
        self._message = ("", 0.0)
        self._redraw = False
        self._last: np.ndarray | None = None

    def message(self, text: str) -> None:
        """Show ``text`` on the HUD for a few seconds (from any thread)."""
        self._message = (text, time.monotonic())
        self._redraw = True  # even when no frame comes (a lost camera): the window must say so

    def pump(self, _frames: int = 0) -> None:
        frame = self.outputs.take(0.02)
        c = self.live.state.controls
        if frame is not None:
            self._last = side_by_side(frame.original, frame.image) if c.side_by_side else frame.image
        if self._last is not None and (frame is not None or self._redraw):
            self._redraw = False
            self.window.show(draw_hud(self._last, hud_lines(self._hud(c))))
        key = self.window.key(1)
        if frame is not None:
            now = time.perf_counter()
            self.latencies.append(now - frame.born)
            self.rolling.add(now, now - frame.born)
            self.shown += 1
            if self.on_delivered:
                self.on_delivered(frame.image, frame)  # the stylized picture just put on screen
        controls, action = handle_key(key, self.live.state.controls, len(self.live.styles))
        self.live.state.controls = controls
        if action == QUIT or self.window.closed:
            self.stop.set()
        elif action == SCREENSHOT and self._last is not None:
            path = timestamped(self.save_dir, "rtstyle", ".png")
            write_image(path, self._last)
            self.screenshots.append(path)
            self.message(f"saved {path.name}")
        elif action == RECORD:
            self.outputs.toggle_recording()
            self.message("recording" if self.outputs.recording else "recording stopped")

    def _hud(self, c: Controls) -> HudInfo:
        p50, p95 = self.rolling.percentiles()
        text, since = self._message
        stylizer = self.live.last
        return HudInfo(self.rolling.fps(), p50, p95, stylizer.engine.name, stylizer.style.name,
                       max(0, self.source.frames_read - self.shown), c, self.outputs.recording,
                       text if time.monotonic() - since < MESSAGE_S else "")


def run_webcam(config: WebcamConfig, live: LiveStylizer | Sequence[LiveStylizer], stop: threading.Event | None = None,
               say: Callable[[str], None] | None = None, on_delivered: OnDelivered | None = None) -> WebcamResult:
    """Run until ``stop`` is set, q/Esc, the window closes, ``duration_s`` passes or the source is gone.

    Several LiveStylizers (sharing one ControlState) are the pipeline's parallel inference workers;
    the window's HUD follows the first."""
    workers = list(live) if isinstance(live, Sequence) else [live]
    live = workers[0]
    stop = stop or threading.Event()
    say = say or (lambda message: print(f"rtstyle: {message}", file=sys.stderr, flush=True))
    window = Window() if config.window else None  # fails before the camera is opened
    view: LiveView | None = None

    def status(message: str) -> None:
        say(message)
        if view is not None:
            view.message(message)

    source = LiveSource(config.capture, stop, status)
    outputs = Outputs(config, status, on_delivered)
    if window is not None:
        view = LiveView(window, outputs, live, stop, source, config.save_dir, on_delivered)
    deadline = time.monotonic() + config.duration_s if config.duration_s else None

    def tick(frames: int) -> None:
        if view is not None:
            view.pump(frames)
        if deadline is not None and time.monotonic() >= deadline:
            stop.set()

    try:
        result = run(source, workers, outputs, stop=stop, on_progress=tick,
                     config=PipelineConfig(queue_size=1, poll_s=0.01, latest_only=True))
    finally:
        if window is not None:
            window.close()
    stats = result.stats
    if view is not None:
        stats.samples["total"] = view.latencies
    elif outputs.encode_latencies:
        stats.samples["total"] = outputs.encode_latencies
    delivered = view.shown if view is not None else outputs.delivered
    return WebcamResult(delivered, result.wall_s, source.frames_read, source.reconnects, source.gave_up,
                        stats, outputs.recordings, view.screenshots if view else [])


def webcam_report(r: WebcamResult, engine: str, model: str, source: str, workers: int = 1) -> dict:
    """The ``--stats-json`` document: ``rtstyle video``'s, plus what a live source adds."""
    report = run_report(r.delivered, r.wall_s, engine, model, r.stats, workers)
    report.update(source=source, captured=r.captured, dropped=r.dropped, reconnects=r.reconnects,
                  gave_up=r.gave_up)
    return report


def add_webcam_parser(sub: argparse._SubParsersAction, add_model_args: Callable,
                      add_temporal_args: Callable, add_workers_arg: Callable) -> None:
    s = sub.add_parser("webcam", help="stylize a live camera, IP camera or stream, with a window or headless")
    s.add_argument("--camera", default="0",
                   help="camera index, /dev/videoN, rtsp:// or http(s):// URL, or a video file with --realtime "
                        "(default: 0)")
    s.add_argument("--realtime", action="store_true",
                   help="play a --camera video file at its own rate, dropping frames like a camera")
    s.add_argument("--size", type=parse_size, help="capture size WxH, e.g. 640x480 (default: the source's)")
    s.add_argument("--fps", type=float, help="deliver at most this many frames per second")
    s.add_argument("--mirror", action="store_true", help="flip left-right, like a mirror")
    add_model_args(s)
    # Off by default here: measured live (README), a stream that drops frames leaves the flow
    # little to explain, nearly every frame is a key frame, and the stage only adds latency.
    # Live: the small networks leave a frame ~33 ms, too little for two full-size flows.
    add_temporal_args(s, default=False, flow_scale=0.5)
    add_workers_arg(s)
    s.add_argument("--no-window", action="store_true", help="headless: no window (use --output or --virtual-cam)")
    s.add_argument("--output", type=Path, help="record the stylized stream from the start (H.264, e.g. out.mp4)")
    s.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    s.add_argument("--virtual-cam", action="store_true",
                   help="publish the stylized stream as a virtual camera (needs rtstyle[virtualcam])")
    s.add_argument("--save-dir", type=Path, default=Path("."),
                   help="where s (screenshot) and r (record) write files (default: .)")
    s.add_argument("--reconnect-timeout", type=float, default=10.0,
                   help="when the source is lost, retry for this many seconds (default: 10)")
    s.add_argument("--duration", type=float, help="stop after this many seconds")
    s.add_argument("--stats-json", type=Path, help="write fps, drops and latency percentiles here at the end")
    s.add_argument("-q", "--quiet", action="store_true", help="no status lines or summary on stderr")
    s.set_defaults(func=cmd_webcam)


def _style_choices(a: argparse.Namespace) -> list[str | None]:
    """Styles n/p/1-9 cycle through: every built-in style, unless one model file was given."""
    from .registry import builtin_styles

    if a.style is None and (a.model is not None or getattr(a, "style_image", None) is not None):
        return [None]
    return list(builtin_styles()) or [a.style]


def quiet_video_libraries() -> None:
    """A lost stream or a missing camera is reported by us, in one line; FFmpeg's and OpenCV's own
    messages about the same event (connection refused, index out of range) would only repeat it.
    An explicit user setting wins."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    if "OPENCV_LOG_LEVEL" not in os.environ:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


def cmd_webcam(a: argparse.Namespace) -> int:
    from .cli import _ctrl_c_sets, engine_options, make_stylizers, temporal_config
    from .stylizer import Stylizer

    def say(message: str) -> None:
        if not a.quiet:
            print(f"rtstyle: {message}", file=sys.stderr, flush=True)

    if a.no_window and not (a.output or a.virtual_cam or a.stats_json):
        raise ValueError("--no-window needs somewhere to send the stream: --output, --virtual-cam or --stats-json")
    if a.reconnect_timeout < 0:
        raise ValueError("--reconnect-timeout must be >= 0")
    if a.stats_json and not a.stats_json.parent.is_dir():
        raise FileNotFoundError(f"--stats-json folder does not exist: {a.stats_json.parent}")
    if not a.save_dir.is_dir():
        raise FileNotFoundError(f"--save-dir is not a folder: {a.save_dir}")
    parse_source(a.camera, a.realtime)  # a bad --camera is reported before the model loads
    if a.virtual_cam:
        import_pyvirtualcam()
    if not a.no_window:
        check_window_possible()
    if a.output:
        check_output(a.camera, a.output, a.overwrite)

    quiet_video_libraries()
    styles = _style_choices(a)
    firsts = make_stylizers(a)
    first = firsts[0]
    for note in first.notes:
        say(note)
    index = styles.index(first.style.name) if first.style.name in styles else 0
    state = ControlState(Controls(style_index=index))
    workers = [LiveStylizer(styles, lambda name: Stylizer(name, engine=a.engine, threads=a.threads,
                                                          max_size=a.max_size, temporal=temporal_config(a),
                                                          quality=a.quality, engine_options=engine_options(a)),
                            state, f) for f in firsts]
    live = workers[0]
    config = WebcamConfig(
        CaptureConfig(a.camera, a.size, a.fps, a.mirror, a.realtime, a.reconnect_timeout),
        window=not a.no_window, output=a.output, virtual_cam=a.virtual_cam, save_dir=a.save_dir,
        duration_s=a.duration, record_fps=a.fps or 30.0)
    stop = threading.Event()
    with _ctrl_c_sets(stop, say):
        result = run_webcam(config, workers, stop, say)
    report = webcam_report(result, first.engine.name, live.last.style.name, a.camera, len(workers))
    if a.stats_json:
        a.stats_json.write_text(json.dumps(report, indent=2) + "\n")
    say(summary_line(report) + f"; {result.dropped} of {result.captured} captured frames dropped")
    if result.gave_up:
        print(f"rtstyle: error: lost {a.camera} and could not reconnect within {a.reconnect_timeout:g} s"
              + (f" (kept {', '.join(map(str, result.recordings))})" if result.recordings else ""),
              file=sys.stderr)
        return EXIT_GAVE_UP
    return 0

