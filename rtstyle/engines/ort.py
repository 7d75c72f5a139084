"""ONNX Runtime on the CPU: rtstyle's default engine."""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .base import Engine, EngineOptions, EngineUnavailable


class OnnxRuntimeEngine(Engine):
    name = "onnxruntime"

    def __init__(self, model_path: str | Path, options: EngineOptions = EngineOptions()):
        super().__init__(model_path, options)
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise EngineUnavailable("onnxruntime is not installed: pip install onnxruntime") from e
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = options.threads or (os.cpu_count() or 1)
        # One model call at a time per engine: inter-op parallelism only adds thread contention.
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.inter_op_num_threads = 1
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
