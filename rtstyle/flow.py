"""Optical flow between frames, warping along it, occlusion masks and the warping error.

Convention: ``flow(a, b)`` gives, for every pixel x of ``a``, the displacement
to its match in ``b``; ``warp(image_b, flow(a, b))`` therefore brings ``b`` onto
``a``'s pixel grid. Flows are HxWx2 float32 (dx, dy) in pixels.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

# name -> (OpenCV preset, overrides: finest scale, patch size, patch stride, gradient descent and
# variational refinement iterations).
PRESETS: dict[str, tuple[int, dict[str, int]]] = {
    "ultrafast": (cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, {}),
    "fast": (cv2.DISOPTICAL_FLOW_PRESET_FAST, {}),
    "medium": (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, {}),
    # Medium down to the full-resolution scale, with wider patches and more refinement: on bunny's and
    # cockatoo's first frames moved by benchmarks/flow_truth.py's known camera motion (one-off run)
    # 0.125 / 0.084 px off where medium is 0.168 / 0.112, at ~3.5x its time (~50 ms at 640x360).
    "refined": (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
                {"FinestScale": 0, "PatchSize": 12, "PatchStride": 6, "GradientDescentIterations": 12,
                 "VariationalRefinementIterations": 10}),
}


def gray(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """HxWx3 uint8 RGB -> grayscale uint8 at ``size`` = (width, height)."""
    g = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    if (g.shape[1], g.shape[0]) != size:
        g = cv2.resize(g, size, interpolation=cv2.INTER_AREA)
    return g


# DIS rejects images narrower than its patches and pyramid need (OpenCV raises below 12 px a side with
# the stock presets, below 17 with ``refined``): smaller frames are padded to this for the flow.
MIN_FLOW_SIDE = 32


class DisFlow:
    """OpenCV's DIS optical flow (Kroeger et al. 2016): a few ms on a downscaled frame.

    ``smooth``: Gaussian smoothing of the result, sigma as a fraction of the frame's height (0: none).
    A picture carried along many composed flows is bent a little more by each one's noise."""

    def __init__(self, preset: str = "ultrafast", smooth: float = 0.0):
        self.preset, self.smooth = preset, smooth
        self.dis = _dis(*PRESETS[preset])

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        h, w = a.shape[:2]
        if min(h, w) < MIN_FLOW_SIDE:  # edges replicated: the padding holds no motion of its own
            pad = (0, max(0, MIN_FLOW_SIDE - h), 0, max(0, MIN_FLOW_SIDE - w))
            a, b = (cv2.copyMakeBorder(x, *pad, cv2.BORDER_REPLICATE) for x in (a, b))
        flow = np.ascontiguousarray(self.dis.calc(a, b, None)[:h, :w])
        return cv2.GaussianBlur(flow, (0, 0), self.smooth * h) if self.smooth else flow


def farneback(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Farneback flow on grayscale frames: a different algorithm from the one the pipeline
    uses, so a metric computed with it does not reward agreeing with the pipeline's own flow."""
    return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, 15, 3, 5, 1.2, 0)


