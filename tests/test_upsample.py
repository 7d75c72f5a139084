"""Edge-aware upsampling (rtstyle/upsample.py) on real photos."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from rtstyle.upsample import GuidedUpsample, bilinear_upsample, downscale, guided_upsample, internal_size


def photo(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    img = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    return img if size is None else cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def edge_strength(img: np.ndarray, edges: np.ndarray) -> float:
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))[edges].mean())


def strong_edges(img: np.ndarray) -> np.ndarray:
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    mag = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    return mag > np.percentile(mag, 90)


def test_guided_restores_edges_that_bilinear_blurs(eval_photos):
    # The photo itself at half resolution stands in for a stylized output: the ground truth is known.
    full = photo(eval_photos[0], (321, 241))
    small = downscale(full, 0.5)
    assert small.shape == (120, 160, 3)
    edges = strong_edges(full)
    truth = edge_strength(full, edges)
    bil = bilinear_upsample(small, full)
    err = lambda x: np.abs(x.astype(np.int16) - full).mean()  # noqa: E731
    # Measured at 640x480: bilinear keeps 0.66 of the photo's own edge strength, the guided filter 0.99.
    assert edge_strength(bil, edges) < 0.8 * truth
    for mode in ("detail", "guided"):
        gui = guided_upsample(small, full, radius=4, eps=1e-4, mode=mode)
        assert gui.shape == full.shape and gui.dtype == np.uint8
        assert edge_strength(gui, edges) > 0.9 * truth, mode
        assert err(gui) < 0.7 * err(bil), mode


@pytest.mark.parametrize("size,small_size", [((333, 247), (167, 124)), ((97, 61), (31, 20)), ((640, 480), (213, 160))])
def test_odd_sizes_and_any_ratio(eval_photos, size, small_size):
    full = photo(eval_photos[1], size)
    small = cv2.resize(full, small_size, interpolation=cv2.INTER_AREA)
    out = GuidedUpsample()(small, full)
    assert out.shape == full.shape and out.dtype == np.uint8
    # At any ratio it is at least as close to the full-resolution truth as bilinear is.
    err = lambda x: np.abs(x.astype(np.int16) - full).mean()  # noqa: E731
    assert err(out) <= err(bilinear_upsample(small, full)) + 0.5


def test_exact_where_it_should_be(eval_photos):
    full = photo(eval_photos[2], (160, 120))
    # Guide == input at full resolution: with a vanishing eps the classic filter is the identity (a = 1, b = 0).
    same = np.repeat(cv2.cvtColor(full, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2).astype(np.float32) / 255
    out = guided_upsample(same, full, radius=3, eps=1e-9, mode="guided")
    assert np.abs(out - same).max() < 1e-3
    # Detail transfer at scale 1 has nothing to restore: any image comes back bit for bit.
    assert np.array_equal(guided_upsample(full[::-1].copy(), full), full[::-1])
    # A flat stylized image stays flat whatever the guide's edges (a = 0, b = the colour).
    flat = np.full((60, 80, 3), (200, 40, 90), np.uint8)
    for mode in ("detail", "guided"):
        assert np.array_equal(guided_upsample(flat, full, mode=mode), np.broadcast_to(flat[:1, :1], full.shape))
    # Float in, float out, in [0, 1].
    f = guided_upsample(full[::2, ::2].astype(np.float32) / 255, full)
    assert f.dtype == np.float32 and 0.0 <= f.min() and f.max() <= 1.0


def test_bad_input_is_a_value_error(eval_photos):
    full = photo(eval_photos[0], (64, 48))
    with pytest.raises(ValueError, match="larger than the frame"):
        guided_upsample(cv2.resize(full, (128, 96)), full)
    with pytest.raises(ValueError, match="expected"):
        guided_upsample(full[..., 0], full)
    with pytest.raises(ValueError, match="unknown guided upsampling mode"):
        guided_upsample(full[::2, ::2], full, mode="bicubic")
    with pytest.raises(ValueError, match="internal scale"):
        internal_size(640, 480, 0.0)
    assert internal_size(641, 481, 0.5) == (320, 240)  # round half to even: 320.5 -> 320
