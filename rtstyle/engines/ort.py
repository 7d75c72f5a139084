"""ONNX Runtime on the CPU: rtstyle's default engine."""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .base import Engine, EngineOptions, EngineUnavailable


OPTIMIZATION = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED",
                "layout": "ORT_ENABLE_LAYOUT", "all": "ORT_ENABLE_ALL"}


def session_options(ort, options: EngineOptions):
    """EngineOptions -> ort.SessionOptions (``ort`` is the module: imported by the caller, lazily)."""
    so = ort.SessionOptions()
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, OPTIMIZATION[options.optimization])
    so.intra_op_num_threads = options.threads or (os.cpu_count() or 1)
    # Spinning intra-op threads keep polling for work after each op and between runs; on a small CPU
    # that steals the core the camera's decoder and the other pipeline threads need.
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if options.spinning else "0")
    so.enable_mem_pattern = options.memory_pattern
    so.enable_cpu_mem_arena = options.cpu_arena
    if options.parallel_execution:
        so.execution_mode = ort.ExecutionMode.ORT_PARALLEL
    else:
        # One model call at a time per engine: inter-op parallelism only adds thread contention.
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.inter_op_num_threads = 1
    return so


class OnnxRuntimeEngine(Engine):
    name = "onnxruntime"

    def __init__(self, model_path: str | Path, options: EngineOptions = EngineOptions()):
        super().__init__(model_path, options)
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise EngineUnavailable("onnxruntime is not installed: pip install onnxruntime") from e
        so = session_options(ort, options)
        try:
            self.session = ort.InferenceSession(str(model_path), so, providers=self.providers())
        except Exception as e:  # ORT raises its own exception types for corrupt/invalid models
            raise ValueError(f"cannot load ONNX model {model_path}: {str(e).splitlines()[0]}") from e
        self.inputs = tuple(i.name for i in self.session.get_inputs())
        self.outputs = tuple(o.name for o in self.session.get_outputs())

    def providers(self) -> list:
        """Execution providers in priority order; GPU subclasses put theirs first."""
        return ["CPUExecutionProvider"]

    def run_feeds(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.outputs, self.session.run(list(self.outputs), dict(feeds))))

    def describe(self) -> str:
        return f"onnxruntime-cpu ({self.session.get_session_options().intra_op_num_threads} threads)"
