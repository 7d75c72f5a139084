"""ONNX Runtime on an NVIDIA GPU: the CUDA and TensorRT execution providers.

Both need ``onnxruntime-gpu`` (it replaces ``onnxruntime``). Inputs are bound
from host memory and outputs left on the device until copied back once, with
IO binding, so ORT does not allocate and copy per output per call. For FP16
compute give the engine an ``onnx-fp16`` export (``--model
engines/NAME.fp16.onnx``); its I/O stays float32.

The TensorRT provider builds its engines inside ONNX Runtime, FP16, with its
engine and timing caches under ``engines/ort-tensorrt/``.

Not executed on a GPU in this project (see docs/gpu.md).
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .base import EngineOptions, EngineUnavailable
from .cache import engine_dir
from .ort import OnnxRuntimeEngine
from .tensorrt_build import profile_from_sizes


class OrtCudaEngine(OnnxRuntimeEngine):
    name = "cuda"
    provider = "CUDAExecutionProvider"

    def __init__(self, model_path: str | Path, options: EngineOptions = EngineOptions()):
        super().__init__(model_path, options)
        if self.provider not in self.session.get_providers():
            # ORT falls back to the CPU silently when a provider fails to initialise: refuse instead.
            raise EngineUnavailable(f"{self.provider} did not initialise (CUDA/cuDNN libraries missing?); "
                                    "use --engine onnxruntime for the CPU")
        self.binding = self.session.io_binding()

    def providers(self) -> list:
        return [(self.provider, {"device_id": 0}), "CPUExecutionProvider"]

    def run_feeds(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.binding.clear_binding_inputs()
        self.binding.clear_binding_outputs()
        for name, value in feeds.items():
            self.binding.bind_cpu_input(name, np.ascontiguousarray(value))
        for name in self.outputs:
            self.binding.bind_output(name, "cuda")
        self.session.run_with_iobinding(self.binding)
        return dict(zip(self.outputs, self.binding.copy_outputs_to_cpu()))

    def describe(self) -> str:
        return f"onnxruntime-{self.name} ({self.provider})"


def tensorrt_ep_options(image_input: str | None) -> dict[str, object]:
    """The TensorRT provider's options: FP16, persistent engine and timing caches in engines/,
    and, for graphs with rtstyle's ``image`` input, the default size profile."""
    cache = engine_dir() / "ort-tensorrt"
    opts: dict[str, object] = {
        "trt_fp16_enable": True,
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": str(cache),
        "trt_timing_cache_enable": True,
        "trt_timing_cache_path": str(cache),
    }
    if image_input:
        p = profile_from_sizes()
        for key, shape in (("min", p.min), ("opt", p.opt), ("max", p.max)):
            opts[f"trt_profile_{key}_shapes"] = f"{image_input}:{'x'.join(map(str, shape))}"
    return opts


class OrtTensorRTEngine(OrtCudaEngine):
    name = "ort-tensorrt"
    provider = "TensorrtExecutionProvider"

    def providers(self) -> list:
        import onnx

        # The profile needs the input's name before the session exists: read it from the graph.
        names = [i.name for i in onnx.load(str(self.model_path), load_external_data=False).graph.input]
        (engine_dir() / "ort-tensorrt").mkdir(parents=True, exist_ok=True)
        return [(self.provider, tensorrt_ep_options("image" if "image" in names else None)),
                ("CUDAExecutionProvider", {"device_id": 0}), "CPUExecutionProvider"]
