"""Variance-preserving blending: a temporal blend that keeps the texture's strength.

The stabiliser (rtstyle.temporal, mechanism c) blends each stylized frame with the
previous output warped by flow, ``B = new + w * (warped_prev - new)``. Where the two
stroke patterns are not perfectly aligned, averaging them lowers their contrast (by
about ``w**2 + (1 - w)**2`` in variance for uncorrelated strokes), and the recursion
compounds it with each warp's resampling blur: the picture drifts toward a soft,
low-contrast version of the style (its Gram statistics move toward the photo's).

``restore_contrast`` puts the lost local variance back, as in histogram-preserving
blending (Heitz & Neyret 2018): around every pixel, ``out = mean_B + (B - mean_B) *
std_new / std_B``, with box-filter statistics and a capped gain. The local means --
the low frequencies and where the strokes sit -- stay those of the blend; the
strokes' amplitude returns to the fresh frame's, and with it part of the flicker
(measured in benchmarks/temporal.py: variant all+contrast).

The statistics are taken at half size, on 2x2 blocks: a block's mean of the pixels and
of their squares are the same sums a box filter adds up, over a quarter of the pixels.
Means and gains vary smoothly, so they come back to full size bilinearly. At 720p
``local_stats`` takes 5.6 ms instead of 11.1 and ``with_variance`` 11.5 instead of 19.2
(docs/temporal.md); the variance maps a temporal stage carries with its pictures are a
quarter of the size.
"""
from __future__ import annotations

import cv2
import numpy as np

# Variances below this (flat areas, in [0, 1] units squared) are noise: no gain there.
EPS = 1e-4


def stats_size(shape: tuple[int, ...]) -> tuple[int, int]:
    """(width, height) of the statistics of an image of ``shape`` (H, W, ...): half size, rounded up."""
    return (shape[1] + 1) // 2, (shape[0] + 1) // 2


def at_size(stat: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A map at ``stats_size``, or any smooth map, brought to ``shape`` (H, W, ...) bilinearly."""
    return cv2.resize(stat, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR).reshape(*shape[:2], -1)


def local_stats(image: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Box-filter mean and variance of each channel of ``image`` (HxWxC float32) at ``stats_size``, over
    windows of 2 * (radius // 2) + 1 blocks of 2x2 pixels a side (radius 4: 10 pixels, about 2 * radius + 1)."""
    size = stats_size(image.shape)
    k = (2 * (radius // 2) + 1,) * 2
    mean = cv2.blur(cv2.resize(image, size, interpolation=cv2.INTER_AREA), k, borderType=cv2.BORDER_REFLECT)
    square = cv2.resize(cv2.multiply(image, image), size, interpolation=cv2.INTER_AREA)
    var = cv2.blur(square, k, borderType=cv2.BORDER_REFLECT) - mean * mean
    return mean, np.maximum(var, 0.0, out=var)


def restore_contrast(blended: np.ndarray, fresh: np.ndarray, radius: int = 4, max_gain: float = 2.0) -> np.ndarray:
    """``blended`` (HxWxC float32 in [0, 1]) with the local standard deviation of ``fresh``.

    The gain is at least 1 (a blend never gets flattened further) and at most ``max_gain``
    (where the blend averaged strokes away entirely, noise must not be blown up)."""
    return with_variance(blended, local_stats(fresh, radius)[1], radius, max_gain)


def with_variance(blended: np.ndarray, target: np.ndarray, radius: int = 4, max_gain: float = 2.0) -> np.ndarray:
    """``blended`` (HxWxC float32 in [0, 1]) with local variance ``target`` (at ``stats_size``), gain in
    [1, max_gain]."""
    mean, var = local_stats(blended, radius)
    gain = np.sqrt((target + EPS) / (var + EPS))
    np.clip(gain, 1.0, max_gain, out=gain)
    mean, gain = at_size(mean, blended.shape), at_size(gain, blended.shape)
    out = cv2.subtract(blended, mean)
    out *= gain
    out += mean
    return np.clip(out, 0.0, 1.0, out=out)
