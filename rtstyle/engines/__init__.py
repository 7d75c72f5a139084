"""Backend selection is one table: name -> (module, class, what it needs).

``auto`` walks AUTO_ORDER and takes the first backend that can run here: its
package is importable and, for GPU backends, its probe finds a device. Each
backend is a row, not a branch.
"""
from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from . import devices
from .base import Engine, EngineOptions, EngineUnavailable

GPU_HINT = "pip install 'rtstyle[gpu]' on a machine with an NVIDIA GPU (see docs/gpu.md)"


@dataclass(frozen=True)
class Backend:
    module: str  # relative to this package
    cls: str
    requires: str  # top-level package that must be importable
    hint: str  # how to get it
    # Beyond the package being installed: None if it can run here, else a one-line reason.
    probe: Callable[[], str | None] | None = None


BACKENDS: dict[str, Backend] = {
    "onnxruntime": Backend(".ort", "OnnxRuntimeEngine", "onnxruntime", "pip install onnxruntime"),
    "torch": Backend(".torch_eager", "TorchEngine", "torch", "pip install 'rtstyle[train]'"),
    "cuda": Backend(".ort_gpu", "OrtCudaEngine", "onnxruntime", GPU_HINT,
                    partial(devices.needs_ort_provider, "CUDAExecutionProvider")),
    "ort-tensorrt": Backend(".ort_gpu", "OrtTensorRTEngine", "onnxruntime", GPU_HINT,
                            partial(devices.needs_ort_provider, "TensorrtExecutionProvider")),
    "tensorrt": Backend(".tensorrt", "TensorRTEngine", "tensorrt", GPU_HINT,
                        lambda: devices.first_reason(devices.needs_cuda_device,
                                                     partial(devices.needs_modules, "tensorrt", "torch",
                                                             hint=GPU_HINT),
                                                     devices.needs_torch_cuda)),
    "torch-tensorrt": Backend(".torch_trt", "TorchTensorRTEngine", "torch_tensorrt", GPU_HINT,
                              lambda: devices.first_reason(devices.needs_cuda_device,
                                                           partial(devices.needs_modules, "torch_tensorrt",
                                                                   hint=GPU_HINT),
                                                           devices.needs_torch_cuda)),
}
# GPU first; on a machine without one this resolves to onnxruntime.
AUTO_ORDER = ("tensorrt", "cuda", "onnxruntime", "torch")
ENGINE_CHOICES = ("auto", *BACKENDS)


def unavailable_reason(name: str) -> str | None:
    """None if backend ``name`` can run here, else why not (one line)."""
    b = BACKENDS[name]
    if importlib.util.find_spec(b.requires) is None:
        return f"engine {name!r} needs {b.requires}: {b.hint}"
    reason = b.probe() if b.probe else None
    return f"engine {name!r} cannot run here: {reason}" if reason else None


def available(name: str) -> bool:
    return unavailable_reason(name) is None


def _why_not(name: str) -> str:
    b = BACKENDS[name]
    return unavailable_reason(name) or f"engine {name!r} needs {b.requires}: {b.hint}"


def pick_auto() -> tuple[str, dict[str, str]]:
    """The backend 'auto' takes, and why each one before it was passed over."""
    skipped: dict[str, str] = {}
    for candidate in AUTO_ORDER:
        if available(candidate):
            return candidate, skipped
        skipped[candidate] = _why_not(candidate)
    raise EngineUnavailable("no inference backend installed: pip install onnxruntime")


def resolve(name: str) -> str:
    """'auto' -> the first available backend; a named one is checked, not silently swapped."""
    if name == "auto":
        return pick_auto()[0]
    if name not in BACKENDS:
        raise EngineUnavailable(f"unknown engine {name!r}; choose from {', '.join(ENGINE_CHOICES)}")
    if not available(name):
        raise EngineUnavailable(_why_not(name))
    return name


def create_engine(name: str, model_path: str | Path, options: EngineOptions = EngineOptions()) -> Engine:
    backend = BACKENDS[resolve(name)]
    cls = getattr(importlib.import_module(backend.module, __name__), backend.cls)
    return cls(model_path, options)


__all__ = ["Engine", "EngineOptions", "EngineUnavailable", "BACKENDS", "ENGINE_CHOICES", "create_engine", "resolve",
           "pick_auto", "unavailable_reason"]
