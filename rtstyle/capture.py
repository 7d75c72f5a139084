"""Live sources: a camera (index or /dev/videoN), an IP camera URL, or a file played in real time.

A ``LiveSource`` is an iterable of ``LiveFrame`` for ``pipeline.run`` with
``PipelineConfig(latest_only=True)``: the pipeline's source thread then reads
the device continuously and only the newest frame waits for the network, so a
slow network never makes the camera queue up (the OS and network buffers are
drained at the camera's rate; replaced frames are counted as drops).

A live source that stops delivering (camera unplugged, stream cut) is reopened
with back-off until ``reconnect_timeout_s`` has passed since the loss; then the
stream ends normally (``gave_up`` is set) so whatever was recorded is kept.
"""
from __future__ import annotations

import argparse
import glob
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .pipeline import Frame

URL_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")


@dataclass
class LiveFrame(Frame):
    """A Frame that keeps the camera picture beside the stylized one (for side-by-side and blending)."""

    original: np.ndarray | None = None


@dataclass(frozen=True)
class CaptureConfig:
    source: str = "0"  # camera index, /dev/videoN, rtsp:// or http(s):// URL, or a video file
    size: tuple[int, int] | None = None  # (w, h): asked of cameras, and every frame is resized to it
    fps: float | None = None  # at most this many frames per second are delivered
    mirror: bool = False
    realtime: bool = False  # required for a file: play it at its own rate, dropping like a camera
    reconnect_timeout_s: float = 10.0
    open_timeout_s: float = 5.0  # network streams: connecting, and each read


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # "index", "device", "url" or "file"
    target: str | int


def parse_source(text: str, realtime: bool = False) -> SourceSpec:
    """What ``--camera`` names. A file is only accepted with ``--realtime``."""
    text = text.strip()
    if re.fullmatch(r"\d+", text):
        return SourceSpec("index", int(text))
    if re.fullmatch(r"/dev/video\d+", text):
        return SourceSpec("device", text)
    if text.lower().startswith(URL_SCHEMES):
        return SourceSpec("url", text)
    if "://" in text:
        raise ValueError(f"unsupported stream address {text!r}: use rtsp://, http:// or https://")
    path = Path(text)
    if not path.is_file():
        raise FileNotFoundError(f"--camera: no such camera, URL or file: {text}")
    if not realtime:
        raise ValueError(f"--camera {text} is a file: add --realtime to play it as a live source "
                         "(or use `rtstyle video` to stylize every frame)")
    return SourceSpec("file", str(path))


def list_cameras() -> list[str]:
    """The V4L2 devices present (Linux); empty elsewhere or when there are none."""
    return sorted(glob.glob("/dev/video*"), key=lambda p: int(re.sub(r"\D", "", p) or 0))


def no_camera_message(spec: SourceSpec) -> str:
    found = list_cameras()
    where = f"at index {spec.target}" if spec.kind == "index" else f"at {spec.target}"
    return f"no camera {where}; cameras found: {', '.join(found) if found else 'none'}"


def parse_size(text: str) -> tuple[int, int]:
    """'640x480' -> (640, 480)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH, e.g. 640x480, got {text!r}") from None
    if w < 16 or h < 16:
        raise argparse.ArgumentTypeError("width and height must be at least 16")
    return w, h


Status = Callable[[str], None]


class LiveSource:
    """Iterates over LiveFrames from a live source until ``stop`` is set or the source is gone."""

    def __init__(self, config: CaptureConfig, stop: threading.Event | None = None,
                 on_status: Status | None = None):
        self.config = config
        self.spec = parse_source(config.source, config.realtime)
        self.stop = stop or threading.Event()
        self.on_status = on_status or (lambda message: None)
        self.frames_read = 0  # frames taken from the device (delivered or skipped by --fps)
        self.reconnects = 0
        self.gave_up = False
        self._cap = self._open()
        if not self._cap.isOpened():
            self._cap.release()
            if self.spec.kind in ("index", "device"):
                raise OSError(no_camera_message(self.spec))
            raise OSError(f"cannot open {self.spec.target}")
        self._file_rate = (self._cap.get(cv2.CAP_PROP_FPS) or 25.0) if self.spec.kind == "file" else None

    @property
    def live(self) -> bool:
        return self.spec.kind != "file"

    def _open(self) -> cv2.VideoCapture:
        c = self.config
        if self.spec.kind in ("url", "file"):
            ms = int(c.open_timeout_s * 1000)
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
            return cv2.VideoCapture(self.spec.target, cv2.CAP_FFMPEG, params)
        cap = cv2.VideoCapture(self.spec.target)
        if cap.isOpened():
            if c.size:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, c.size[0])
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, c.size[1])
            if c.fps:
                cap.set(cv2.CAP_PROP_FPS, c.fps)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # V4L2: hand over the newest buffer, not a queued one
        return cap

    def __iter__(self) -> Iterator[LiveFrame]:
        start = time.monotonic()
        last_yield = -1e9
        min_gap = 1.0 / self.config.fps if self.config.fps else 0.0
        try:
            while not self.stop.is_set():
                if self._file_rate:  # --realtime: frame k is due k/rate after the start; late ones are skipped
                    due = start + self.frames_read / self._file_rate
                    if time.monotonic() > due + 1.0 / self._file_rate:
                        if not self._cap.grab():
                            return
                        self.frames_read += 1
                        continue
                    self.stop.wait(max(0.0, due - time.monotonic()))
                ok, bgr = self._cap.read()
                if not ok:
                    if self.spec.kind == "file" or not self._reconnect():
                        return
                    continue
                self.frames_read += 1
                now = time.monotonic()
                if now - last_yield < min_gap:
                    continue
                last_yield = now
                yield self._frame(bgr)
        finally:
            self._cap.release()

    def _frame(self, bgr: np.ndarray) -> LiveFrame:
        c = self.config
        if c.size and (bgr.shape[1], bgr.shape[0]) != c.size:
            bgr = cv2.resize(bgr, c.size, interpolation=cv2.INTER_AREA)
        if c.mirror:
            bgr = cv2.flip(bgr, 1)
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        return LiveFrame(rgb, index=self.frames_read - 1, original=rgb)

    def _reconnect(self) -> bool:
        """Reopen with exponential back-off; False once ``reconnect_timeout_s`` has passed."""
        self._cap.release()
        lost = time.monotonic()
        limit = self.config.reconnect_timeout_s
        delay, attempt = 0.25, 0
        self.on_status(f"{self.spec.target}: stream lost, trying to reconnect for up to {limit:g} s")
        while not self.stop.is_set():
            remaining = limit - (time.monotonic() - lost)
            if remaining <= 0:
                break
            if self.stop.wait(min(delay, remaining)):
                return False
            delay = min(delay * 2, 4.0)
            attempt += 1
            self._cap = self._open()
            if self._cap.isOpened():
                self.reconnects += 1
                self.on_status(f"reconnected to {self.spec.target} after {time.monotonic() - lost:.1f} s "
                               f"({attempt} attempts)")
                return True
            self._cap.release()
            self.on_status(f"reconnect attempt {attempt} failed, {max(0.0, limit - (time.monotonic() - lost)):.0f} s left")
        if not self.stop.is_set():
            self.gave_up = True
            self.on_status(f"{self.spec.target}: could not reconnect within {limit:g} s, giving up")
        return False
