"""Stylizer: one model, one engine, one stream of frames.

This is the inference stage of every pipeline and the public Python API:

    from rtstyle import Stylizer
    out = Stylizer(style="starry").stylize(frame)   # HxWx3 uint8 RGB in and out

It is a per-stream object on purpose: state that depends on previous frames
(temporal caches) belongs here, so one Stylizer serves one video or camera.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from .engines import EngineOptions, create_engine
from .frames import as_rgb8, from_batch, to_batch
from .registry import StyleModel, resolve_model
from .presets import get_preset, preset_for, preset_model
from .temporal import Observation, TemporalConfig, make_stage
from .upsample import downscale

# Below this the network's reflection pads exceed the 1/4-resolution feature map.
MIN_SIDE = 16


@dataclass(frozen=True)
class StylizerConfig:
    style: str | None = None
    model: str | Path | None = None
    engine: str = "auto"
    threads: int = 0
    max_size: int | None = None  # stylize with the long side at most this, then scale back
    style_image: str | Path | None = None  # any painting, through the distilled StyTr² (arbitrary.py)
    temporal: TemporalConfig | None = None  # video: reuse and smooth across frames (temporal.py)
    quality: str | None = None  # a preset of rtstyle.presets: network and internal scale
    engine_options: EngineOptions = EngineOptions()  # backend settings (--ort); ``threads`` above wins if set


@dataclass(frozen=True)
class Prepared:
    """A frame's work that reads nothing stylized before it, done ahead (``Stylizer.prepare``)."""

    small: np.ndarray  # the network's input, HxWx3 uint8 (``Stylizer._fit``)
    size: tuple[int, int]  # its unpadded part
    shape: tuple[int, int]  # the size the output is scaled back to (before a preset's upsampling)
    seen: Observation  # the temporal stage's view of its motion
    seconds: float


