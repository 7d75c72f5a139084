"""StyTr² (Deng et al., "StyTr²: Image Style Transfer with Transformers", CVPR 2022), full size.

Faithful to the paper and the official code (github.com/diyiiyiii/StyTR-2,
models/StyTR.py and models/transformer.py): an 8x8 stride-8 patch embedding
(3 -> 512) shared by content and style, raw RGB in [0, 1]; content and style
transformer encoders (3 post-norm layers each, d_model 512, 8 heads, FFN 2048,
dropout 0.1); CAPE on the content encoder's queries/keys and the decoder's
queries, no positional encoding on the style branch; a 3-layer decoder whose
two attention blocks both attend to the style memory, then a LayerNorm; and a
9-conv upsampling CNN decoder back to RGB.

Fixed relative to the official code: any aspect ratio and content/style of
different sizes (CAPE is resized to the content grid and the output reshaped
with the true height and width instead of a square), no hard-coded devices.

Module names match the official checkpoints, so ``load_official`` takes the
three files the official training script writes (``embedding_iter_*.pth``,
``transformer_iter_*.pth``, ``decoder_iter_*.pth``) as they are. This model is
the teacher the shipped student (stytr2_student.py) is modelled on; no
official weights can be downloaded where rtstyle is built, so the student was
trained with StyTr²'s losses instead (export/distill.py).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn
import torch.nn.functional as F

from .stytr2_layers import DecoderLayer, EncoderLayer, cape, from_tokens, to_tokens

PATCH = 8
D_MODEL = 512


class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int = PATCH, in_chans: int = 3, embed_dim: int = D_MODEL):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class Stack(nn.Module):
    """``layers`` (+ an optional final ``norm``): the official TransformerEncoder/Decoder containers."""

    def __init__(self, layers: list[nn.Module], norm: nn.Module | None = None):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.norm = norm


class Transformer(nn.Module):
    def __init__(self, d_model: int = D_MODEL, nhead: int = 8, num_encoder_layers: int = 3,
                 num_decoder_layers: int = 3, dim_feedforward: int = 2048, dropout: float = 0.1):
        super().__init__()
        self.encoder_c = Stack([EncoderLayer(d_model, nhead, dim_feedforward, dropout) for _ in range(num_encoder_layers)])
        self.encoder_s = Stack([EncoderLayer(d_model, nhead, dim_feedforward, dropout) for _ in range(num_encoder_layers)])
        self.decoder = Stack([DecoderLayer(d_model, nhead, dim_feedforward, dropout) for _ in range(num_decoder_layers)],
                             nn.LayerNorm(d_model))
        self.new_ps = nn.Conv2d(d_model, d_model, 1)
        self.averagepooling = nn.AdaptiveAvgPool2d(18)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
        """Style and content embeddings (NxCxHsxWs, NxCxHcxWc) -> stylized content features NxCxHcxWc."""
        h, w = content.shape[-2:]
        pos_c = to_tokens(cape(self.averagepooling(content), self.new_ps, (h, w)))
        mem = to_tokens(style)
        for layer in self.encoder_s.layers:
            mem = layer(mem)
        tgt = to_tokens(content)
        for layer in self.encoder_c.layers:
            tgt = layer(tgt, pos_c)
        for layer in self.decoder.layers:
            tgt = layer(tgt, mem, query_pos=pos_c)
        return from_tokens(self.decoder.norm(tgt), h, w)


def _pad_conv(cin: int, cout: int) -> list[nn.Module]:
    return [nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(cin, cout, (3, 3))]


def cnn_decoder() -> nn.Sequential:
    """The official ``decoder`` Sequential, layer for layer (checkpoint keys are its indices)."""
    def up() -> nn.Module:
        return nn.Upsample(scale_factor=2, mode="nearest")

    layers: list[nn.Module] = [*_pad_conv(512, 256), nn.ReLU(), up()]
    for cin, cout in ((256, 256), (256, 256), (256, 256), (256, 128)):
        layers += [*_pad_conv(cin, cout), nn.ReLU()]
    layers.append(up())
    for cin, cout in ((128, 128), (128, 64)):
        layers += [*_pad_conv(cin, cout), nn.ReLU()]
    layers.append(up())
    layers += [*_pad_conv(64, 64), nn.ReLU(), *_pad_conv(64, 3)]
    return nn.Sequential(*layers)


class StyTr2(nn.Module):
    def __init__(self, dropout: float = 0.1):
        super().__init__()
        self.embedding = PatchEmbed()
        self.transformer = Transformer(dropout=dropout)
        self.decode = cnn_decoder()

    def forward(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """Content Nx3xHxW and style Nx3xH'xW' RGB in [0, 1], any sizes -> Nx3xHxW.

        Sides that are not multiples of 8 are replicate-padded for the patch grid and cropped back."""
        h, w = content.shape[-2:]
        content = F.pad(content, (0, (-w) % PATCH, 0, (-h) % PATCH), mode="replicate")
        sh, sw = style.shape[-2:]
        style = F.pad(style, (0, (-sw) % PATCH, 0, (-sh) % PATCH), mode="replicate")
        hs = self.transformer(self.embedding(style), self.embedding(content))
        return self.decode(hs)[..., :h, :w]


# Official file prefix -> our submodule.
OFFICIAL_PARTS = {"embedding": "embedding", "transformer": "transformer", "decoder": "decode"}


def find_official(folder: str | os.PathLike) -> list[Path]:
    """The newest ``embedding_iter_*.pth``, ``transformer_iter_*.pth`` and ``decoder_iter_*.pth`` in ``folder``."""
    found = []
    for part in OFFICIAL_PARTS:
        files = sorted(Path(folder).glob(f"{part}_iter_*.pth"),
                       key=lambda p: int(p.stem.rsplit("_", 1)[1]) if p.stem.rsplit("_", 1)[1].isdigit() else -1)
        if not files:
            raise FileNotFoundError(f"no {part}_iter_*.pth in {folder}")
        found.append(files[-1])
    return found


def load_official(model: StyTr2, embedding: str | os.PathLike, transformer: str | os.PathLike,
                  decoder: str | os.PathLike) -> StyTr2:
    """Load the official ``embedding_iter_*.pth``, ``transformer_iter_*.pth`` and ``decoder_iter_*.pth``.

    They are plain state dicts of PatchEmbed, Transformer and the decoder Sequential (a ``module.``
    prefix left by DataParallel is stripped). Strict: a missing or unexpected key is an error."""
    for part, path in (("embedding", embedding), ("transformer", transformer), ("decoder", decoder)):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"StyTr² {part} checkpoint not found: {path}")
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = {k.removeprefix("module."): v for k, v in state.items()}
        try:
            missing, unexpected = getattr(model, OFFICIAL_PARTS[part]).load_state_dict(state, strict=False)
        except RuntimeError as e:  # shape mismatches
            detail = next((line.strip() for line in str(e).splitlines()[1:] if line.strip()), str(e))
            raise ValueError(f"{path.name} is not a StyTr² {part} checkpoint: {detail}") from e
        if missing or unexpected:
            raise ValueError(f"{path.name} is not a StyTr² {part} checkpoint: missing {missing[:3]}, "
                             f"unexpected {unexpected[:3]}")
    return model
