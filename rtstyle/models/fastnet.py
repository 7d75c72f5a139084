"""A space-to-depth student: the Johnson network's job at a fraction of its memory traffic.

The Johnson layout spends most of its CPU time in full-resolution layers (9x9
convs, upsample convs, instance norm, reflect pads) whose few channels leave
ONNX Runtime memory-bound. Here nothing runs at full resolution: the frame is
folded 4x4 into channels (``pixel_unshuffle``, lossless), the body runs at 1/4
and 1/8 resolution with wide convs, and the output is unfolded again by a
sub-pixel convolution (``pixel_shuffle``, as in ESPCN). The stroke scale is the
teacher's because the student sees and paints the full-resolution frame.

``smooth`` adds one 3x3 RGB conv at full resolution after the unfolding so
neighbouring 4x4 blocks can blend (against a faint 4-pixel grid); it starts as
the identity, so a trained student can be fine-tuned with it (+2.5 ms CPU at
640x480 on one thread, about 7%).

In ONNX the fold is one SpaceToDepth node (``for_onnx``): PyTorch's
pixel_unshuffle exports as reshape-transpose-reshape, which ONNX Runtime runs
~10x slower (6.9 of 42 ms at 640x480 for a width-32 student on one AVX2 core).
SpaceToDepth orders the folded channels differently (DCR), so the exported
first conv has its input channels permuted to match; ``from_onnx_order`` undoes
that when the weights are read back.

Same I/O contract as TransformerNet: float32 NCHW RGB in [0, 1], any H x W
(padded to a multiple of 8, cropped back), clamped at inference only. Parameter
names start with ``trunk.``/``head.`` like TransformerNet's so the ONNX weight
reader (rtstyle.engines.torch_eager) finds them; ``fastnet_config_of`` tells the
two classes apart by the first conv's input channels.
"""
from __future__ import annotations

import torch
import copy

from torch import nn
import torch.nn.functional as F

from .johnson import ConvLayer, ResidualBlock, UpsampleConvLayer

FOLD = 4  # space-to-depth factor of the input
MULTIPLE = 2 * FOLD  # the stride-2 conv halves the folded grid once more
FIRST_CONV = "trunk.0.1.weight"
# Folded channel k in SpaceToDepth's order (offset-major) is channel DCR_TO_CRD[k] in pixel_unshuffle's.
DCR_TO_CRD = [(k % 3) * FOLD * FOLD + k // 3 for k in range(3 * FOLD * FOLD)]
CRD_TO_DCR = sorted(range(len(DCR_TO_CRD)), key=DCR_TO_CRD.__getitem__)


class _SpaceToDepth(torch.autograd.Function):
    """The fold in ONNX SpaceToDepth's channel order; exported as that single op."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        x = x.reshape(n, c, h // FOLD, FOLD, w // FOLD, FOLD).permute(0, 3, 5, 1, 2, 4)
        return x.reshape(n, c * FOLD * FOLD, h // FOLD, w // FOLD)

    @staticmethod
    def symbolic(g, x):
        return g.op("SpaceToDepth", x, blocksize_i=FOLD)


class FastNet(nn.Module):
    def __init__(self, width: int = 64, blocks: int = 3, smooth: bool = False):
        super().__init__()
        self.width, self.blocks, self.smooth = width, blocks, smooth
        self.dcr = False  # fold in SpaceToDepth's channel order (set by for_onnx only)
        folded = 3 * FOLD * FOLD
        self.trunk = nn.Sequential(
            ConvLayer(folded, width, 3),  # 1/4
            ConvLayer(width, width, 3, stride=2),  # 1/8
            *[ResidualBlock(width) for _ in range(blocks)],
        )
        head: list[nn.Module] = [UpsampleConvLayer(width, width, 3), ConvLayer(width, folded, 3, last=True),
                                 nn.PixelShuffle(FOLD)]
        if smooth:
            head.append(ConvLayer(3, 3, 3, last=True))
            conv = head[-1][1]
            with torch.no_grad():
                conv.weight.zero_()
                conv.bias.zero_()
                conv.weight[range(3), range(3), 1, 1] = 1.0
        self.head = nn.Sequential(*head)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2:]
        # Pad by a constant amount then slice to the next multiple of 8: shape arithmetic the ONNX
        # tracer records as dynamic, where a size-dependent F.pad would freeze the sample's size.
        x = F.pad(image, (0, MULTIPLE - 1, 0, MULTIPLE - 1), mode="replicate")
        x = x[..., : (h + MULTIPLE - 1) // MULTIPLE * MULTIPLE, : (w + MULTIPLE - 1) // MULTIPLE * MULTIPLE]
        folded = _SpaceToDepth.apply(x) if self.dcr else F.pixel_unshuffle(x, FOLD)
        out = self.head(self.trunk(folded))[..., :h, :w]
        return out if self.training else out.clamp(0.0, 1.0)

    def for_onnx(self) -> FastNet:
        """The same function for export: SpaceToDepth fold, first conv's input channels permuted to match."""
        net = copy.deepcopy(self)
        net.dcr = True
        with torch.no_grad():
            conv = net.trunk[0][1]
            conv.weight.copy_(conv.weight[:, DCR_TO_CRD])
        return net


def from_onnx_order(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Weights read from a graph that folds with SpaceToDepth, back in pixel_unshuffle's channel order."""
    return {**state_dict, FIRST_CONV: state_dict[FIRST_CONV][:, CRD_TO_DCR]}


def fastnet_config_of(state_dict: dict[str, torch.Tensor]) -> dict[str, int] | None:
    """(width, blocks, smooth) of a FastNet state dict; None when it is a TransformerNet's."""
    first = state_dict[FIRST_CONV]
    if first.shape[1] != 3 * FOLD * FOLD:
        return None
    blocks = len({k.split(".")[1] for k in state_dict if k.startswith("trunk.") and ".conv1." in k})
    return {"width": int(first.shape[0]), "blocks": blocks, "smooth": "head.3.1.weight" in state_dict}
