"""Variance-preserving blending (rtstyle.contrast) on real stylized bunny frames."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from rtstyle.contrast import at_size, local_stats, restore_contrast
from rtstyle.flow import consistent, farneback, warping_error
from rtstyle.stylizer import Stylizer
from rtstyle.temporal import TemporalConfig

from test_temporal import clip

SIZE = (320, 180)


@pytest.fixture(scope="module")
def frames(bunny):
    return clip(bunny, 6, SIZE, start=20)  # the bunny walks here: real motion between frames


@pytest.fixture(scope="module")
def per_frame(frames):
    s = Stylizer("starry", threads=1)
    return [s.stylize(f) for f in frames]


def stabilized(frames, *mechanisms):
    s = Stylizer("starry", threads=1, temporal=TemporalConfig.only(["stabilize", *mechanisms]))
    return [s.stylize(f) for f in frames]


def local_std(image: np.ndarray, radius: int = 4) -> float:
    return float(np.sqrt(local_stats(image.astype(np.float32) / 255, radius)[1]).mean())


def e_warp(outs, frames):
    grays = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    errors = []
    for t in range(1, len(frames)):
        to_prev = farneback(grays[t], grays[t - 1])
        valid = consistent(to_prev, farneback(grays[t - 1], grays[t]))
        errors.append(warping_error(outs[t], outs[t - 1], to_prev, valid))
    return float(np.mean(errors))


def test_restoring_contrast_keeps_the_strokes_strength_and_less_flicker_than_per_frame(frames, per_frame):
    plain = stabilized(frames)
    kept = stabilized(frames, "contrast")
    fresh_std = np.mean([local_std(o) for o in per_frame[1:]])
    # The plain blend averages two stroke patterns: visibly flatter than each frame on its own.
    assert np.mean([local_std(o) for o in plain[1:]]) < 0.9 * fresh_std
    # Restored: the strokes have the fresh frames' local contrast again...
    assert np.mean([local_std(o) for o in kept[1:]]) > 0.95 * fresh_std
    # ... and the output still flickers less than stylizing every frame on its own.
    assert e_warp(kept, frames) < 0.8 * e_warp(per_frame, frames)
    assert e_warp(plain, frames) < e_warp(kept, frames)
    # The first frame has nothing to blend with: exactly the per-frame picture.
    assert np.array_equal(kept[0], per_frame[0])


def test_restore_is_the_identity_on_an_unblended_frame_and_its_gain_is_capped(per_frame):
    fresh = per_frame[0].astype(np.float32) / 255
    np.testing.assert_allclose(restore_contrast(fresh, fresh), fresh, atol=1e-5)
    # A blend that averaged the strokes away (here: a blurred frame) gets at most max_gain back.
    flat = cv2.GaussianBlur(fresh, (0, 0), 2.0)
    out = restore_contrast(flat, fresh, radius=4, max_gain=1.5)
    mean = at_size(local_stats(flat, 4)[0], flat.shape)
    assert np.all(np.abs(out - mean) <= 1.5 * np.abs(flat - mean) + 1e-5)
    assert local_std((out * 255).astype(np.uint8)) > 1.15 * local_std((flat * 255).astype(np.uint8))
    # Local means stay the blend's: the low frequencies (where strokes sit) do not move.
    assert np.abs(cv2.blur(out, (9, 9)) - cv2.blur(flat, (9, 9))).mean() < 0.006


def test_a_fade_keeping_contrast_mixes_two_pictures_without_flattening_them(frames, per_frame):
    """Across a key frame the fade mixes the old picture with the new one: two stroke patterns,
    which a plain mix averages toward a flatter picture. With ``contrast`` the mix gets the local
    contrast of the two, interpolated."""
    def faded(*extra):
        s = Stylizer("starry", threads=1, temporal=TemporalConfig.only(["fade", *extra], keyframe_interval=3))
        outs, keys = [], []
        for f in frames:
            k = s.temporal.keyframes
            outs.append(s.stylize(f))
            keys.append(s.temporal.keyframes > k)
        return outs, keys
    (plain, keys), (kept, kept_keys) = faded(), faded("contrast")
    assert keys == kept_keys and sum(keys[1:]) >= 1, keys
    mixed = [i for i in range(1, len(frames)) if keys[i]]  # on a key frame the old picture still weighs 2/3
    fresh = np.mean([local_std(per_frame[i]) for i in mixed])
    flat, restored = np.mean([local_std(plain[i]) for i in mixed]), np.mean([local_std(kept[i]) for i in mixed])
    assert flat < 0.9 * fresh  # measured: 0.84
    assert restored > 0.93 * fresh  # measured: 0.96
    # Stronger strokes change more between frames, still far less than per-frame's (measured: 0.0020,
    # 0.0023 and 0.0061 under Farneback's flow).
    assert e_warp(plain, frames) < e_warp(kept, frames) < 0.6 * e_warp(per_frame, frames)
