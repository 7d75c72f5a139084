"""Temporal stage: per-stream state that makes video stylization faster and stable.

Frame-by-frame stylization flickers and repeats work. Three mechanisms, each
switchable in TemporalConfig and measured by benchmarks/temporal.py:

a. ``reuse``: the network's trunk (1/4 resolution, most of the FLOPs) runs on
   key frames only; on the others its cached output is warped by optical flow
   (DIS on small grayscale frames) and only the head runs. A new key frame is
   taken every ``keyframe_interval`` frames, on a scene cut, or when the flow
   no longer explains the picture (``rekey_error``).
b. ``carry_norms``: instance-norm statistics are an EMA over frames instead of
   being recomputed from each frame alone (rtstyle.models.split); reset on cuts.
c. ``stabilize``: the output is blended with the previous output warped by
   flow, only where a forward-backward check says the pixel is visible in both
   frames (Ruder et al. 2016), so moving and disoccluded regions do not ghost.

a and b need the trunk/head graphs (NAME.trunk.onnx, NAME.head.onnx beside
NAME.onnx, written by export/split_export.py); c works with any model.
State lives here and in the Stylizer that owns it: one instance per stream.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from .engines import Engine, EngineOptions, create_engine
from .flow import DisFlow, consistent, gray, resize_flow, warp
MECHANISMS = ("reuse", "norms", "stabilize")
# The half graphs' extra I/O (rtstyle.models.split): carried instance-norm statistics.
STATS_PREV, MOMENTUM, STATS = "stats_prev", "momentum", "stats"
# Longer than any half's statistics: slicing in the graph takes what it needs. Only
# used on a stream's first call (momentum 0), after which the graph's own output is fed back.
FIRST_STATS = np.zeros((1, 2, 8192), np.float32)


@dataclass(frozen=True)
class TemporalConfig:
    reuse: bool = True  # a: trunk on key frames, warped features in between
    keyframe_interval: int = 4  # at most this many frames per key frame
    rekey_error: float = 0.05  # mean |gray - warped key gray| in [0, 1] above which a key frame is taken
    carry_norms: bool = True  # b: EMA of instance-norm statistics
    norm_momentum: float = 0.5  # weight of the previous statistics
    stabilize: bool = True  # c: blend with the flow-warped previous output
    blend: float = 0.5  # weight of the warped previous output on consistent pixels
    flow_scale: float = 0.5  # flow is computed on frames downscaled by this
    flow_preset: str = "ultrafast"
    cut_threshold: float = 0.15  # mean |gray difference| in [0, 1] of thumbnails: a scene cut

    def __post_init__(self) -> None:
        if self.keyframe_interval < 1:
            raise ValueError("--keyframe-interval must be at least 1")
        for name in ("norm_momentum", "blend"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1)")
        if not 0.0 < self.flow_scale <= 1.0:
            raise ValueError("flow_scale must be in (0, 1]")

    @property
    def enabled(self) -> bool:
        return self.reuse or self.carry_norms or self.stabilize

    @classmethod
    def only(cls, mechanisms: tuple[str, ...] | list[str], **kw) -> TemporalConfig:
        """The config with exactly ``mechanisms`` (names from MECHANISMS) switched on."""
        unknown = set(mechanisms) - set(MECHANISMS)
        if unknown:
            raise ValueError(f"unknown temporal mechanism {sorted(unknown)[0]!r}; choose from {', '.join(MECHANISMS)}")
        return cls(reuse="reuse" in mechanisms, carry_norms="norms" in mechanisms,
                   stabilize="stabilize" in mechanisms, **kw)


def split_paths(model_path: str | Path) -> tuple[Path, Path]:
    """Where the trunk and head graphs of a model file live: beside it, NAME.trunk.onnx / NAME.head.onnx."""
    p = Path(model_path)
    return p.with_name(p.stem + ".trunk.onnx"), p.with_name(p.stem + ".head.onnx")


class Half:
    """One half graph (trunk or head) and the norm statistics carried across its calls."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.stats: np.ndarray | None = None

    def __call__(self, x: np.ndarray, momentum: float) -> np.ndarray:
        prev = FIRST_STATS if self.stats is None else self.stats
        if self.stats is None:
            momentum = 0.0
        out = self.engine.run_feeds({self.engine.inputs[0]: x, STATS_PREV: prev,
                                     MOMENTUM: np.array([momentum], np.float32)})
        self.stats = out[STATS]
        return out[self.engine.outputs[0]]


