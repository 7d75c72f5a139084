"""The distilled StyTr² that rtstyle ships for arbitrary styles.

StyTr²'s idea, kept: a shared patch embedding for content and style, a
transformer encoder on the style tokens, content tokens with CAPE that attend
to the style tokens through cross-attention in a transformer decoder, and a
convolutional upsampling decoder back to RGB. What makes it >10x cheaper:

- width 64 instead of 512, 2 decoder layers instead of 3, FFN 256;
- the patch embedding is three stride-2 3x3 convs (16, 32, 64 channels), not one
  8x8 conv to 512 channels;
- no content transformer encoder (its self-attention over every 8x8 patch of a
  640x480 frame is quadratic in the frame size): a residual 3x3 conv block
  mixes neighbouring patches instead, and CAPE still positions the queries;
- the style tokens are average-pooled to a fixed 16x16 grid (256 tokens), so
  cross-attention costs O(frame tokens x 256);
- the CNN decoder is three x2 nearest-upsample convs (32, 16, 16 channels), with
  the 1/4-resolution stem features added back for detail;
- the content tokens and that skip are instance-normalised, a prior borrowed from
  AdaIN/SANet that makes training converge in the CPU budget (see forward).

It is two graphs: ``encode_style`` (run once per painting; its output, the
256 style tokens, is the cached style) and ``forward(frame, style_tokens)``
(per frame). I/O: RGB float32 NCHW in [0, 1]; style tokens 1x256xD.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
import torch.nn.functional as F

from .stytr2_layers import DecoderLayer, EncoderLayer, cape, from_tokens, to_tokens

STYLE_SIZE = 256  # the style encoder's input: the painting's centre square at this size


@dataclass(frozen=True)
class StudentConfig:
    dim: int = 64
    heads: int = 4
    ffn: int = 256
    decoder_layers: int = 2
    style_layers: int = 1
    style_grid: int = 16  # style tokens are pooled to style_grid x style_grid
    cape_grid: int = 18
    stem: tuple[int, int] = (16, 32)

    def to_dict(self) -> dict:
        return asdict(self)


def conv(cin: int, cout: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3, stride)]
    return nn.Sequential(*layers, nn.ReLU()) if relu else nn.Sequential(*layers)


class Stem(nn.Module):
    """Three stride-2 convs: the patch embedding (1/8 resolution) and the 1/4 features for the skip."""

    def __init__(self, cfg: StudentConfig):
        super().__init__()
        c1, c2 = cfg.stem
        self.down1 = nn.Sequential(conv(3, c1, 2), conv(c1, c2, 2))
        self.down2 = conv(c2, cfg.dim, 2, relu=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        quarter = self.down1(x)
        return self.down2(quarter), quarter


class PooledCAPE(nn.Module):
    """CAPE with an export-friendly pooling: a fixed 4x4 average pool then a bilinear resize to the
    grid approximates adaptive pooling, which ONNX cannot express for a dynamic frame size."""

    def __init__(self, channels: int, grid: int):
        super().__init__()
        self.grid = grid
        self.new_ps = nn.Conv2d(channels, channels, 1)

    def forward(self, content: torch.Tensor) -> torch.Tensor:
        pooled = F.avg_pool2d(content, 4, ceil_mode=True)
        pooled = F.interpolate(pooled, size=(self.grid, self.grid), mode="bilinear", align_corners=False)
        return cape(pooled, self.new_ps, content.shape[-2:])


class StyTr2Student(nn.Module):
    def __init__(self, cfg: StudentConfig = StudentConfig()):
        super().__init__()
        self.cfg = cfg
        d = cfg.dim
        self.stem = Stem(cfg)
        self.style_encoder = nn.ModuleList(EncoderLayer(d, cfg.heads, cfg.ffn, 0.0) for _ in range(cfg.style_layers))
        self.content_mix = nn.Sequential(conv(d, d), conv(d, d, relu=False))
        self.cape = PooledCAPE(d, cfg.cape_grid)
        self.decoder = nn.ModuleList(DecoderLayer(d, cfg.heads, cfg.ffn, 0.0) for _ in range(cfg.decoder_layers))
        self.norm = nn.LayerNorm(d)
        c1, c2 = cfg.stem
        self.up1 = conv(d, c2)
        self.up2 = conv(c2, c1)
        self.up3 = conv(c1, c1)
        self.to_rgb = conv(c1, 3, relu=False)

    def encode_style(self, style: torch.Tensor) -> torch.Tensor:
        """Nx3xHxW painting (H, W multiples of 8 * style_grid) -> NxTxD style tokens, T = style_grid²."""
        feats, _ = self.stem(style)
        g = self.cfg.style_grid
        gh, gw = int(feats.shape[-2]), int(feats.shape[-1])
        if gh % g or gw % g:
            raise ValueError(f"style image sides must be multiples of {8 * g}, got {tuple(style.shape[-2:])}")
        # Pool before the encoder for training speed; at 256 px this averages 2x2 patches. (A plain
        # average pool: ONNX cannot export adaptive pooling.)
        feats = F.avg_pool2d(feats, (gh // g, gw // g))
        tokens = to_tokens(feats)
        for layer in self.style_encoder:
            tokens = layer(tokens)
        return tokens.transpose(0, 1)

    def forward(self, frame: torch.Tensor, style_tokens: torch.Tensor) -> torch.Tensor:
        """Nx3xHxW frame (any size) + NxTxD cached style -> Nx3xHxW stylized frame."""
        h, w = frame.shape[-2:]
        # Pad to a multiple of 8 so the three stride-2 convs and three x2 upsamplings round-trip.
        ph, pw = (-h) % 8, (-w) % 8
        x = F.pad(frame, (0, pw, 0, ph), mode="replicate")
        content, quarter = self.stem(x)
        # Instance-normalised content (as in AdaIN, SANet, AdaAttN): the photo's own colour and contrast
        # statistics are removed from the queries and the skip, so they must come from the style tokens.
        # With a few thousand training steps instead of StyTr²'s 160k this prior is what makes the
        # painting, not the photo, set the palette (without it, outputs were the photo, desaturated).
        content = F.instance_norm(content + self.content_mix(content))
        gh, gw = content.shape[-2:]
        pos = to_tokens(self.cape(content))
        tgt = to_tokens(content)
        memory = style_tokens.transpose(0, 1)
        for layer in self.decoder:
            tgt = layer(tgt, memory, query_pos=pos)
        y = from_tokens(self.norm(tgt), gh, gw)
        y = self.up1(F.interpolate(y, scale_factor=2.0, mode="nearest")) + F.instance_norm(quarter)
        y = self.up2(F.interpolate(y, scale_factor=2.0, mode="nearest"))
        y = self.up3(F.interpolate(y, scale_factor=2.0, mode="nearest"))
        out = self.to_rgb(y)[..., :h, :w]
        return out if self.training else out.clamp(0.0, 1.0)

    def stylize(self, frame: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self(frame, self.encode_style(style))
