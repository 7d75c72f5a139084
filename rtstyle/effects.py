"""Live adjustments of a stylized stream: style switching, strength, colour preservation.

``Controls`` is what the keys change (``display.handle_key``); ``LiveStylizer``
reads the current Controls for every frame, so a key press takes effect on the
next frame without stopping the stream. It is the inference stage of
``rtstyle webcam`` and keeps the Stylizer contract
(``stylize_timed(frame) -> (frame, {stage: seconds})``).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

STRENGTH_STEP = 0.1


@dataclass(frozen=True)
class Controls:
    style_index: int = 0
    strength: float = 1.0  # 0 = the camera picture, 1 = fully stylized
    preserve_colour: bool = False  # the painting's strokes with the camera's colours
    side_by_side: bool = False  # window only: original | stylized


def blend(original: np.ndarray, stylized: np.ndarray, strength: float) -> np.ndarray:
    """Mix the stylized frame with the original; both HxWx3 uint8."""
    if strength >= 1.0:
        return stylized
    if strength <= 0.0:
        return original
    return cv2.addWeighted(stylized, strength, original, 1.0 - strength, 0.0)


def preserve_colour(original: np.ndarray, stylized: np.ndarray) -> np.ndarray:
    """Luminance from the stylized frame, chroma from the original (Gatys et al. 2016, 'luminance-only
    transfer', done in YCrCb after the fact)."""
    y = cv2.cvtColor(stylized, cv2.COLOR_RGB2YCrCb)[:, :, :1]
    crcb = cv2.cvtColor(original, cv2.COLOR_RGB2YCrCb)[:, :, 1:]
    return cv2.cvtColor(np.concatenate([y, crcb], axis=2), cv2.COLOR_YCrCb2RGB)


def side_by_side(original: np.ndarray, stylized: np.ndarray) -> np.ndarray:
    if original.shape != stylized.shape:
        original = cv2.resize(original, (stylized.shape[1], stylized.shape[0]), interpolation=cv2.INTER_AREA)
    return np.hstack([original, stylized])


class ControlState:
    """The current Controls, replaced whole by the thread handling keys and read by inference."""

    def __init__(self, controls: Controls = Controls()):
        self.controls = controls


class LiveStylizer:
    """Stylizes with the style the controls select; one Stylizer per style, created on first use."""

    def __init__(self, styles: Sequence[str | None], make: Callable[[str | None], object],
                 state: ControlState, first: object | None = None):
        if not styles:
            raise ValueError("no styles to choose from")
        self.styles = list(styles)
        self.state = state
        self._make = make
        self._cache: dict[int, object] = {}
        if first is not None:
            self._cache[state.controls.style_index] = first
        self.last = first  # the Stylizer of the latest frame: what the viewer sees (for the HUD)

    def stylizer(self, index: int):
        if index not in self._cache:
            self._cache[index] = self._make(self.styles[index])
        return self._cache[index]

    def stylize_timed(self, frame: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
        c = self.state.controls
        self.last = self.stylizer(c.style_index % len(self.styles))
        out, timings = self.last.stylize_timed(frame)
        t0 = time.perf_counter()
        if c.preserve_colour:
            out = preserve_colour(frame, out)
        out = blend(frame, out, c.strength)
        timings["effects"] = time.perf_counter() - t0
        return out, timings
