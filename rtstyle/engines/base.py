"""The one interface every inference backend implements.

An engine is built from a model file (ONNX, the exchange format rtstyle ships)
and runs batches: float32 NCHW RGB in [0, 1] in, the same layout, size and
range out. Engines are stateless with respect to frames; per-stream state
(temporal caches) lives in the pipeline's stylizer, not here.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class EngineUnavailable(RuntimeError):
    """The backend cannot run here (package missing, no device): a user error, not a bug."""


@dataclass(frozen=True)
class EngineOptions:
    threads: int = 0  # intra-op threads; 0 = all cores


class Engine(ABC):
    name: str = ""

    def __init__(self, model_path: str | Path, options: EngineOptions = EngineOptions()):
        self.model_path = Path(model_path)
        self.options = options

    @abstractmethod
    def run(self, batch: np.ndarray) -> np.ndarray:
        """float32 Nx3xHxW in [0, 1] -> float32 Nx3xHxW in [0, 1]."""

    def describe(self) -> str:
        return self.name
