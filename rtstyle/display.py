"""The live window: HUD text, key handling and the OpenCV window itself.

HUD drawing and key handling are pure functions on frames and Controls, so
they are tested without a display. Only ``Window`` needs a GUI build of
OpenCV (opencv-python, not opencv-python-headless) and a display.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace

import cv2
import numpy as np

from .effects import STRENGTH_STEP, Controls

KEY_ESC = 27
QUIT, SCREENSHOT, RECORD = "quit", "screenshot", "record"


def gui_available(build_info: str | None = None) -> bool:
    """Was this OpenCV built with a window backend (GTK, Qt, ...)? The headless wheel says 'GUI: NONE'."""
    info = cv2.getBuildInformation() if build_info is None else build_info
    for line in info.splitlines():
        key, _, value = line.strip().partition(":")
        if key.strip() == "GUI":
            return value.strip().upper() not in ("", "NONE")
    return False


def check_window_possible() -> None:
    """One clear error instead of an OpenCV crash when a window cannot be opened."""
    if not gui_available():
        raise ValueError("this OpenCV has no window support (opencv-python-headless): "
                         "pip install 'rtstyle[gui]', or use --no-window with --output or --virtual-cam")
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise ValueError("no display to open a window on (DISPLAY is not set): "
                         "use --no-window with --output or --virtual-cam")


def handle_key(key: int, controls: Controls, n_styles: int) -> tuple[Controls, str | None]:
    """A key code from cv2.waitKey -> (new controls, action for the caller: QUIT, SCREENSHOT, RECORD or None)."""
    if key < 0:
        return controls, None
    ch = chr(key & 0xFF)
    if key == KEY_ESC or ch == "q":
        return controls, QUIT
    if ch == "s":
        return controls, SCREENSHOT
    if ch == "r":
        return controls, RECORD
    if ch == "n":
        return replace(controls, style_index=(controls.style_index + 1) % n_styles), None
    if ch == "p":
        return replace(controls, style_index=(controls.style_index - 1) % n_styles), None
    if ch in "123456789" and int(ch) <= n_styles:
        return replace(controls, style_index=int(ch) - 1), None
    if ch == "v":
        return replace(controls, side_by_side=not controls.side_by_side), None
    if ch == "c":
        return replace(controls, preserve_colour=not controls.preserve_colour), None
    if ch in "+=-_":
        step = STRENGTH_STEP if ch in "+=" else -STRENGTH_STEP
        return replace(controls, strength=round(min(1.0, max(0.0, controls.strength + step)), 2)), None
    return controls, None


@dataclass(frozen=True)
class HudInfo:
    fps: float
    p50_ms: float | None
    p95_ms: float | None
    engine: str
    style: str
    drops: int
    controls: Controls
    recording: bool = False
    message: str = ""


def hud_lines(h: HudInfo) -> list[str]:
    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}"

    extras = [f"strength {h.controls.strength:.0%}"]
    if h.controls.preserve_colour:
        extras.append("colour kept")
    lines = [f"{h.fps:.1f} fps  latency p50 {ms(h.p50_ms)} / p95 {ms(h.p95_ms)} ms  drops {h.drops}",
             f"{h.engine}  {h.style}  " + "  ".join(extras) + ("  REC" if h.recording else "")]
    if h.message:
        lines.append(h.message)
    return lines


def draw_hud(image: np.ndarray, lines: list[str]) -> np.ndarray:
    """The HUD in the bottom-left corner on a darkened band (a copy; the frame is untouched).
    Bottom, not top: the top-left corner is where test sources stamp frame indices."""
    out = image.copy()
    h, w = out.shape[:2]
    scale = max(0.35, min(1.0, w / 1100))
    line_h = int(22 * scale / 0.6)
    top = max(0, h - line_h * len(lines) - 6)
    band = out[top:]
    band[:] = (band * 0.4).astype(np.uint8)
    for i, text in enumerate(lines):
        y = top + line_h * (i + 1) - 4
        cv2.putText(out, text, (6, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


SYSTEM_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/TTF", "/usr/share/fonts/truetype")


def _point_qt_at_fonts() -> None:
    """opencv-python's Qt build is told (by cv2 itself) to load fonts from a folder the wheel does not
    ship, and Qt then prints a warning pair per font lookup. Point it at the system's fonts instead."""
    current = os.environ.get("QT_QPA_FONTDIR")
    if current and not os.path.isdir(current):
        for folder in SYSTEM_FONT_DIRS:
            if os.path.isdir(folder):
                os.environ["QT_QPA_FONTDIR"] = folder
                return


class Window:
    """One OpenCV window showing RGB frames. ``closed`` turns true when the user closes it."""

    def __init__(self, title: str = "rtstyle"):
        check_window_possible()
        _point_qt_at_fonts()
        self.title = title
        cv2.namedWindow(title, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)  # no Qt toolbar
        self._shown = False

    def show(self, rgb: np.ndarray) -> None:
        cv2.imshow(self.title, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        self._shown = True

    def key(self, wait_ms: int = 1) -> int:
        """Pump the GUI events; the key pressed meanwhile, or -1."""
        return cv2.waitKey(wait_ms)

    @property
    def closed(self) -> bool:
        if not self._shown:
            return False
        try:
            return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1
        except cv2.error:
            return True

    def close(self) -> None:
        try:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
        except cv2.error:
            pass
