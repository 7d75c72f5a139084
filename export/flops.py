"""FLOPs of the full StyTr² and of the student, counted by torch on shape-only (meta) tensors.

torch.utils.flop_counter counts 2 FLOPs per multiply-accumulate of convolutions,
matrix products and attention; element-wise ops, norms and softmax are not
counted (a few percent here). Meta tensors make a 400-GMAC count instant.
"""
from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from rtstyle.models.stytr2 import StyTr2
from rtstyle.models.stytr2_layers import to_tokens
from rtstyle.models.stytr2_student import STYLE_SIZE, StudentConfig, StyTr2Student


def _count(fn, *args) -> int:
    with FlopCounterMode(display=False) as counter:
        fn(*args)
    return counter.get_total_flops()


def teacher_flops(height: int, width: int, style_side: int = 512) -> dict[str, int]:
    """{"total": one call of the full StyTr² on a frame and a style_side² painting, "style": its style
    branch (patch embedding + style encoder, cacheable), "frame": the rest, the per-frame cost}."""
    with torch.device("meta"):
        net = StyTr2().eval()
        frame, style = torch.empty(1, 3, height, width), torch.empty(1, 3, style_side, style_side)

        def style_branch() -> None:
            mem = to_tokens(net.embedding(style))
            for layer in net.transformer.encoder_s.layers:
                mem = layer(mem)

        total, style_cost = _count(net, frame, style), _count(style_branch)
    return {"total": total, "style": style_cost, "frame": total - style_cost}


def student_flops(height: int, width: int, cfg: StudentConfig = StudentConfig()) -> dict[str, int]:
    """{"frame": per-frame FLOPs, "style": the once-per-painting style encoding}."""
    with torch.device("meta"):
        net = StyTr2Student(cfg).eval()
        tokens = torch.empty(1, cfg.style_grid**2, cfg.dim)
        return {"frame": _count(net, torch.empty(1, 3, height, width), tokens),
                "style": _count(net.encode_style, torch.empty(1, 3, STYLE_SIZE, STYLE_SIZE))}
