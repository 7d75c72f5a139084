"""The one interface every inference backend implements.

An engine is built from one model graph (ONNX, the exchange format rtstyle
ships) and runs it. A style network has one input and one output, float32 NCHW
RGB in [0, 1], the same layout, size and range out: ``run(batch)``. Graphs with
several named inputs or outputs (a network split in trunk and head, a style
encoder and its frame path) are run with ``run_feeds``. Engines are stateless
with respect to frames; per-stream state (temporal caches, an encoded style)
lives in the stylizer, not here.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class EngineUnavailable(RuntimeError):
    """The backend cannot run here (package missing, no device): a user error, not a bug."""


@dataclass(frozen=True)
class EngineOptions:
    threads: int = 0  # intra-op threads; 0 = all cores
    # ONNX Runtime CPU session settings (other backends ignore them); what each is worth on the live
    # pipeline is measured in benchmarks/results/ort_options.md. Set from the CLI with --ort NAME=VALUE.
    spinning: bool = False  # intra-op threads busy-wait for work: the core they burn is one the camera needs
    optimization: str = "all"  # graph optimisation level: disable | basic | extended | layout | all
    memory_pattern: bool = True  # plan buffers from the first run's shapes (re-planned when the size changes)
    cpu_arena: bool = True  # keep freed memory in ONNX Runtime's arena instead of returning it to malloc
    parallel_execution: bool = False  # run independent graph branches at once (inter-op); style nets are a chain


class Engine(ABC):
    name: str = ""
    inputs: tuple[str, ...] = ()  # graph input names, in graph order; set by each backend
    outputs: tuple[str, ...] = ()  # graph output names, in graph order

    def __init__(self, model_path: str | Path, options: EngineOptions = EngineOptions()):
        self.model_path = Path(model_path)
        self.options = options

    @abstractmethod
    def run_feeds(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """{input name: array} -> {output name: array}, every output of the graph."""

    def run(self, batch: np.ndarray) -> np.ndarray:
        """One-input, one-output graphs: float32 Nx3xHxW in [0, 1] -> the first output."""
        return self.run_feeds({self.inputs[0]: batch})[self.outputs[0]]

    def describe(self) -> str:
        return self.name