class TemporalStage:
    """Stylizes the frames of one stream in order; call ``reset()`` when the stream jumps."""

    def __init__(self, config: TemporalConfig, full: Engine, split: tuple[Engine, Engine] | None):
        self.notes: list[str] = []
        if split is None and (config.reuse or config.carry_norms):
            self.notes.append("no trunk/head graphs for this model (export/split_export.py writes them): "
                              "feature reuse and carried norm statistics are off")
            config = replace(config, reuse=False, carry_norms=False)
        self.config = config
        self.full = full
        self.trunk, self.head = (Half(split[0]), Half(split[1])) if split else (None, None)
        self.flow = DisFlow(config.flow_preset)
        self.keyframes = 0  # trunk runs so far (key frames), for reports
        self.frames = 0
        self.reset()

    def reset(self) -> None:
        self.shape: tuple[int, ...] | None = None
        self.prev_gray = self.prev_thumb = self.prev_out = None
        self.key_gray = self.key_features = None
        self.since_key = 0
        for half in (self.trunk, self.head):
            if half is not None:
                half.stats = None

    def __call__(self, frame: np.ndarray, batch: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
        """Network-size frame (HxWx3 uint8) and its batch -> (stylized 1x3xHxW float, {stage: s})."""
        cfg = self.config
        t0 = time.perf_counter()
        h, w = frame.shape[:2]
        if self.shape != frame.shape:
            self.reset()
            self.shape = frame.shape
        g = gray(frame, (max(8, round(w * cfg.flow_scale)), max(8, round(h * cfg.flow_scale))))
        thumb = cv2.resize(g, (32, max(1, round(32 * h / w))), interpolation=cv2.INTER_AREA).astype(np.float32)
        if self.prev_thumb is not None and np.abs(thumb - self.prev_thumb).mean() / 255.0 > cfg.cut_threshold:
            self.reset()
            self.shape = frame.shape
        self.prev_thumb = thumb
        timings = {"flow": time.perf_counter() - t0}

        out = self._network(batch, g, h, w, timings)

        if cfg.stabilize:
            out = self._stabilize(out, g, timings)
        self.prev_gray = g
        self.frames += 1
        return out, timings

    def _network(self, batch: np.ndarray, g: np.ndarray, h: int, w: int, timings: dict[str, float]) -> np.ndarray:
        cfg = self.config
        momentum = cfg.norm_momentum if cfg.carry_norms else 0.0
        if not (cfg.reuse or cfg.carry_norms):
            return self.full.run(batch)
        if not cfg.reuse:
            self.keyframes += 1
            return self.head(self.trunk(batch, momentum), momentum)[..., :h, :w]
        features = None
        if self.key_features is not None and self.since_key < cfg.keyframe_interval:
            t = time.perf_counter()
            to_key = self.flow(g, self.key_gray)
            error = np.abs(g.astype(np.float32) - warp(self.key_gray, to_key)).mean() / 255.0
            if error <= cfg.rekey_error:
                fh, fw = self.key_features.shape[:2]
                warped = warp(self.key_features, resize_flow(to_key, (fw, fh)))
                features = np.ascontiguousarray(warped.transpose(2, 0, 1)[None])
            timings["flow"] += time.perf_counter() - t
        if features is None:
            features = self.trunk(batch, momentum)
            self.key_features = np.ascontiguousarray(features[0].transpose(1, 2, 0))
            self.key_gray, self.since_key = g, 0
            self.keyframes += 1
        self.since_key += 1
        return self.head(features, momentum)[..., :h, :w]

    def _stabilize(self, out: np.ndarray, g: np.ndarray, timings: dict[str, float]) -> np.ndarray:
        t = time.perf_counter()
        image = np.ascontiguousarray(out[0].transpose(1, 2, 0))
        if self.prev_out is not None:
            to_prev, from_prev = self.flow(g, self.prev_gray), self.flow(self.prev_gray, g)
            valid = consistent(to_prev, from_prev).astype(np.float32)
            h, w = image.shape[:2]
            # A slightly blurred mask: no visible seam where blending starts.
            mask = cv2.GaussianBlur(cv2.resize(valid, (w, h), interpolation=cv2.INTER_LINEAR), (5, 5), 0)
            previous = warp(self.prev_out, resize_flow(to_prev, (w, h)))
            weight = (self.config.blend * mask)[..., None]
            image = image + weight * (previous - image)
        self.prev_out = image
        timings["stabilize"] = time.perf_counter() - t
        return np.ascontiguousarray(image.transpose(2, 0, 1)[None])


def make_stage(config: TemporalConfig, full: Engine, model_path: str | Path, engine: str,
               options: EngineOptions) -> TemporalStage:
    """The temporal stage for a model, with its trunk/head graphs when they exist beside it."""
    split = None
    if config.reuse or config.carry_norms:
        paths = split_paths(model_path)
        if all(p.is_file() for p in paths):
            split = tuple(create_engine(engine, p, options) for p in paths)
    return TemporalStage(config, full, split)
