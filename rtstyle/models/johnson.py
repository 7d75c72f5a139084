"""The feed-forward style network of Johnson, Alahi & Fei-Fei (ECCV 2016).

Layout follows the paper and pytorch/examples/fast_neural_style: 9x9 conv, two
stride-2 3x3 convs, residual blocks, two nearest-upsample + 3x3 convs, 9x9 conv
back to RGB; reflection padding and affine instance norm throughout.

I/O convention shared by every rtstyle model and every exported graph:
``image`` float32 NCHW RGB in [0, 1] in, the same layout and range out.

The network is two halves, ``trunk`` (input -> end of the residual blocks, at
1/4 resolution, most of the FLOPs) and ``head`` (the upsampling decoder), so
that video can run the trunk on key frames only and reuse warped features.
``width`` and ``blocks`` are parameters so slim students reuse this class.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


class ConvLayer(nn.Sequential):
    """Reflection pad + conv (+ instance norm + ReLU unless ``last``)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, last: bool = False):
        layers: list[nn.Module] = [nn.ReflectionPad2d(kernel // 2), nn.Conv2d(cin, cout, kernel, stride)]
        if not last:
            layers += [nn.InstanceNorm2d(cout, affine=True), nn.ReLU()]
        super().__init__(*layers)


class UpsampleConvLayer(ConvLayer):
    """Nearest x2 upsample then conv: avoids the checkerboard of transposed convs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3)
        self.conv2 = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels, affine=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.conv1(x))


class TransformerNet(nn.Module):
    def __init__(self, width: int = 32, blocks: int = 5):
        super().__init__()
        self.width, self.blocks = width, blocks
        w = width
        self.trunk = nn.Sequential(
            ConvLayer(3, w, 9),
            ConvLayer(w, 2 * w, 3, stride=2),
            ConvLayer(2 * w, 4 * w, 3, stride=2),
            *[ResidualBlock(4 * w) for _ in range(blocks)],
        )
        self.head = nn.Sequential(
            UpsampleConvLayer(4 * w, 2 * w, 3),
            UpsampleConvLayer(2 * w, w, 3),
            ConvLayer(w, 3, 9, last=True),
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2:]
        out = self.head(self.trunk(image))
        # Strided convs floor odd sizes; crop back so any H x W round-trips.
        out = out[..., :h, :w]
        # Training sees the raw output (clamping would zero its gradient);
        # inference and every exported graph honour the [0, 1] contract.
        return out if self.training else out.clamp(0.0, 1.0)


def config_of(state_dict: dict[str, torch.Tensor]) -> dict[str, int]:
    """Recover (width, blocks) from a state dict so checkpoints are self-describing."""
    width = state_dict["trunk.0.1.weight"].shape[0]
    blocks = len({k.split(".")[1] for k in state_dict if k.startswith("trunk.") and ".conv1." in k})
    return {"width": int(width), "blocks": blocks}
