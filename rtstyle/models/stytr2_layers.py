"""Transformer layers and CAPE shared by StyTr² and its distilled student.

The layers follow StyTr²'s official models/transformer.py (itself DETR's):
sequence-first tensors (tokens, batch, channels), post-norm, ReLU FFN, and the
official attribute names (``self_attn``, ``multihead_attn``, ``linear1``,
``norm1``...) so official checkpoints load by name.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


def _with_pos(x: torch.Tensor, pos: torch.Tensor | None) -> torch.Tensor:
    return x if pos is None else x + pos


class EncoderLayer(nn.Module):
    """Self-attention with the position added to queries and keys (not values), then the FFN."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int, dropout: float = 0.1):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, src: torch.Tensor, pos: torch.Tensor | None = None) -> torch.Tensor:
        q = k = _with_pos(src, pos)
        src = self.norm1(src + self.dropout1(self.self_attn(q, k, src, need_weights=False)[0]))
        return self.norm2(src + self.dropout2(self.linear2(self.dropout(F.relu(self.linear1(src))))))


class DecoderLayer(nn.Module):
    """Two attention blocks, both content queries -> style memory (as in the official code, where
    the block named ``self_attn`` also takes the memory as keys and values), then the FFN."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int, dropout: float = 0.1):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.multihead_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor, query_pos: torch.Tensor | None = None,
                pos: torch.Tensor | None = None) -> torch.Tensor:
        key = _with_pos(memory, pos)
        attn = self.self_attn(_with_pos(tgt, query_pos), key, memory, need_weights=False)[0]
        tgt = self.norm1(tgt + self.dropout1(attn))
        attn = self.multihead_attn(_with_pos(tgt, query_pos), key, memory, need_weights=False)[0]
        tgt = self.norm2(tgt + self.dropout2(attn))
        return self.norm3(tgt + self.dropout3(self.linear2(self.dropout(F.relu(self.linear1(tgt))))))


def cape(pooled: torch.Tensor, new_ps: nn.Module, size: tuple[int, int]) -> torch.Tensor:
    """Content-aware positional encoding from the content embedding pooled to a small fixed grid:
    1x1 conv, then bilinear resize to ``size``, the content's own token grid (the official code
    resizes to the style's grid, which breaks whenever content and style differ in size or aspect)."""
    return F.interpolate(new_ps(pooled), size=size, mode="bilinear", align_corners=False)


def to_tokens(x: torch.Tensor) -> torch.Tensor:
    """NxCxHxW -> (HW)xNxC."""
    return x.flatten(2).permute(2, 0, 1)


def from_tokens(t: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(HW)xNxC -> NxCxHxW, with the true height and width (the official code assumed a square)."""
    return t.permute(1, 2, 0).reshape(t.shape[1], t.shape[2], h, w)
