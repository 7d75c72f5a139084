"""Native TensorRT: an FP16 engine built from the ONNX model, run on a CUDA stream.

Given an ``.onnx`` model the engine is built (or taken from the cache, see
tensorrt_build.py) for the default size profile; given a ``.engine`` file made
by ``rtstyle export --format tensorrt`` it is loaded as is. Device buffers are
torch CUDA tensors; host staging buffers are pinned, so the copies in and out
are asynchronous on the engine's own stream, and the only synchronisation is
the one before results are handed back.

Not executed on a GPU in this project (see docs/gpu.md).
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .base import Engine, EngineOptions
from .tensorrt_build import Profile, build_engine, profile_from_sizes


class TensorRTEngine(Engine):
    name = "tensorrt"

    def __init__(self, model_path: str | Path, options: EngineOptions = EngineOptions()):
        super().__init__(model_path, options)
        import tensorrt as trt
        import torch

        self._trt, self._torch = trt, torch
        path = Path(model_path)
        if path.suffix == ".onnx":
            path = build_engine(path, profile_from_sizes())
        self.engine_path = path
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise ValueError(f"cannot load TensorRT engine {path}: built for another GPU or TensorRT version? "
                             "Re-run rtstyle export --format tensorrt")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        is_input = {n: self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self.inputs = tuple(n for n in names if is_input[n])
        self.outputs = tuple(n for n in names if not is_input[n])
        self.dtypes = {n: np.dtype(trt.nptype(self.engine.get_tensor_dtype(n))) for n in names}
        self.profiles = {n: Profile(*(tuple(s) for s in self.engine.get_tensor_profile_shape(n, 0)))
                         for n in self.inputs}
        self.stream = torch.cuda.Stream()
        self._pinned: dict[str, object] = {}  # name -> pinned host tensor, regrown when the shape changes

    def _host(self, key: str, shape: tuple[int, ...], dtype: np.dtype):
        buf = self._pinned.get(key)
        if buf is None or tuple(buf.shape) != shape:
            torch_dtype = self._torch.from_numpy(np.empty(0, dtype)).dtype
            buf = self._pinned[key] = self._torch.empty(shape, dtype=torch_dtype, pin_memory=True)
        return buf

    def run_feeds(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self._torch
        device_inputs, device_outputs, host_outputs = [], {}, {}
        with torch.cuda.stream(self.stream):
            for name in self.inputs:
                value = np.ascontiguousarray(feeds[name], dtype=self.dtypes[name])
                if not self.profiles[name].covers(value.shape):
                    p = self.profiles[name]
                    raise ValueError(f"input {name} of shape {value.shape} is outside this TensorRT engine's "
                                     f"profile ({p.min} .. {p.max}); rebuild it with rtstyle export "
                                     "--format tensorrt --max-size WxH")
                host = self._host("in:" + name, value.shape, value.dtype)
                host.numpy()[...] = value
                dev = host.to("cuda", non_blocking=True)
                device_inputs.append(dev)  # kept alive until the stream has consumed it
                self.context.set_input_shape(name, value.shape)
                self.context.set_tensor_address(name, dev.data_ptr())
            for name in self.outputs:
                shape = tuple(self.context.get_tensor_shape(name))
                host = self._host("out:" + name, shape, self.dtypes[name])
                dev = torch.empty(shape, dtype=host.dtype, device="cuda")
                self.context.set_tensor_address(name, dev.data_ptr())
                device_outputs[name], host_outputs[name] = dev, host
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise RuntimeError("TensorRT execution failed (see its log above)")
            for name, dev in device_outputs.items():
                host_outputs[name].copy_(dev, non_blocking=True)
        self.stream.synchronize()
        # Copies: the pinned buffers are reused by the next call.
        return {name: host.numpy().copy() for name, host in host_outputs.items()}

    def describe(self) -> str:
        return f"tensorrt-fp16 ({self._torch.cuda.get_device_name()}, {self.engine_path.name})"
