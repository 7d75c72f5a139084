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
"""
from __future__ import annotations

import cv2
import numpy as np

# Variances below this (flat areas, in [0, 1] units squared) are noise: no gain there.
EPS = 1e-4


def local_stats(image: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Box-filter mean and variance of each channel over a (2 * radius + 1)^2 window."""
    k = (2 * radius + 1, 2 * radius + 1)
    mean = cv2.blur(image, k, borderType=cv2.BORDER_REFLECT)
    var = cv2.blur(image * image, k, borderType=cv2.BORDER_REFLECT) - mean * mean
    return mean, np.maximum(var, 0.0, out=var)


def restore_contrast(blended: np.ndarray, fresh: np.ndarray, radius: int = 4, max_gain: float = 2.0) -> np.ndarray:
    """``blended`` (HxWxC float32 in [0, 1]) with the local standard deviation of ``fresh``.

    The gain is at least 1 (a blend never gets flattened further) and at most ``max_gain``
    (where the blend averaged strokes away entirely, noise must not be blown up)."""
    return with_variance(blended, local_stats(fresh, radius)[1], radius, max_gain)


def with_variance(blended: np.ndarray, target: np.ndarray, radius: int = 4, max_gain: float = 2.0) -> np.ndarray:
    """``blended`` (HxWxC float32 in [0, 1]) with local variance ``target`` (HxWxC), gain in [1, max_gain]."""
    mean_b, var_b = local_stats(blended, radius)
    gain = np.sqrt((target + EPS) / (var_b + EPS))
    np.clip(gain, 1.0, max_gain, out=gain)
    out = mean_b + (blended - mean_b) * gain
    return np.clip(out, 0.0, 1.0, out=out)
