"""torch-tensorrt: the Johnson net compiled by ``torch_tensorrt.compile`` (dynamo IR, FP16).

Runs a program saved by ``rtstyle export --format torch-tensorrt`` (``.ep``),
or compiles one from an ``.onnx`` style's weights at start-up (minutes, once
per process). Dynamic height and width within the default profile.

Not executed on a GPU in this project (see docs/gpu.md).
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .base import Engine, EngineOptions
from .tensorrt_build import Profile, profile_from_sizes

INPUT, OUTPUT = "image", "stylized"


def compile_net(net, profile: Profile):
    """A torch.nn.Module -> torch-tensorrt module (FP16, dynamic H/W in ``profile``) on the current GPU."""
    import torch
    import torch_tensorrt

    spec = torch_tensorrt.Input(min_shape=profile.min, opt_shape=profile.opt, max_shape=profile.max,
                                dtype=torch.float32, name=INPUT)
    return torch_tensorrt.compile(net.eval().cuda(), ir="dynamo", inputs=[spec],
                                  enabled_precisions={torch.float16})


def save_compiled(module, path: Path, profile: Profile) -> Path:
    import torch
    import torch_tensorrt

    example = torch.rand(profile.opt, device="cuda")
    torch_tensorrt.save(module, str(path), output_format="exported_program", inputs=[example])
    return path


class TorchTensorRTEngine(Engine):
    name = "torch-tensorrt"
    inputs, outputs = (INPUT,), (OUTPUT,)

    def __init__(self, model_path: str | Path, options: EngineOptions = EngineOptions()):
        super().__init__(model_path, options)
        import torch
        import torch_tensorrt

        self._torch = torch
        path = Path(model_path)
        if path.suffix == ".onnx":
            from ..models.build import network_for
            from .torch_eager import state_dict_from_onnx

            state = state_dict_from_onnx(path)
            net = network_for(state)
            net.load_state_dict(state)
            self.module = compile_net(net, profile_from_sizes())
        else:
            self.module = torch_tensorrt.load(str(path)).module()

    def run_feeds(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(feeds[INPUT])).pin_memory().to("cuda", non_blocking=True)
            return {OUTPUT: self.module(x).float().cpu().numpy()}

    def describe(self) -> str:
        return f"torch-tensorrt-fp16 ({self._torch.cuda.get_device_name()})"
