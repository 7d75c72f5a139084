"""The normalised distances used by benchmarks/quality.py, on real images and the real VGG16 weights."""
from __future__ import annotations

import torch

from export.gatys import GatysConfig, gatys, style_grams
from export.train import read_rgb, resize_long, to_tensor
from export.vgg import VGGFeatures, content_distance, style_distance


def test_distances_are_zero_on_self_and_gatys_moves_photo_toward_painting(shared, eval_photos):
    vgg = VGGFeatures(shared / "weights/vgg16_features.pth")
    photo = resize_long(read_rgb(eval_photos[0]), 64)
    painting = resize_long(read_rgb(shared / "data/styles/starry.jpg"), 128)
    grams = style_grams(vgg, painting)
    with torch.no_grad():
        photo_feats = vgg(to_tensor(photo))
        painting_feats = vgg(to_tensor(painting))
        assert float(content_distance(photo_feats, photo_feats)) == 0.0
        assert float(style_distance(painting_feats, grams)) < 1e-6
        before = float(style_distance(photo_feats, grams))

    result = gatys(vgg, photo, grams, GatysConfig(iters=8))
    assert result.image.shape == photo.shape and result.image.dtype == photo.dtype
    with torch.no_grad():
        feats = vgg(to_tensor(result.image))
        after = float(style_distance(feats, grams))
        moved = float(content_distance(feats, photo_feats))
    # A real photo is far from Starry Night's Grams; a few L-BFGS steps on the training objective must
    # close a good part of that, paying for it with some (but bounded) content change.
    assert before > 0.3
    assert after < 0.7 * before
    assert 0.0 < moved < 1.0
    assert result.losses[-1] < result.losses[0]