class Stylizer:
    def __init__(self, style: str | None = None, *, model: str | Path | None = None, engine: str = "auto",
                 threads: int = 0, max_size: int | None = None, style_image: str | Path | None = None,
                 temporal: TemporalConfig | None = None, quality: str | None = None,
                 engine_options: EngineOptions = EngineOptions()):
        if style is None and model is None and style_image is None:
            style = "starry"
        self.config = StylizerConfig(style, model, engine, threads, max_size, style_image, temporal, quality,
                                     engine_options)
        options = replace(engine_options, threads=threads) if threads else engine_options
        if max_size is not None and max_size < MIN_SIDE:
            raise ValueError(f"--max-size must be at least {MIN_SIDE}")
        self.preset = get_preset(quality)
        if self.preset is not None and self.preset.scale < 1 and max_size is not None:
            raise ValueError(f"--max-size and --quality {quality} both set the internal size; give one")
        self.notes: list[str] = []
        if style_image is not None:
            # Any painting: the distilled StyTr² encodes it once; its engine then takes frames only.
            if style is not None or model is not None:
                raise ValueError("give a style name, a model file or a style image, not several")
            from .arbitrary import bind_style

            self.style, self.engine = bind_style(style_image, engine, options)
        else:
            self.style: StyleModel
            self.style, note = preset_model(resolve_model(style, model), self.preset, builtin=model is None)
            self.preset = preset_for(self.style, self.preset)  # a full-size student needs no downscale
            self.notes += [note] if note else []
            self.engine = create_engine(engine, self.style.path, options)
        # Video only: reuse work and smooth across this stream's frames (rtstyle.temporal).
        self.temporal = None
        if temporal is not None and temporal.enabled:
            stage = make_stage(temporal, self.engine.run, self.style, engine, options)
            if stage.config.enabled:
                self.temporal = stage
                self.notes += stage.notes
            elif temporal.stabilize is None and self.style.card.get("temporal", {}).get("stabilize") is False:
                # No trunk/head graphs, and the card measured the stabiliser alone not worth its cost.
                why = self.style.card["temporal"].get("note", "its card turns the stabiliser off")
                self.notes.append(f"no temporal stage for {self.style.name}: {why}; --temporal-mechanisms "
                                  "stabilize forces the stabiliser")
            else:
                self.notes += stage.notes + [f"no temporal stage for {self.style.name}: nothing asked for can run"]

    @property
    def parallel_frames(self) -> int:
        """How many frames of a stream are worth stylizing at once, one Stylizer (engine) each, on this
        machine: networks too small to use every core on one frame say so (the fast preset's students,
        ``Preset.workers``; a card's ``runtime.workers``). 1 with a temporal stage: its frames come in turn."""
        if self.temporal is not None:
            return 1
        wanted = max(self.preset.workers if self.preset else 1, self.style.card.get("runtime", {}).get("workers", 1))
        return max(1, min(wanted, os.cpu_count() or 1))

    def stylize(self, frame: np.ndarray) -> np.ndarray:
        """Any RGB/RGBA/gray uint8/uint16/float image -> HxWx3 uint8 RGB of the same size."""
        rgb, _ = as_rgb8(frame)
        return self.stylize_timed(rgb)[0]

    def prepare(self, frame: np.ndarray) -> Prepared | None:
        """What of ``stylize_timed(frame)`` reads no earlier output, done now: with a temporal stage, the frame's
        motion (rtstyle.temporal.Motion: its flows). A video's reader thread calls it on every frame, in
        order, and ``stylize_timed`` takes the result, so the flows run beside the network rather than before
        it. None when there is nothing to do ahead. A stream's frames are all prepared or none."""
        if self.temporal is None:
            return None
        t0 = time.perf_counter()
        small, size, shape = self._inputs(frame)
        seen = self.temporal.motion(small)
        return Prepared(small, size, shape, seen, time.perf_counter() - t0)

    def stylize_timed(self, frame: np.ndarray, prepared: Prepared | None = None) -> tuple[np.ndarray, dict[str, float]]:
        """HxWx3 uint8 RGB -> (stylized frame, seconds spent per stage); ``prepared``: ``prepare(frame)``'s."""
        t0 = time.perf_counter()
        small, (sh, sw), (h, w) = self._inputs(frame) if prepared is None else (prepared.small, prepared.size,
                                                                                 prepared.shape)
        batch = to_batch(small)
        t1 = time.perf_counter()
        if self.temporal is None:
            out, extra = self.engine.run(batch), {}
        else:
            out, extra = self.temporal(small, batch, prepared.seen if prepared else None)
        t2 = time.perf_counter()
        out = from_batch(out)[:sh, :sw]
        if (sh, sw) != (h, w):
            out = cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)
        t3 = time.perf_counter()
        timings = {"preprocess": t1 - t0, "inference": t2 - t1 - sum(extra.values()), "postprocess": t3 - t2,
                   **extra}
        if prepared is not None:  # the flows, wherever they ran
            timings["flow"] = timings.get("flow", 0.0) + prepared.seconds
        if (h, w) != frame.shape[:2]:
            # Edge-aware: the full-resolution frame steers the upsampling (rtstyle.upsample).
            out = self.preset.upsample(out, frame)
            timings["upsample"] = time.perf_counter() - t3
        return out, timings

    def _inputs(self, frame: np.ndarray) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
        """Frame -> (the network's input, its unpadded size, the size the output is scaled back to before
        a preset's upsampling to the frame's)."""
        if self.preset is not None and self.preset.scale < 1:
            frame = downscale(frame, self.preset.scale)
        small, size = self._fit(frame)
        return small, size, frame.shape[:2]

    def _fit(self, frame: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """Downscale to ``max_size`` and edge-pad tiny frames up to MIN_SIDE.

        Returns the network input and the size of its unpadded part."""
        h, w = frame.shape[:2]
        limit = self.config.max_size
        if limit and max(h, w) > limit:
            s = limit / max(h, w)
            frame = cv2.resize(frame, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
            h, w = frame.shape[:2]
        if h < MIN_SIDE or w < MIN_SIDE:
            frame = np.pad(frame, ((0, max(0, MIN_SIDE - h)), (0, max(0, MIN_SIDE - w)), (0, 0)), mode="edge")
        return frame, (h, w)
