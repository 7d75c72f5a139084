"""Backend selection is one table: name -> (module, class, what it needs).

``auto`` walks AUTO_ORDER and takes the first backend whose requirement is
importable. Later backends (cuda, tensorrt) are new rows, not new branches.
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from .base import Engine, EngineOptions, EngineUnavailable


@dataclass(frozen=True)
class Backend:
    module: str  # relative to this package
    cls: str
    requires: str  # top-level package that must be importable
    hint: str  # how to get it


BACKENDS: dict[str, Backend] = {
    "onnxruntime": Backend(".ort", "OnnxRuntimeEngine", "onnxruntime", "pip install onnxruntime"),
    "torch": Backend(".torch_eager", "TorchEngine", "torch", "pip install 'rtstyle[train]'"),
}
AUTO_ORDER = ("onnxruntime", "torch")
ENGINE_CHOICES = ("auto", *BACKENDS)


def available(name: str) -> bool:
    return importlib.util.find_spec(BACKENDS[name].requires) is not None


def resolve(name: str) -> str:
    """'auto' -> the first available backend; a named one is checked, not silently swapped."""
    if name == "auto":
        for candidate in AUTO_ORDER:
            if available(candidate):
                return candidate
        raise EngineUnavailable("no inference backend installed: pip install onnxruntime")
    if name not in BACKENDS:
        raise EngineUnavailable(f"unknown engine {name!r}; choose from {', '.join(ENGINE_CHOICES)}")
    if not available(name):
        raise EngineUnavailable(f"engine {name!r} needs {BACKENDS[name].requires}: {BACKENDS[name].hint}")
    return name


def create_engine(name: str, model_path: str | Path, options: EngineOptions = EngineOptions()) -> Engine:
    backend = BACKENDS[resolve(name)]
    cls = getattr(importlib.import_module(backend.module, __name__), backend.cls)
    return cls(model_path, options)


__all__ = ["Engine", "EngineOptions", "EngineUnavailable", "BACKENDS", "ENGINE_CHOICES", "create_engine", "resolve"]
