"""PyTorch eager on the CPU: the reference the ONNX paths are checked against.

The network is rebuilt from the very ONNX file the other engines run, so a
style ships as one file: the exporter keeps PyTorch's parameter names on the
initializers (FP16-stored weights carry a ``__fp16`` suffix). The exporter
merges bit-identical initializers, which only happens in untrained networks
(all-ones norm weights); such a file is refused with a clear message.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .base import Engine, EngineOptions, EngineUnavailable


def state_dict_from_onnx(path: str | Path) -> dict:
    import onnx
    import torch
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path))
    except Exception as e:  # protobuf's DecodeError is no ValueError: callers would see a traceback
        raise ValueError(f"cannot load ONNX model {path}: {str(e).splitlines()[0]}") from e
    state = {}
    for init in model.graph.initializer:
        name = init.name.removesuffix("__fp16")
        if name.startswith(("trunk.", "head.")):
            state[name] = torch.from_numpy(numpy_helper.to_array(init).astype(np.float32))
    if any(node.op_type == "SpaceToDepth" for node in model.graph.node):  # a FastNet exported with for_onnx
        from ..models.fastnet import from_onnx_order

        state = from_onnx_order(state)
    return state


class TorchEngine(Engine):
    name = "torch"

    def __init__(self, model_path: str | Path, options: EngineOptions = EngineOptions()):
        super().__init__(model_path, options)
        try:
            import onnx  # noqa: F401  (the weights are read from the ONNX file)
            import torch

            from ..models.build import network_for
        except ImportError as e:
            raise EngineUnavailable("the torch engine needs PyTorch and onnx: pip install 'rtstyle[train]'") from e
        if options.threads:
            torch.set_num_threads(options.threads)
        state = state_dict_from_onnx(model_path)
        if not state:
            raise ValueError(f"{model_path}: no Johnson-network weights in this ONNX file")
        self._torch = torch
        if {k.split(".")[0] for k in state} != {"trunk", "head"}:  # one half of a split network
            from ..models.split import IO, MOMENTUM, STATS, STATS_PREV, half_from_state

            self.half = half_from_state(state)
            self.inputs, self.outputs = (IO[self.half.part][0], STATS_PREV, MOMENTUM), (IO[self.half.part][1], STATS)
            return
        self.half = None
        self.net = network_for(state).eval()  # a Johnson network or a FastNet student
        missing = set(self.net.state_dict()) - set(state)
        if missing:
            raise ValueError(f"{model_path}: {len(missing)} weights missing (e.g. {min(missing)}); "
                             "not a complete rtstyle Johnson network")
        self.net.load_state_dict(state)
        self._torch = torch

    # The rebuilt Johnson network has the exporter's I/O names (export/onnx_export.py).
    inputs, outputs = ("image",), ("stylized",)

    def run_feeds(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.half is not None:
            with self._torch.inference_mode():
                outs = self.half(*(self._torch.from_numpy(np.asarray(feeds[n])) for n in self.inputs))
            return {n: o.numpy() for n, o in zip(self.outputs, outs)}
        with self._torch.inference_mode():
            return {"stylized": self.net(self._torch.from_numpy(feeds["image"])).numpy()}

    def describe(self) -> str:
        return f"torch-eager-cpu ({self._torch.get_num_threads()} threads)"
