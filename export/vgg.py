"""VGG16 features and the normalised perceptual distances used for training and evaluation.

The weights rtstyle trains with here (../shared/weights/vgg16_features.pth) are
Caffe-derived: their activations are 10-100x larger than torchvision's. Every
layer's loss is therefore divided by the target's own energy (scale-free), and
Gram matrices are always computed in float32 (fp16/bf16 sums overflow or lose
the small differences that matter).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

# Output index of the ReLU after each tapped conv in torchvision's vgg16().features.
TAPS = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22}
STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
CONTENT_LAYER = "relu3_3"
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)
_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
VGG_ENV = "RTSTYLE_VGG16"


def _features() -> nn.Sequential:
    layers: list[nn.Module] = []
    cin = 3
    for v in _CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            # Not in-place: we read intermediate activations and backprop through them.
            layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=False)]
            cin = v
    return nn.Sequential(*layers)


def load_vgg_state(path: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """State dict of VGG16 ``features``: ``path``, else $RTSTYLE_VGG16, else torchvision's download."""
    path = path or os.environ.get(VGG_ENV)
    if path:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"VGG16 weights not found: {path}")
        return torch.load(path, map_location="cpu", weights_only=True)
    try:
        from torchvision.models import VGG16_Weights, vgg16
    except ImportError as e:
        raise RuntimeError(f"no VGG16 weights: pass --vgg PATH, set ${VGG_ENV}, or install torchvision") from e
    return vgg16(weights=VGG16_Weights.IMAGENET1K_V1).features.state_dict()


class VGGFeatures(nn.Module):
    """Frozen VGG16 trunk returning the tapped activations of an RGB [0, 1] NCHW batch."""

    def __init__(self, path: str | os.PathLike | None = None, layers: tuple[str, ...] = STYLE_LAYERS):
        super().__init__()
        last = max(TAPS[name] for name in layers)
        features = _features()
        features.load_state_dict(load_vgg_state(path))
        self.body = features[: last + 1].eval().requires_grad_(False)
        self.taps = {TAPS[name]: name for name in layers}
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1))

    def train(self, mode: bool = True) -> "VGGFeatures":
        return super().train(False)  # always a fixed feature extractor

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (x - self.mean) / self.std
        out = {}
        for i, layer in enumerate(self.body):
            x = layer(x)
            if i in self.taps:
                out[self.taps[i]] = x
        return out


def gram(f: torch.Tensor) -> torch.Tensor:
    n, c, h, w = f.shape
    f = f.float().reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def relative_sq(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample ||a - b||^2 / ||b||^2: scale-free, so layers of any magnitude weigh alike."""
    a, b = a.float().flatten(1), b.float().flatten(1)
    return ((a - b) ** 2).sum(1) / (b**2).sum(1).clamp_min(1e-12)


def style_distance(feats: dict[str, torch.Tensor], style_grams: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per-sample mean over STYLE_LAYERS of the relative Gram distance to the style."""
    terms = [relative_sq(gram(feats[k]), style_grams[k].expand(feats[k].shape[0], -1, -1)) for k in STYLE_LAYERS]
    return torch.stack(terms).mean(0)


def content_distance(feats: dict[str, torch.Tensor], content_feats: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per-sample relative distance at CONTENT_LAYER."""
    return relative_sq(feats[CONTENT_LAYER], content_feats[CONTENT_LAYER])


def total_variation(x: torch.Tensor) -> torch.Tensor:
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()