def fine_dis(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The metric's flow: DIS at full resolution down to the finest scale, with small patch
    strides and variational refinement. On frames moved by a known camera motion
    (benchmarks/flow_truth.py) its end-point error is 0.11-0.16 px, against Farneback's
    0.97-1.39 px and the pipeline's own DIS (medium, full size) 0.17 px; at 0.3-1.2 s
    per pair it is for benchmarks, not for the pipeline."""
    return _dis(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, {"FinestScale": 0, "PatchSize": 12, "PatchStride": 3,
                                                    "VariationalRefinementIterations": 20}).calc(a, b, None)


def _dis(base: int, overrides: dict[str, int]):
    dis = cv2.DISOpticalFlow_create(base)
    for name, value in overrides.items():
        getattr(dis, "set" + name)(value)
    return dis


def resize_flow(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resample a flow field to ``size`` = (width, height), scaling the vectors with it."""
    h, w = flow.shape[:2]
    if (w, h) == size:
        return flow
    out = cv2.resize(flow, size, interpolation=cv2.INTER_LINEAR)
    out[..., 0] *= size[0] / w
    out[..., 1] *= size[1] / h
    return out


@lru_cache(maxsize=8)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates: a handful of sizes per stream (frame, flow, features), each warped many times."""
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    xs.flags.writeable = ys.flags.writeable = False
    return xs, ys


def _maps(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = _grid(*flow.shape[:2])
    return xs + flow[..., 0], ys + flow[..., 1]


def warp(image: np.ndarray, flow: np.ndarray, sharp: bool = False) -> np.ndarray:
    """Sample ``image`` (HxW or HxWxC, C <= 4; feature maps: ``warp_planes``) at x + flow(x), edges mirrored.

    Content entering the frame has no source: mirrored, the neighbouring content gives a
    network head texture to draw there, where replicated edge pixels drew streaks as
    long as the camera had moved (cockatoo: up to 20 px).

    Bilinear, or bicubic with ``sharp``: pictures warped again and again (a stabilised
    output) would otherwise lose their fine texture to the blur of each bilinear step."""
    mx, my = _maps(flow)
    return cv2.remap(image, mx, my, cv2.INTER_CUBIC if sharp else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def warp_planes(planes: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``warp`` (bilinear) for a CxHxW stack of planes, e.g. a network's feature map as ONNX Runtime
    returns it: plane by plane into one array, 3x faster than 4-channel groups of an HxWxC map
    (128 channels at 320x180: 25 ms against 83), with no transposes around the network."""
    mx, my = _maps(flow)
    out = np.empty_like(planes)
    for c in range(planes.shape[0]):
        cv2.remap(planes[c], mx, my, cv2.INTER_LINEAR, dst=out[c], borderMode=cv2.BORDER_REFLECT_101)
    return out


# Lanczos-4 weights for the value halfway between two pixels, from the 8 pixels around it (OpenCV's INTER_LANCZOS4
# at a phase of 0.5).
_HALF = np.sinc(np.arange(8) - 3.5) * np.sinc((np.arange(8) - 3.5) / 4)
_HALF = (_HALF / _HALF.sum()).astype(np.float32)
_ONE = np.ones(1, np.float32)


class Oversampled:
    """A picture to be warped many times without losing its finest strokes.

    A stylized picture holds much of its texture near the pixel grid's limit, where interpolation
    attenuates it: starry's pictures moved 0.5 px by a bicubic ``warp`` lose 18% of their style
    (benchmarks/resampling.py), by Lanczos 4%, but a Lanczos remap costs ~8x a bicubic one. So the
    picture is enlarged 2x once: its own pixels at the even positions, Lanczos half-pixel values
    (two separable 8-tap filters) between them. Every warp then samples that bicubically at the
    frame's own grid, where the fine grid's content sits at half its Nyquist limit and bicubic passes
    it: nothing lost at whole pixels and at 0.25 px, Lanczos's 4% at 0.5, for a bicubic remap's time."""

    def __init__(self, image: np.ndarray):
        h, w = image.shape[:2]
        flat = image.reshape(h, w, -1)

        def half(a: np.ndarray, axis: int) -> np.ndarray:  # values halfway to the next pixel along axis (1: x)
            kx, ky, anchor = (_HALF, _ONE, (3, 0)) if axis == 1 else (_ONE, _HALF, (0, 3))
            return cv2.sepFilter2D(a, -1, kx, ky, anchor=anchor, borderType=cv2.BORDER_REFLECT_101).reshape(a.shape)

        rows = np.stack([flat, half(flat, 1)], axis=2).reshape(h, 2 * w, -1)  # pixel j of a row at x = j / 2
        self.big = np.stack([rows, half(rows, 0)], axis=1).reshape(2 * h, 2 * w, *image.shape[2:])

    def warp(self, flow: np.ndarray) -> np.ndarray:
        """``warp(image, flow)``, sharp; ``flow`` at the picture's size."""
        mx, my = _maps(flow)
        return cv2.remap(self.big, 2 * mx, 2 * my, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)


def repeated_inward(flow: np.ndarray, period: int) -> np.ndarray:
    """``flow`` (HxWx2) with its targets beyond the frame's edges moved inward by whole ``period``s (pixels):
    warped along it, a picture's last ``period`` pixels repeat past its edges. ``warp``'s mirrored border
    flips the content there: hatching drawn one way turns the other, a chevron along the edge."""
    mx, my = _maps(flow)
    h, w = flow.shape[:2]
    out = flow.copy()
    for axis, n, m in ((0, w, mx), (1, h, my)):
        beyond = np.ceil(np.maximum(m - (n - 1), 0.0) / period) - np.ceil(np.maximum(-m, 0.0) / period)
        out[..., axis] -= period * beyond
    return out


def shift(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``image`` (HxW or HxWxC, C <= 4) moved by (dx, dy) pixels, any fraction of one: bicubic,
    edges mirrored, same size. Cheaper than ``warp`` for one motion over the whole picture."""
    h, w = image.shape[:2]
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)


def consistent(forward: np.ndarray, backward: np.ndarray, slack: float = 0.5) -> np.ndarray:
    """Forward-backward check (Sundaram et al. 2010, as in Ruder et al. 2016 and Lai et al. 2018).

    ``forward`` = flow(a, b), ``backward`` = flow(b, a). True where a pixel of ``a`` goes to ``b``
    and back to itself: not occluded, not at a motion boundary the flow got wrong, not outside ``b``.
    ``slack``: the squared round-trip error allowed beyond 1% of the motion, in these flows' pixels
    squared (Sundaram et al.'s 0.5)."""
    back = warp(backward, forward)
    lhs = _squared(forward + back)
    rhs = 0.01 * (_squared(forward) + _squared(back)) + slack
    return (lhs <= rhs) & inside(forward)


def _squared(flow: np.ndarray) -> np.ndarray:
    """|flow|^2 per pixel. (Not ``(flow**2).sum(2)``: a reduction over a last axis of 2 is ~25x slower.)"""
    return flow[..., 0] * flow[..., 0] + flow[..., 1] * flow[..., 1]


def inside(flow: np.ndarray) -> np.ndarray:
    """Where ``flow`` lands inside the frame: content entering the frame has no match."""
    mx, my = _maps(flow)
    h, w = flow.shape[:2]
    # |x - centre| <= half the span: two passes over the frame per axis instead of three.
    return (np.abs(mx - (w - 1) / 2) <= (w - 1) / 2) & (np.abs(my - (h - 1) / 2) <= (h - 1) / 2)


def warping_error(current: np.ndarray, previous: np.ndarray, flow_to_previous: np.ndarray,
                  valid: np.ndarray) -> float:
    """Lai et al. 2018: mean squared difference, values in [0, 1], between ``current`` and
    ``previous`` warped onto it, over the ``valid`` (non-occluded) pixels."""
    prev_on_cur = warp(previous.astype(np.float32) / 255.0, flow_to_previous)
    diff = ((current.astype(np.float32) / 255.0 - prev_on_cur) ** 2).mean(2)
    return float(diff[valid].mean()) if valid.any() else 0.0
