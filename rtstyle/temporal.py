"""Temporal stage: per-stream state that makes video stylization faster and stable.

Frame-by-frame stylization flickers and repeats work. The mechanisms, each
switchable in TemporalConfig and measured by benchmarks/temporal.py:

a. ``reuse``: the network's trunk (1/4 resolution, most of the FLOPs) runs on
   key frames only; on the others its cached output is warped by optical flow
   (below) and only the head runs. A new key frame is
   taken every ``keyframe_interval`` frames, on a scene cut, or when the flow
   no longer explains the picture (``rekey_error``).
b. ``carry_norms``: instance-norm statistics are an EMA over frames instead of
   being recomputed from each frame alone (rtstyle.models.split); reset on cuts.
a'. ``propagate`` (with ``reuse``): the head too is skipped where it can be.
   On non-key frames the key frame's output is warped to this frame; only the holes
   (pixels the forward-backward check rejects: disocclusions, content entering
   the frame) get the head, run on crops of the warped features around them.
   The crops are normalised with the key frame's head statistics (the carried
   statistics of b, frozen), so they match the full frame's colours. Content that
   entered the frame since the key frame has no warped features: the trunk runs on a
   band along that edge first (``entering_bands``), with the key's statistics too.
a''. ``fade`` (with ``propagate``): a key frame's picture does not replace the
   carried one at once: the previous picture, carried along by flow like the key,
   fades out over ``fade_frames`` (at most the key interval). Without it every key frame is a jump: new
   strokes everywhere. Unlike c, two pictures are mixed at most, each warped once
   from where it was painted, so the strokes keep their strength.
c. ``stabilize``: the output is blended with the previous output warped by
   flow, only where a forward-backward check says the pixel is visible in both
   frames (Ruder et al. 2016), so moving and disoccluded regions do not ghost.
   ``contrast`` (``keep_contrast``, opt-in or the network's own): the blends of a'' and c keep the
   strokes' local contrast (rtstyle.contrast): the fade's mix gets the local
   variance of the two pictures' own, interpolated; the stabiliser's output gets
   the fresh frame's, on the way out only (the stream's state stays the plain blend).
d. ``lock``: the network's strokes are aliased to its stride grid: shifted by
   1-3 px, a picture is painted 7-12% differently (export.slim.shift_error), so a
   camera pan makes the strokes swim. The stage follows the scene's overall
   motion (median flow between frames, summed) and moves each frame, by any
   fraction of a pixel, so the content sits where it sat on the first frame
   modulo ``lock_period`` (a multiple of every network's stride); the output is
   moved back. Key frames and frames the full network paints are locked; reused
   features are warped from the key frame's locked grid.
e. ``repaint`` (with ``propagate``, opt-in): the trunk runs on crops around the largest
   holes too, whose warped features are what covered them on the key frame; and where the
   check fails but the frames match, the picture follows the flow of its reliable
   surroundings (``steady_flow``), not the flow something passing drags along. On bunny a
   butterfly otherwise leaves a smear across the ear it uncovered; on handheld footage it
   costs speed and steadiness (measured in docs/temporal.md).
f. ``keep`` (with ``fade``; on where the network's card asks for it): a key frame keeps the carried
   picture wherever its chain back to the previous key frame holds and paints fresh strokes only where
   it broke, and every carried picture keeps the local contrast its strokes were painted with (their
   local variance, rtstyle.contrast, is carried along with them and given back where the fallback's
   resampling and the composed steps' bends took it). Two different stroke patterns faded into each
   other lose contrast and shape on every key interval; kept strokes have nothing to mix, and restored
   they do not age (measured in docs/temporal.md).

Flow: two DIS flows per frame, to and from the previous frame: the first, which the pictures are
carried along, with the network's own preset (``flow_preset``), smoothed (``flow_smooth``); the second
only feeds the occlusion check and is never finer than medium. A key frame is
reached by composing those steps (``Carried``), not by a flow over many frames: a
long-range flow estimated afresh on each frame is off by a different fraction of a
pixel each time, which makes warped strokes jitter; composed steps move together.
The flows and the checks on them read only the source frames (``Motion``): a video's reader
thread computes them a frame or two ahead (``Stylizer.prepare``), beside the network.

a and b need the trunk/head graphs (NAME.trunk.onnx, NAME.head.onnx beside
NAME.onnx, written by export/split_export.py); c works with any model.
Settings left None in TemporalConfig are the network's own (its card's ``"temporal"``,
NETWORK_SETTINGS): each style's stage was tuned on its own strokes (benchmarks/temporal.py).
State lives here and in the Stylizer that owns it: one instance per stream.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from functools import lru_cache
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from .engines import Engine, EngineOptions, create_engine
from .contrast import local_stats, restore_contrast, stats_size, with_variance
from .flow import (PRESETS, DisFlow, Oversampled, consistent, gray, inside, repeated_inward, resize_flow, shift,
                   warp, warp_planes)
from .registry import StyleModel
MECHANISMS = ("reuse", "propagate", "fade", "norms", "stabilize", "lock", "contrast", "repaint", "keep")
# "contrast" (the blends of fade and stabilize keep the strokes' local contrast) is opt-in: stronger
# strokes, more flicker.
DEFAULT_MECHANISMS = ("reuse", "propagate", "fade", "norms", "stabilize")
# The half graphs' extra I/O (rtstyle.models.split): carried instance-norm statistics.
STATS_PREV, MOMENTUM, STATS = "stats_prev", "momentum", "stats"
# Propagation runs the head on TILE x TILE feature tiles, each with MARGIN more on every side.
TILE, MARGIN = 12, 3
# Content entering the frame gets trunk features from a band along the edge with this many feature
# cells of context inward: on a bunny frame the band's features are then within 1-2% of the whole
# trunk's (6 cells: 0.3%, 8: 0.02%, 2: 4-14%).
ENTER_MARGIN = 4
# Bands shallower than this many cells are left mirrored: a slow pan's strip mirrors content a few pixels
# away, which is the content, and the trunk runs would cost ~10%. (Propagation follows such strips and paints
# them once they are EDGE_REPEAT wide.)
ENTER_DEPTH = 2
# Content that entered the frame since the key frame shows the key's last EDGE_REPEAT pixels repeated past its
# edge until its strip is that wide; propagation then paints it. On bunny (48 frames, every frame scored) 32 px:
# d_style 0.2754, E_warp 5.10x source; 16 px: 0.2795, 5.09x; on cockatoo (24 frames) the two alike.
EDGE_REPEAT = 32
# Longer than any half's statistics: slicing in the graph takes what it needs. Only
# used on a stream's first call (momentum 0), after which the graph's own output is fed back.
FIRST_STATS = np.zeros((1, 2, 8192), np.float32)
# The stabiliser's weight for a network whose card names none. With starry's steady network (2026-12-02,
# bunny, 48 frames) 0.6 gives E_warp 4.7x source at d_style 0.367, 0.85 gives 3.0x at 0.404.
DEFAULT_BLEND = 0.6
DEFAULT_PRESET = "medium"  # the flow preset of a network whose card names none
# The settings a network's card may choose (its "temporal" entry; the key there -> the TemporalConfig field) and
# what a network whose card names none gets: a TemporalConfig field left None is resolved from here.
NETWORK_SETTINGS = {"stabilize": ("stabilize", True), "blend": ("blend", DEFAULT_BLEND),
                    "contrast": ("keep_contrast", False), "flow": ("flow_preset", DEFAULT_PRESET),
                    "keyframe_interval": ("keyframe_interval", 6), "fade_frames": ("fade_frames", None),
                    "keep": ("keep", False), "hold_unsure": ("hold_unsure", False),
                    "fit_fade": ("fit_fade", False)}


@dataclass(frozen=True)
class TemporalConfig:
    reuse: bool = True  # a: trunk on key frames, warped features in between
    keyframe_interval: int | None = None  # at most this many frames per key frame; None: the network's own
    rekey_error: float = 0.05  # fraction of pixels the flow from the key frame cannot explain: take a key frame
    propagate: bool = True  # a': warp the key frame's output, run the head only on the holes
    max_holes: float = 0.5  # fraction of the frame in hole crops above which the whole head runs
    # Propagation's holes repainted from their own trunk features (_uncovered) and the fallback moved along
    # its reliable surroundings' flow (steady_flow): opt-in. On bunny it removes the smear a passing butterfly
    # leaves (2026-12-07: same E_warp and style with a key every 16 frames fading over 12), on handheld footage
    # it costs 15% of the speed and raises E_warp 11-16% (cockatoo).
    repaint: bool = False
    max_uncovered: float = 0.05  # fraction of the frame the trunk may run on around holes (_uncovered)
    fade: bool = True  # a'': the previous picture fades out over a key interval instead of jumping
    # Frames the fade takes, at most the key interval; None: the network's own, else the key interval. Shorter
    # leaves more frames with one picture's strokes only (stronger style), each step of the fade larger.
    fade_frames: int | None = None
    # The fade takes no longer than the key interval before it, where that was shorter: a clip that re-keys
    # early (handheld footage, every ~7 frames) would otherwise show two pictures mixed on most of its frames.
    # None: the network's own, else off.
    fit_fade: bool | None = None
    # f: key frames keep the carried picture where its chain holds, carried pictures the contrast they were
    # painted with (``_kept``, ``_fade``); None: the network's own, else off.
    keep: bool | None = None
    # ... only where the picture's way back to where it was painted is this close to rigid: the largest log
    # singular value of its Jacobian (``stretch``). Where the content deforms (a character's face) the flow
    # drags the strokes into long streaks; kept there, and their contrast restored, they persist as smears.
    keep_stretch: float = 0.3
    # Carried pictures hold where the flow is merely unsure: their chains back to where they were painted follow
    # the photometric check alone, not the forward-backward one (``Carried.follow``); None: the network's own,
    # else off. Starry's fine hatching loses to the fallback's resampling what the others' coarse strokes do not.
    hold_unsure: bool | None = None
    carry_norms: bool = True  # b: EMA of instance-norm statistics
    norm_momentum: float = 0.5  # weight of the previous statistics
    stabilize: bool | None = None  # c: blend with the flow-warped previous output; None: the network's own
    # Weight of the warped previous output on consistent pixels; None: the network's own (for_network).
    blend: float | None = None
    # Fade and stabilize keep the strokes' local contrast (rtstyle.contrast); None: the network's own, else off.
    keep_contrast: bool | None = None
    contrast_radius: int = 4  # window of the local statistics: (2r + 1)^2 pixels
    max_gain: float = 2.0
    lock: bool = False  # d: keep the content on the network's stride grid
    # A multiple of every shipped network's stride (Johnson 4, FastNet 8): on a known pan, locked strokes
    # keep ~3% of the unlocked frame-to-frame error with either network (FastNet at a period of 4: 7%).
    lock_period: int = 8
    match_error: float = 0.05  # source frames differing more than this after warping are not blended
    # Flow on the full-size frame: the pictures are carried along it, and every tenth of a pixel it
    # is off shows as texture swimming (bunny: a carried picture scores E_warp 8x the source's at
    # full size, 18x at half). Two flows per frame (~14 ms each at 640x360) are cheap next to the
    # network; live cameras with small networks use 0.5 (rtstyle webcam --flow-scale).
    flow_scale: float = 1.0
    # Occlusion check: the squared round-trip error allowed, in frame pixels squared (at half size this is
    # Sundaram et al.'s 0.5 flow pixels squared; at full size a 0.5 would call most texture occluded).
    slack: float = 2.0
    # DIS preset of the flow the pictures are carried along; None: the network's own (for_network), else
    # medium. Medium, not fast: 2-3x closer to the true motion (benchmarks/flow_truth.py), which halved
    # E_warp (bunny, fine-DIS metric, half-size flow: ratio 13.3 -> 7.6) for a few ms more per flow.
    flow_preset: str | None = None
    # Gaussian smoothing of each frame's flow, sigma as a fraction of the frame's height (1/360: 1 px at 640x360,
    # 2 at 1280x720). A carried picture follows the sum of the steps since its key frame, and each step's
    # noise bends its strokes a little more: on cockatoo (720p) starry's picture carried 13 frames along the
    # raw flow is 17% weaker in style than the frame painted afresh, along the smoothed one 15%, and steadier
    # (E_warp 7.5x source instead of 8.0x); sigma 4 px there bends motion boundaries (9.0x).
    flow_smooth: float = 1 / 360
    # With ``repaint``, where the occlusion check fails but the frames match (the flow is unsure: flat sky, walls,
    # beside something moving), the carried picture's fallback moves along the reliable flow around it: a mean
    # with this sigma, a fraction of the frame's height (8 px at 640x360). Moved along the raw flow there, the sky
    # and an ear on bunny were dragged after a passing butterfly into streaks and a smooth patch.
    fallback_smooth: float = 8 / 360
    cut_threshold: float = 0.15  # mean |gray difference| in [0, 1] of thumbnails: a scene cut

    def __post_init__(self) -> None:
        if self.keyframe_interval is not None and self.keyframe_interval < 1:
            raise ValueError("--keyframe-interval must be at least 1")
        if self.fade_frames is not None and self.fade_frames < 1:
            raise ValueError("--fade-frames must be at least 1")
        for name in ("norm_momentum", "blend"):
            if getattr(self, name) is not None and not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1)")
        if not 0.0 <= self.max_uncovered <= 1.0:
            raise ValueError("max_uncovered must be in [0, 1]")
        if self.flow_smooth < 0.0 or self.fallback_smooth < 0.0:
            raise ValueError("flow_smooth and fallback_smooth must be at least 0")
        if not 0.0 < self.flow_scale <= 1.0:
            raise ValueError("--flow-scale must be in (0, 1]")
        if self.flow_preset is not None and self.flow_preset not in PRESETS:
            raise ValueError(f"unknown flow_preset {self.flow_preset!r}; choose from {', '.join(PRESETS)}")
        if self.lock_period < 1:
            raise ValueError("lock_period must be at least 1")
        if self.keep_stretch <= 0.0:
            raise ValueError("keep_stretch must be above 0")
        if self.contrast_radius < 1 or self.max_gain < 1.0:
            raise ValueError("contrast_radius must be at least 1 and max_gain at least 1")

    def for_network(self, card: dict) -> TemporalConfig:
        """This config with the settings measured for the network where none were given (its card's
        ``"temporal"`` entry, NETWORK_SETTINGS; e.g. on bunny the lightest blend that keeps the issue's
        E_warp ratio of 5, whether the blends keep the strokes' contrast, the flow), else the defaults
        there. A network that paints steady strokes needs less blending, and every bit of blending it is
        spared keeps its texture."""
        own = card.get("temporal", {})
        return replace(self, **{name: own.get(key, default) if getattr(self, name) is None else getattr(self, name)
                                for key, (name, default) in NETWORK_SETTINGS.items()})

    @property
    def enabled(self) -> bool:
        return self.reuse or self.carry_norms or self.stabilize is not False or self.lock

    @property
    def fade_length(self) -> int:
        """Frames a key frame's fade takes."""
        return min(self.fade_frames or self.keyframe_interval, self.keyframe_interval)

    @property
    def propagating(self) -> bool:
        return self.reuse and self.propagate

    @property
    def fading(self) -> bool:
        return self.propagating and self.fade

    @classmethod
    def only(cls, mechanisms: tuple[str, ...] | list[str], **kw) -> TemporalConfig:
        """The config with exactly ``mechanisms`` (names from MECHANISMS) switched on."""
        unknown = set(mechanisms) - set(MECHANISMS)
        if unknown:
            raise ValueError(f"unknown temporal mechanism {sorted(unknown)[0]!r}; choose from {', '.join(MECHANISMS)}")
        if "repaint" in mechanisms and not {"propagate", "fade"} & set(mechanisms):
            raise ValueError("temporal mechanism 'repaint' repaints the holes of propagate or fade: name one of them too")
        if "keep" in mechanisms and "fade" not in mechanisms:
            raise ValueError("temporal mechanism 'keep' keeps the strokes of the fade's pictures: name 'fade' too")
        if "contrast" in mechanisms and not {"fade", "stabilize"} & set(mechanisms):
            raise ValueError("temporal mechanism 'contrast' keeps the contrast of the fade or stabilize blend: "
                             "name one of them too")
        propagate = "propagate" in mechanisms or "fade" in mechanisms
        return cls(reuse="reuse" in mechanisms or propagate, propagate=propagate, fade="fade" in mechanisms,
                   carry_norms="norms" in mechanisms, stabilize="stabilize" in mechanisms,
                   keep_contrast="contrast" in mechanisms, lock="lock" in mechanisms, repaint="repaint" in mechanisms,
                   keep="keep" in mechanisms, **kw)


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

    def frozen(self, x: np.ndarray) -> np.ndarray:
        """Run normalised with the stored statistics (momentum 1), leaving them as they are."""
        out = self.engine.run_feeds({self.engine.inputs[0]: x, STATS_PREV: self.stats,
                                     MOMENTUM: np.ones(1, np.float32)})
        return out[self.engine.outputs[0]]


@dataclass(frozen=True)
class Step:
    """A frame's motion from the previous frame of the stream."""

    flow: np.ndarray  # flow(current, previous), HxWx2 at flow resolution
    full: np.ndarray  # the same at the frame's size
    # Float 0/1: the forward-backward check passes and ``matched``. None where nothing reads it (``Motion.checks``).
    valid: np.ndarray | None
    matched: np.ndarray  # bool: the previous frame, moved by the flow, has a source here that looks like it
    entering: np.ndarray  # bool: the flow leads outside the previous frame: content entering this one
    steady: np.ndarray  # with ``repaint``: ``full`` where the occlusion check passed, elsewhere its neighbours'


class Carried:
    """A picture painted on an earlier frame, carried to the current one along the flow.

    Where every step back to that frame held (``follow``), the picture is warped
    once, from where it was painted, along the composed steps: no blur accumulates with the
    frames, and that one warp samples the picture enlarged (rtstyle.flow.Oversampled), so it
    keeps the finest strokes too (on bunny, starry's style distance with propagation alone:
    0.289 with a bicubic warp, 0.277 oversampled; per-frame 0.268). Where a step failed since
    (flow noise, something passing in front), it is the previous frame's picture moved by one
    step; where even that has no source, the caller fills in new content.

    ``variance`` (with ``keep``): the local variance of the strokes as painted (``local_stats``, half size),
    carried with them to ``variance_here``, so that the picture can be given back the contrast that the
    fallback's resampling and the composed steps' bends take from it."""

    def __init__(self, image: np.ndarray, flow_shape: tuple[int, int], variance: np.ndarray | None = None):
        self.image = Oversampled(image)  # the picture as painted, HxWx3 float in [0, 1]
        self.variance = self.variance_here = variance
        self.picture = image  # as shown on the last frame carried() was called for
        self.flow = np.zeros((*flow_shape, 2), np.float32)  # current frame -> that frame, at flow resolution
        self.valid = np.ones(flow_shape, np.float32)  # 1 where every step back held

    def follow(self, step: np.ndarray, step_valid: np.ndarray) -> None:
        """Move on by one frame; ``step`` = flow(current, previous), ``step_valid`` where it holds (0/1).

        Which check that is, is the network's (``hold_unsure``). The forward-backward check fails on handheld
        footage on 4-33% of each frame where the flow is merely unsure (cockatoo's flat walls and feathers),
        each frame somewhere else: a chain of them broke on half the picture within a few frames (26% left
        after 14), and there the fallback, one resampling per frame, marbled starry's hatching. The
        photometric check alone (``Step.matched``) still catches occlusions: what passes in front, or is
        uncovered, does not look like what the flow brings there."""
        self.flow = step + warp(self.flow, step)
        self.valid = warp(self.valid, step) * step_valid

    def carried(self, step: np.ndarray, entered: np.ndarray | None = None) -> np.ndarray:
        """The picture on the current frame's grid; ``step``: this frame's step at full size, along which
        the fallback moves the previous picture (``Step.steady``). ``entered`` (0-1 at flow resolution):
        content that entered the frame since the picture was painted, where it is warped from there although
        the chain broke: it shows the picture's last EDGE_REPEAT pixels repeated past its edge."""
        h, w = self.picture.shape[:2]
        valid = self.valid if entered is None else np.maximum(self.valid, entered)
        valid = cv2.resize(valid, (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
        to_painted = resize_flow(self.flow, (w, h))
        if entered is not None:
            to_painted = repeated_inward(to_painted, EDGE_REPEAT)
        direct = self.image.warp(to_painted)
        if self.variance is not None:  # a smooth map: the plain warp keeps it
            vh, vw = self.variance.shape[:2]
            self.variance_here = warp(self.variance, resize_flow(self.flow, (vw, vh)))
        if valid.min() < 1.0:  # the fallback's warp only where some chain broke
            direct += (1.0 - valid) * (warp(self.picture, step, sharp=True) - direct)
        self.picture = direct
        return self.picture


@dataclass(frozen=True)
class Observation:
    """A frame of the stream as the source frames alone tell it (``Motion``): nothing painted enters it."""

    look: np.ndarray  # what the photometric checks compare (_looks), at the flow's size
    fresh: bool  # a new stream: its first frame, a scene cut or a new frame size; nothing carries over
    step: Step | None  # the motion from the previous frame; None when fresh or when no mechanism needs it


class Motion:
    """The stage's half that reads only the source frames: each frame's flows to and from the previous
    one, their occlusion and photometric checks, scene cuts. As it reads nothing painted, a video's
    reader thread runs it ahead of the painting (``Stylizer.prepare``), so the flows share the CPU with the
    network instead of waiting their turn. Frames must come in stream order, each exactly once."""

    def __init__(self, config: TemporalConfig):
        self.config = config
        self.dis = DisFlow(config.flow_preset, config.flow_smooth)
        # The backward flow only feeds the occlusion check, whose slack (2 px squared) swallows what a finer
        # preset would add: it runs at most medium, so a refined carrying flow costs one slow flow, not two.
        check = min(config.flow_preset, DEFAULT_PRESET, key=list(PRESETS).index)
        self.check_dis = DisFlow(check)  # not smoothed: motion boundaries stay where they are
        # Only the stabiliser, repaint's steady flow and chains that do not hold where the flow is merely unsure
        # read the check; without them its backward flow is not computed (starry on cockatoo: ~100 of ~500 ms
        # of flows per 720p frame).
        self.checks = bool(config.stabilize) or (config.propagating and config.repaint) or not config.hold_unsure
        self.reset()

    def reset(self) -> None:
        self.shape: tuple[int, ...] | None = None
        self.gray = self.look = self.thumb = None  # the previous frame's

    def __call__(self, frame: np.ndarray) -> Observation:
        """Network-size frame (HxWx3 uint8) -> its Observation."""
        cfg = self.config
        h, w = frame.shape[:2]
        g = gray(frame, (max(8, round(w * cfg.flow_scale)), max(8, round(h * cfg.flow_scale))))
        look = _looks(frame, g)
        thumb = cv2.resize(g, (32, max(1, round(32 * h / w))), interpolation=cv2.INTER_AREA).astype(np.float32)
        fresh = self.shape != frame.shape or np.abs(thumb - self.thumb).mean() / 255.0 > cfg.cut_threshold
        step = None
        if not fresh and (cfg.reuse or cfg.stabilize or cfg.lock):
            # The only flows of the frame: the lock, the carried pictures and stabilisation all use these.
            flow = self.dis(g, self.gray)
            entering = ~inside(flow)
            matched = _matches(look, self.look, flow, cfg.match_error) & ~entering
            full = steady = resize_flow(flow, (w, h))
            valid = None
            if self.checks:
                valid = consistent(flow, self.check_dis(self.gray, g), cfg.slack * cfg.flow_scale**2) & matched
                if cfg.propagating and cfg.repaint:
                    steady = resize_flow(steady_flow(flow, valid, cfg.fallback_smooth), (w, h))
                valid = valid.astype(np.float32)
            step = Step(flow, full, valid, matched, entering, steady)
        self.shape, self.gray, self.look, self.thumb = frame.shape, g, look, thumb
        return Observation(look, fresh, step)


class TemporalStage:
    """Stylizes the frames of one stream in order; call ``reset()`` when the stream jumps."""

    def __init__(self, config: TemporalConfig, full: Callable[[np.ndarray], np.ndarray],
                 split: tuple[Engine, Engine] | None):
        """``full``: the model's own batch -> batch inference (any model, e.g. an arbitrary-style
        network with its cached style encoding); ``split``: its trunk and head engines, if any."""
        self.notes: list[str] = []
        if split is None and (config.reuse or config.carry_norms):
            self.notes.append("no trunk/head graphs for this model (export/split_export.py writes them): "
                              "feature reuse and carried norm statistics are off")
            config = replace(config, reuse=False, carry_norms=False)
        config = config.for_network({})
        if config.blend == 0.0:  # nothing to warp and mix
            config = replace(config, stabilize=False)
        self.config = config
        self.full = full
        self.trunk, self.head = (Half(split[0]), Half(split[1])) if split else (None, None)
        self.motion = Motion(config)
        self.keyframes = 0  # trunk runs so far (key frames), for reports
        self.frames = 0
        self.reset()

    def reset(self) -> None:
        self.motion.reset()
        self._forget()

    def _forget(self) -> None:
        """Drop every picture and statistic of the stream so far (its motion is ``self.motion``'s)."""
        self.prev_out = None
        self.key: Carried | None = None  # the key frame's picture, carried to the current frame
        self.key_look = self.key_features = None  # its frame as _looks gives it and its trunk output (CxHxW)
        self.fading: Carried | None = None  # the picture before the key frame, fading out
        self.shown: np.ndarray | None = None  # the previous frame's picture (HxWx3) before stabilisation
        self.step: Step | None = None  # this frame's motion from the previous one
        self.since_key = 0
        self.fade_length = self.config.fade_length  # frames the current fade takes (``fit_fade``)
        # Pixels (float 0/1 at flow resolution) of the key's carried picture where content entered the frame
        # since the key frame and was not painted: the picture there repeats the key's near its edge (``_propagate``).
        self.unpainted: np.ndarray | None = None
        self.scene_motion = np.zeros(2)  # (dx, dy) the scene has moved since the stream's first frame, in pixels
        self.phase = self.key_phase = np.zeros(2)  # how far this / the key frame is moved to lock it
        for half in (self.trunk, self.head):
            if half is not None:
                half.stats = None

    def __call__(self, frame: np.ndarray, batch: np.ndarray,
                 seen: Observation | None = None) -> tuple[np.ndarray, dict[str, float]]:
        """Network-size frame (HxWx3 uint8) and its batch -> (stylized 1x3xHxW float, {stage: s}).

        ``seen``: the frame's Observation when ``self.motion`` was run on it ahead (every frame of the
        stream, in order: see ``Motion``); else it runs here. The timings cover the work done here."""
        cfg = self.config
        t0 = time.perf_counter()
        h, w = frame.shape[:2]
        seen = self.motion(frame) if seen is None else seen
        if seen.fresh:
            self._forget()
        look, self.step = seen.look, seen.step
        if self.step is not None:
            for carried in (self.key, self.fading):
                if carried is not None:
                    carried.follow(self.step.flow, self._holds())
        if cfg.lock and self.step is not None:
            # The median ignores what moves on its own (a character walking): this is the camera.
            step = np.median(self.step.flow.reshape(-1, 2), axis=0)
            fh, fw = self.step.flow.shape[:2]
            self.scene_motion = self.scene_motion - step * (w / fw, h / fh)
            self.phase = -self.scene_motion % cfg.lock_period
        timings = {"flow": time.perf_counter() - t0}

        out = self._network(batch, look, h, w, timings)

        if cfg.fading or cfg.stabilize:
            image = np.ascontiguousarray(out[0].transpose(1, 2, 0))  # HxWx3 for OpenCV
            if cfg.fading:
                image = self._fade(image, timings)
            if cfg.stabilize:
                image = self._stabilize(image, timings)
            out = np.ascontiguousarray(image.transpose(2, 0, 1)[None])
        self.frames += 1
        return out, timings

    def _network(self, batch: np.ndarray, look: np.ndarray, h: int, w: int, timings: dict[str, float]) -> np.ndarray:
        cfg = self.config
        momentum = cfg.norm_momentum if cfg.carry_norms else 0.0
        if not (cfg.reuse or cfg.carry_norms):
            return self._locked(self.full, batch, h, w)
        if not cfg.reuse:
            self.keyframes += 1
            return self._locked(lambda x: self.head(self.trunk(x, momentum), momentum), batch, h, w)
        if self.key is not None and self.since_key < cfg.keyframe_interval:
            t = time.perf_counter()
            matched = _matches(look, self.key_look, self.key.flow, cfg.match_error)
            timings["flow"] += time.perf_counter() - t
            # Motion the flow cannot follow (a fast limb, a zoom) would smear: only the trunk can redo it. Slivers
            # do not count (see _propagate): on handheld footage (cockatoo) 4-8% of the pixels miss the key frame
            # from the first frame on, in slivers along edges, and counting them took a key frame every 2-10
            # frames (5 in 24 instead of 2): 23% slower, E_warp 11.0x source instead of 9.8x, for 1% stronger style.
            # Nor does content that entered the frame since the key frame: the trunk paints it anyway (_entered).
            # Counted, it took 47 of cockatoo's 52 key frames in 280, most just over the line (5.0-7.5%).
            if self._blobs(~matched & inside(self.key.flow)).mean() <= cfg.rekey_error:
                fh, fw = self.key_features.shape[1:]
                # The key features are on the key frame's locked grid, moved by key_phase.
                to_locked_key = resize_flow(self.key.flow, (fw, fh)) + (self.key_phase * (fw / w, fh / h)).astype(
                    np.float32)
                self.since_key += 1
                if cfg.propagating:
                    # Where this frame no longer looks like the key frame, the key's picture is not taken:
                    # the previous frame's picture moved by one step is (new strokes each frame would flicker).
                    self.key.valid *= matched
                    return self._propagate(to_locked_key, batch, momentum, h, w)
                features = self._entered(warp_planes(self.key_features, to_locked_key), batch)
                return self.head(features[None], momentum)[..., :h, :w]
        features = self.trunk(self._moved(batch, self.phase), momentum)
        out = self._moved(self.head(features, momentum)[..., :h, :w], -self.phase)
        picture = np.ascontiguousarray(out[0].transpose(1, 2, 0))
        keep = cfg.fading and cfg.keep
        if cfg.fading and self.shown is not None and self.step is not None:
            # The picture shown on the previous frame, carried to this one: it fades out from here.
            self.fading = Carried(self.shown, look.shape[:2], self._variance(self.shown) if keep else None)
            self.fading.follow(self.step.flow, self._holds())
            # The interval that just ended (since_key frames) is the best guess at the one starting.
            self.fade_length = min(cfg.fade_length, self.since_key) if cfg.fit_fade else cfg.fade_length
        variance = self._variance(picture) if keep else None
        if keep and self.key is not None and self.step is not None:
            picture, variance = self._kept(picture, variance, look)
            out = np.ascontiguousarray(picture.transpose(2, 0, 1)[None])
        self.key = Carried(picture, look.shape[:2], variance)
        self.key_features = features[0]
        self.key_look, self.key_phase, self.since_key = look, self.phase, 1
        self.unpainted = None
        self.keyframes += 1
        return out

    def _holds(self) -> np.ndarray:
        """Where this frame's step carries a picture on (``Carried.follow``, ``hold_unsure``)."""
        return self.step.matched if self.config.hold_unsure else self.step.valid

    def _variance(self, picture: np.ndarray) -> np.ndarray:
        return local_stats(picture, self.config.contrast_radius)[1]

    def _rigid(self) -> np.ndarray:
        """Where the key's picture holds (its chain's validity, at flow resolution), carried close to rigidly."""
        return self.key.valid * (stretch(self.key.flow) < self.config.keep_stretch)

    def _kept(self, fresh: np.ndarray, variance: np.ndarray, look: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A key frame's picture (HxWx3) and its local variance -> the same with the previous key's picture kept,
        carried here and its contrast restored, wherever its chain back to that key holds and this frame still
        looks like it there (``keep``). The fade then has nothing to mix there: on bunny the mix of two stroke
        patterns cost starry 10-19% of its style through each fade (docs/temporal.md)."""
        cfg = self.config
        h, w = fresh.shape[:2]
        holds = self._rigid() * _matches(look, self.key_look, self.key.flow, cfg.match_error)
        kept = cv2.GaussianBlur(cv2.resize(holds, (w, h), interpolation=cv2.INTER_LINEAR), (5, 5), 0)[..., None]
        old = with_variance(self.key.carried(self.step.steady), self.key.variance_here, cfg.contrast_radius,
                            cfg.max_gain)
        kept_stats = cv2.resize(kept, stats_size(kept.shape), interpolation=cv2.INTER_AREA)[..., None]
        return fresh + kept * (old - fresh), variance + kept_stats * (self.key.variance_here - variance)

    def _entered(self, features: np.ndarray, batch: np.ndarray, reads: np.ndarray | None = None) -> np.ndarray:
        """``features`` (the key's, warped to this frame, CxHxW) with the trunk's own where content
        entered the frame since the key frame. Warped, those cells hold the mirrored edge: the head
        would draw plausible strokes there, not the content. The trunk runs on a band along each edge
        where content entered, normalised with the key frame's statistics (as the head's crops).
        ``reads``: the cells the head's output depends on (all if None): bands only where those entered.
        Changed in place: every caller passes a map warped for this frame alone."""
        fh, fw = features.shape[1:]
        # Cells mostly outside: a strip of a pixel or two keeps its warped features, which are the content.
        outside = cv2.resize((~inside(self.key.flow)).astype(np.float32), (fw, fh), interpolation=cv2.INTER_AREA) > 0.5
        if reads is not None:
            outside &= reads
        if not outside.any():
            return features
        for box, cells in entering_bands(outside, ENTER_MARGIN, ENTER_DEPTH):
            self._trunk_cells(features, batch, box, cells)
        return features

    def _trunk_cells(self, features: np.ndarray, batch: np.ndarray, crop: Box, cells: np.ndarray,
                     into: Box | None = None) -> None:
        """Overwrite ``features`` (CxHxW, in place) with the trunk's own, run on the ``crop`` box of ``batch``
        (in feature cells) and normalised with the key frame's statistics, where ``cells`` (map-sized, bool) is
        set inside ``into`` (a box within the crop; default: all of it)."""
        y0, y1, x0, x1 = crop
        out = self.trunk.frozen(np.ascontiguousarray(batch[..., 4 * y0: 4 * y1, 4 * x0: 4 * x1]))[0]
        ry0, ry1, rx0, rx1 = into or crop
        keep = cells[ry0:ry1, rx0:rx1]
        features[:, ry0:ry1, rx0:rx1][:, keep] = out[:, ry0 - y0: ry1 - y0, rx0 - x0: rx1 - x0][:, keep]

    @staticmethod
    def _moved(batch: np.ndarray, by: np.ndarray) -> np.ndarray:
        """A 1x3xHxW batch moved by ``by`` = (dx, dy) pixels (see rtstyle.flow.shift)."""
        if not by.any():
            return batch
        image = shift(np.ascontiguousarray(batch[0].transpose(1, 2, 0)), float(by[0]), float(by[1]))
        return np.ascontiguousarray(image.transpose(2, 0, 1)[None])

    def _locked(self, network: Callable[[np.ndarray], np.ndarray], batch: np.ndarray, h: int, w: int) -> np.ndarray:
        """``network`` run on the frame moved onto the locked grid, its output moved back."""
        return self._moved(network(self._moved(batch, self.phase))[..., :h, :w], -self.phase)

    def _propagate(self, to_key: np.ndarray, batch: np.ndarray, momentum: float, h: int, w: int) -> np.ndarray:
        """The key frame's picture carried to this frame, with new content from the head in the holes.

        ``to_key``: this frame's cells -> the key features' (their flow); ``batch``: the frame, for the
        trunk's features of content that entered it (``_entered``). The holes are where the
        previous frame, moved by the flow, has no source that matches this one: content that
        was hidden or outside the frame. (Where only the forward-backward check fails, the
        flow is unsure but the moved picture looks right: flat walls, sky.) The head runs on
        crops around the holes, or on the whole frame when the crops would cover most of it."""
        fh, fw = self.key_features.shape[1:]
        # Specks and slivers narrower than ~2 feature cells (9 frame pixels) get the carried picture, which
        # there is the previous frame's moved by one step, not a crop of their own. On handheld footage
        # (cockatoo, 720p) 5-20% of the pixels fail the match, mostly in slivers: removing those up to 9 px
        # instead of 5 took inference from 1130 to 790 ms per frame at the same E_warp; bunny did not change.
        # Strips of content entering the frame follow the same rule (on cockatoo, painting those of 3-8 px
        # too cost 7% of the speed), and the strips they add up to another (below).
        invalid = self._blobs(~self.step.matched)
        # Content entering a pixel or less per frame (a slow pan) is such a sliver on every frame. Moved in
        # by the fallback one step at a time, the frame's edge pixels were drawn out into streaks, up to ~15 px
        # wide by the next key frame (bunny's right edge). The strip is followed from frame to frame instead,
        # and shows the key's picture near its edge repeated (``Carried.carried``): strokes, which move with
        # the content, and nothing is painted until the strip is EDGE_REPEAT px wide. (The opening keeps a
        # strip along the frame's edge once it is half its window wide.)
        unpainted = self.step.entering.astype(np.float32)
        if self.unpainted is not None:  # a fraction of a pixel each step: the map is carried unrounded
            unpainted = np.maximum(unpainted, warp(self.unpainted, self.step.flow))
        strip = unpainted >= 0.5
        invalid |= self._blobs(strip, 2 * EDGE_REPEAT)
        entering = invalid & strip
        unpainted[invalid] = 0.0
        self.unpainted = unpainted
        image = self.key.carried(self.step.steady, unpainted)
        if not invalid.any():
            return np.ascontiguousarray(image.transpose(2, 0, 1)[None])
        tile, size = TILE, TILE + 2 * MARGIN

        def cells(mask: np.ndarray) -> np.ndarray:
            return cv2.resize(mask.astype(np.float32), (fw, fh), interpolation=cv2.INTER_AREA) > 0.01

        holes = cells(invalid)
        features = warp_planes(self.key_features, to_key)  # only now: frames without holes need none
        if entering.any():  # what the head paints there depends on the features up to MARGIN cells away
            reads = cv2.dilate(cells(entering).astype(np.uint8), np.ones((2 * MARGIN + 1,) * 2, np.uint8)) > 0
            features = self._entered(features, batch, reads)
        if self.config.repaint:
            features = self._uncovered(features, batch, holes)
        tiles = hole_tiles(holes, tile, MARGIN) if min(fh, fw) >= size else None
        if tiles is None or len(tiles) * size * size > self.config.max_holes * fw * fh:
            fresh = self.head(features[None], momentum)[0, :, :h, :w]
            fresh = fresh.transpose(1, 2, 0)
        else:
            fresh = image.copy()
            crops = np.stack([features[:, cy: cy + size, cx: cx + size] for _, _, cy, cx in tiles])
            outs = self.head.frozen(crops).transpose(0, 2, 3, 1)
            for (ty, tx, cy, cx), out in zip(tiles, outs):
                y0, x0 = 4 * ty, 4 * tx
                y1, x1 = min(h, 4 * (ty + tile)), min(w, 4 * (tx + tile))
                fresh[y0:y1, x0:x1] = out[y0 - 4 * cy: y1 - 4 * cy, x0 - 4 * cx: x1 - 4 * cx]
        # New pixels exactly where the picture has no source, with a soft edge against the carried ones.
        mask = cv2.GaussianBlur(cv2.resize(invalid.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR),
                                (5, 5), 0)
        image += mask[..., None] * (fresh - image)
        self.key.picture = image
        return np.ascontiguousarray(image.transpose(2, 0, 1)[None])

    def _uncovered(self, features: np.ndarray, batch: np.ndarray, holes: np.ndarray) -> np.ndarray:
        """``features`` (the key's, warped to this frame, CxHxW) with the trunk's own in and around the
        ``holes`` (cells), what the head's crops there read. Content the previous frame does not explain
        was hidden in the key frame or has changed since: warped, its cells hold whatever covered it then
        (on bunny the butterfly, which the head went on painting where it uncovered the ear). The trunk
        runs on a crop around each hole with ENTER_MARGIN cells of context, normalised with the key
        frame's statistics (as ``_entered``); the largest holes first, within ``max_uncovered`` of the
        frame: handheld footage has many small holes along edges (cockatoo: a crop per 12-cell tile
        around all of them took a quarter of the speed). Changed in place, as in ``_entered``."""
        fh, fw = features.shape[1:]
        boxes = cv2.connectedComponentsWithStats(holes.astype(np.uint8), connectivity=8)[2]
        budget = self.config.max_uncovered * fh * fw
        reads = None
        for x, y, bw, bh, _ in sorted(boxes[1:].tolist(), key=lambda b: -b[4]):
            y0, y1 = max(0, y - MARGIN - ENTER_MARGIN), min(fh, y + bh + MARGIN + ENTER_MARGIN)
            x0, x1 = max(0, x - MARGIN - ENTER_MARGIN), min(fw, x + bw + MARGIN + ENTER_MARGIN)
            budget -= (y1 - y0) * (x1 - x0)
            if budget < 0:
                break
            if reads is None:
                reads = cv2.dilate(holes.astype(np.uint8), np.ones((2 * MARGIN + 1,) * 2, np.uint8)) > 0
            # Written: the hole and the head's reach around it.
            reach = (max(0, y - MARGIN), min(fh, y + bh + MARGIN), max(0, x - MARGIN), min(fw, x + bw + MARGIN))
            self._trunk_cells(features, batch, (y0, y1, x0, x1), reads, reach)
        return features

    def _blobs(self, mask: np.ndarray, width: int = 9) -> np.ndarray:
        """``mask`` (bool, at flow resolution) without its specks and slivers narrower than ~``width`` frame pixels."""
        k = 2 * round((width - 1) / 2 * self.config.flow_scale) + 1
        return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((k, k), np.uint8)).astype(bool)

    def _fade(self, image: np.ndarray, timings: dict[str, float]) -> np.ndarray:
        """HxWx3 picture -> the same with the previous key's picture fading out of it."""
        t = time.perf_counter()
        h, w = image.shape[:2]
        cfg = self.config
        if cfg.keep and self.since_key > 1:
            # The key's strokes get back the contrast they were painted with, where their chain holds (on the key
            # frame itself they are as painted). Without it, kept strokes age: on bunny a picture kept through
            # every key frame was 12% weaker than per-frame, restored 6%.
            holds = cv2.resize(self._rigid(), stats_size(image.shape), interpolation=cv2.INTER_LINEAR)[..., None]
            image = with_variance(image, holds * self.key.variance_here, cfg.contrast_radius, cfg.max_gain)
        if self.fading is not None:
            # Linear in time: a step of 1/fade_length of the difference per frame, where a jump would be all of it.
            weight = max(0.0, 1.0 - self.since_key / self.fade_length)
            previous = self.fading.carried(self.step.steady)
            # Where the previous frame has no source for a pixel, the new picture alone.
            reach = cv2.GaussianBlur(cv2.resize(self.step.matched.astype(np.float32), (w, h),
                                                interpolation=cv2.INTER_LINEAR), (5, 5), 0)
            mix = (weight * reach)[..., None]
            fresh, image = image, image + mix * (previous - image)
            if self.config.keep_contrast:
                r = self.config.contrast_radius
                var_new, var_prev = local_stats(fresh, r)[1], local_stats(previous, r)[1]
                if self.fading.variance is not None:  # keep: the fading strokes' contrast as they were shown
                    var_prev = np.maximum(var_prev, self.fading.variance_here)
                mix = cv2.resize(mix, stats_size(mix.shape), interpolation=cv2.INTER_AREA)[..., None]
                image = with_variance(image, var_new + mix * (var_prev - var_new), r, self.config.max_gain)
            if weight == 0.0:
                self.fading = None
        self.shown = image
        timings["fade"] = time.perf_counter() - t
        return image

    def _stabilize(self, image: np.ndarray, timings: dict[str, float]) -> np.ndarray:
        """HxWx3 picture -> the same blended with the previous output, moved by the flow."""
        t = time.perf_counter()
        if self.prev_out is not None and self.step is not None:
            h, w = image.shape[:2]
            # A slightly blurred mask: no visible seam where blending starts.
            mask = cv2.GaussianBlur(cv2.resize(self.step.valid, (w, h), interpolation=cv2.INTER_LINEAR), (5, 5), 0)
            previous = warp(self.prev_out, self.step.full, sharp=True)
            weight = (self.config.blend * mask)[..., None]
            fresh, image = image, image + weight * (previous - image)
            self.prev_out = image
            if self.config.keep_contrast:
                # On the way out only: fed back, the restored strokes would be boosted again each frame.
                image = restore_contrast(image, fresh, self.config.contrast_radius, self.config.max_gain)
        else:
            self.prev_out = image
        timings["stabilize"] = time.perf_counter() - t
        return image


def _matches(look: np.ndarray, other: np.ndarray, to_other: np.ndarray, error: float) -> np.ndarray:
    """Where ``other`` warped onto ``look`` (frames as ``_looks`` gives them) matches it to within ``error`` (of
    the range), in brightness and in colour. Where the source frames do not match (lighting, motion the flow
    missed, something uncovered), their stylized pictures will not either: no reuse, no ghost."""
    d = cv2.absdiff(look, warp(other, to_other))
    # Not ``d.max(axis=2)``: a reduction over a last axis of 3 is ~25x slower (29 ms at 720p).
    return np.maximum(np.maximum(d[..., 0], d[..., 1]), d[..., 2]) <= error * 255


def _looks(frame: np.ndarray, g: np.ndarray) -> np.ndarray:
    """What the photometric checks compare: the flow's grayscale frame ``g`` and the frame's chroma (YCrCb's
    Cr, Cb) at its size, HxWx3 uint8. Brightness alone takes a red thing moving over a green one as bright for
    a match, and the picture there for right. On bunny the chroma adds 0.1-0.4% of the pixels to those the
    previous frame does not explain (the pink butterfly over the pale blue sky); on cockatoo (a white bird, white
    walls) none: the same key frames and E_warp there."""
    h, w = g.shape
    small = frame if frame.shape[:2] == (h, w) else cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
    look = cv2.cvtColor(small, cv2.COLOR_RGB2YCrCb)
    look[..., 0] = g  # exactly the flow's brightness (YCrCb's Y rounds differently by a level)
    return look


def stretch(flow: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """How far the map ``x -> x + flow(x)`` (HxWx2) is from rigid around each pixel: the largest |log| of the
    singular values of its Jacobian, from the flow at half size smoothed by ``sigma`` (there) against the
    pixel noise of composed steps. 0 for any shift and rotation; 0.1 for a 10% stretch."""
    h, w = flow.shape[:2]
    f = cv2.GaussianBlur(cv2.resize(flow, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA) / 2,
                         (0, 0), sigma)
    a, b = 1 + np.gradient(f[..., 0], axis=1), np.gradient(f[..., 0], axis=0)
    c, d = np.gradient(f[..., 1], axis=1), 1 + np.gradient(f[..., 1], axis=0)
    # The singular values of [[a, b], [c, d]] in closed form: q + r and |q - r|.
    q, r = np.hypot((a + d) / 2, (c - b) / 2), np.hypot((a - d) / 2, (c + b) / 2)
    small = np.maximum(np.abs(q - r), 1e-3)
    out = np.maximum(np.abs(np.log(q + r)), np.abs(np.log(small)))
    return cv2.resize(out.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def steady_flow(flow: np.ndarray, valid: np.ndarray, sigma: float) -> np.ndarray:
    """``flow`` (HxWx2) where ``valid`` (bool), elsewhere the Gaussian-weighted mean of the valid flow around
    (normalised convolution; ``sigma`` a fraction of the height); left as it is where nothing valid is near."""
    if valid.all() or sigma == 0.0:
        return flow
    s = sigma * flow.shape[0]
    weight = cv2.GaussianBlur(valid.astype(np.float32), (0, 0), s)
    mean = cv2.GaussianBlur(flow * valid[..., None], (0, 0), s) / np.maximum(weight, 1e-3)[..., None]
    # Only vectors that disagree with their surroundings: on flat walls the check fails where the flow is
    # merely unsure (cockatoo: filling those too raised E_warp 13%); what a passing object drags stands out.
    off = flow - mean
    fill = ~valid & (weight > 0.05) & (off[..., 0] * off[..., 0] + off[..., 1] * off[..., 1] > 1.0)
    out = flow.copy()
    out[fill] = mean[fill]
    return out


def hole_tiles(holes: np.ndarray, tile: int, margin: int) -> list[tuple[int, int, int, int]]:
    """Top-left corners of the tiles holding a hole, and of their crops: [(ty, tx, cy, cx)].

    Holes are thin and scattered (frame borders, object outlines): one box around them
    would cover most of the frame, so the map is cut in ``tile`` x ``tile`` tiles. Each
    busy tile gets a crop of the same size, ``tile + 2 * margin`` (the head's reach and its
    reflection padding), moved inward at the map's edges, where the network pads exactly
    as the crop does; equal crops run as one batch. The map must be at least that size."""
    fh, fw = holes.shape
    size = tile + 2 * margin
    out = []
    for ty in range(0, fh, tile):
        for tx in range(0, fw, tile):
            if holes[ty: ty + tile, tx: tx + tile].any():
                out.append((ty, tx, min(max(0, ty - margin), fh - size), min(max(0, tx - margin), fw - size)))
    return out


Box = tuple[int, int, int, int]  # (y0, y1, x0, x1) on a feature map


@lru_cache(maxsize=4)
def _nearest_edge(fh: int, fw: int) -> np.ndarray:
    """Per cell of an fh x fw map, its nearest edge: 0 top, 1 bottom, 2 left, 3 right (one size per stream)."""
    rows, cols = np.indices((fh, fw))
    nearest = np.argmin([rows, fh - 1 - rows, cols, fw - 1 - cols], axis=0)
    nearest.flags.writeable = False
    return nearest


def entering_bands(outside: np.ndarray, margin: int, min_depth: int = 1) -> list[tuple[Box, np.ndarray]]:
    """Where content entered the frame, edge by edge: [(crop box (y0, y1, x0, x1), cells)].

    ``outside``: cells with no source in the key frame. Each cell belongs to its nearest edge
    (a camera moving right and down brings a strip in at the bottom and one at the left, and
    the bottom strip must not make the left band as wide as the frame). An edge's ``cells`` are
    its own reached from it without crossing any other (specks inside the picture are left to
    propagation's holes). Its crop covers them with ``margin`` more cells of context inward and
    on either side along the edge (clipped to the map), so the trunk sees there what the full
    frame would show it. Bands fewer than ``min_depth`` cells deep are left out."""
    nearest = _nearest_edge(*outside.shape)
    result = []
    for edge, (axis, far) in enumerate(((0, False), (0, True), (1, False), (1, True))):
        flip = (lambda m: np.flip(m, axis)) if far else (lambda m: m)
        cells = flip(np.cumprod(flip(outside & (nearest == edge)), axis=axis).astype(bool))
        depth = int(cells.sum(axis=axis).max())
        if depth < min_depth:
            continue
        along = np.flatnonzero(cells.any(axis=axis))
        n, span = outside.shape[axis], outside.shape[1 - axis]
        a0, a1 = max(0, along[0] - margin), min(span, along[-1] + 1 + margin)
        d0, d1 = (max(0, n - depth - margin), n) if far else (0, min(n, depth + margin))
        result.append(((d0, d1, a0, a1) if axis == 0 else (a0, a1, d0, d1), cells))
    # A corner's cells may be nearer the other edge: a band inside a larger one's crop joins it.
    merged: list[tuple[Box, np.ndarray]] = []
    for box, cells in sorted(result, key=lambda band: -band[1].sum()):
        for i, ((y0, y1, x0, x1), into) in enumerate(merged):
            if cells[y0:y1, x0:x1].sum() == cells.sum():
                merged[i] = ((y0, y1, x0, x1), into | cells)
                break
        else:
            merged.append((box, cells))
    return merged


def make_stage(config: TemporalConfig, full: Callable[[np.ndarray], np.ndarray], style: StyleModel, engine: str,
               options: EngineOptions) -> TemporalStage:
    """The temporal stage for a model, with its trunk/head graphs when they exist beside it."""
    config = config.for_network(style.card)
    split = None
    if config.reuse or config.carry_norms:
        paths = split_paths(style.path)
        if all(p.is_file() for p in paths):
            # The head sees a new batch shape on almost every frame (the hole crops). With ONNX Runtime's
            # memory pattern (buffers planned per shape) the two halves' arenas then keep growing with
            # fresh buffers: on cockatoo (720p) a key frame took up to 4.4 s instead of 1.7, and the stage
            # 921 ms per frame instead of 686 (head alone without it: 797).
            options = replace(options, memory_pattern=False)
            split = tuple(create_engine(engine, p, options) for p in paths)
    return TemporalStage(config, full, split)
