"""Which network class a state dict belongs to: the weights read back from a shipped ONNX file
(rtstyle.engines.torch_eager.state_dict_from_onnx) or a training checkpoint say it themselves."""
from __future__ import annotations

from torch import nn

from .fastnet import FastNet, fastnet_config_of
from .johnson import TransformerNet, config_of


def network_for(state_dict: dict) -> nn.Module:
    """An untrained TransformerNet or FastNet shaped for ``state_dict`` (load the weights next)."""
    fast = fastnet_config_of(state_dict)
    return FastNet(**fast) if fast is not None else TransformerNet(**config_of(state_dict))
