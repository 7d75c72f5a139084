"""The two halves of a Johnson network as separate graphs, with carried norm statistics.

Video reuses work across frames (rtstyle.temporal): the ``trunk`` (input -> end
of the residual blocks, 1/4 resolution, most of the FLOPs) runs on key frames
only, the ``head`` (upsampling decoder) on every frame. Each half is exported
with two extra inputs and one extra output so that instance-norm statistics
can be carried from frame to frame (a known flicker source):

    inputs   x (image or features), stats_prev [1, 2, >=C], momentum [1]
    outputs  y (features or stylized), stats [1, 2, C]

Every instance norm of the half uses ``mean = k * prev + (1 - k) * current``
(and the same for the variance), ``k = momentum``, and reports the blended
values in ``stats`` (row 0 means, row 1 variances, norms in network order).
``momentum = 0`` is exactly the plain network. Parameter names stay
``trunk.*``/``head.*`` so the weights read back like any rtstyle model.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from ..temporal import MOMENTUM, STATS, STATS_PREV  # noqa: F401  (the graphs' names, shared with the runtime)
from .johnson import TransformerNet

IO = {"trunk": ("image", "features"), "head": ("features", "stylized")}


class CarriedNorm(nn.Module):
    """Affine instance norm whose statistics are blended with the previous frame's."""

    def __init__(self, norm: nn.InstanceNorm2d, offset: int, total: int):
        super().__init__()
        self.weight, self.bias, self.eps = norm.weight, norm.bias, norm.eps
        self.offset, self.channels, self.total = offset, norm.num_features, total
        self.carry: dict = {}  # set by StatsHalf.forward for the duration of one call

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        prev, k = self.carry["prev"], self.carry["momentum"]
        sl = slice(self.offset, self.offset + self.channels)
        mean = x.mean((2, 3))
        var = (x - mean[:, :, None, None]).pow(2).mean((2, 3))
        mean = k * prev[:, 0, sl] + (1 - k) * mean
        var = k * prev[:, 1, sl] + (1 - k) * var
        self.carry["out"].append(torch.stack([mean, var], 1))
        y = (x - mean[:, :, None, None]) * torch.rsqrt(var[:, :, None, None] + self.eps)
        return y * self.weight[None, :, None, None] + self.bias[None, :, None, None]


class StatsHalf(nn.Module):
    """``trunk`` or ``head`` of a TransformerNet with its instance norms made CarriedNorms."""

    def __init__(self, net: TransformerNet, part: str):
        super().__init__()
        self.part = part
        module = copy.deepcopy(getattr(net, part))
        norms = [(name, m) for name, m in module.named_modules() if isinstance(m, nn.InstanceNorm2d)]
        self.total = sum(m.num_features for _, m in norms)
        self.norms: list[CarriedNorm] = []
        offset = 0
        for name, m in norms:
            parent_name, _, child = name.rpartition(".")
            parent = module.get_submodule(parent_name) if parent_name else module
            carried = CarriedNorm(m, offset, self.total)
            setattr(parent, child, carried)
            self.norms.append(carried)
            offset += m.num_features
        setattr(self, part, module)  # keeps the "trunk.*"/"head.*" parameter names

    def forward(self, x: torch.Tensor, stats_prev: torch.Tensor, momentum: torch.Tensor):
        out: list[torch.Tensor] = []
        for norm in self.norms:
            norm.carry = {"prev": stats_prev, "momentum": momentum, "out": out}
        y = getattr(self, self.part)(x)
        if self.part == "head":
            y = y.clamp(0.0, 1.0)  # the [0, 1] contract; the caller crops to the input size
        return y, torch.cat(out, 2)


def half_from_state(state: dict[str, torch.Tensor]) -> StatsHalf:
    """Rebuild the StatsHalf whose weights ``state`` holds (only ``trunk.*`` or only ``head.*``)."""
    parts = {k.split(".")[0] for k in state}
    if len(parts) != 1:
        raise ValueError("expected the weights of one half (trunk or head) of a split network")
    (part,) = parts
    if part == "trunk":
        width = state["trunk.0.1.weight"].shape[0]
        blocks = len({k.split(".")[1] for k in state if ".conv1." in k})
    else:
        width, blocks = state["head.2.1.weight"].shape[1], 0  # the head has no residual blocks
    half = StatsHalf(TransformerNet(int(width), blocks), part).eval()
    half.load_state_dict(state)
    return half
