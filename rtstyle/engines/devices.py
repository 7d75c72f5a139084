"""Is there a CUDA device? Asked of the driver itself, so no GPU package is needed to find out.

``cuInit`` + ``cuDeviceGetCount`` from libcuda: the same answer torch.cuda and
onnxruntime-gpu would get, without importing either (the runtime path stays
torch-free). Probes return None when a backend can run, else a one-line reason.
"""
from __future__ import annotations

import ctypes
import importlib
import importlib.util
import sys
from collections.abc import Callable

DRIVER = "nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1"


def cuda_device_count(driver: str = DRIVER) -> int:
    try:
        lib = ctypes.CDLL(driver)
    except OSError:
        return 0  # no NVIDIA driver installed
    count = ctypes.c_int(0)
    if lib.cuInit(0) != 0 or lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0
    return count.value


def needs_cuda_device(count: Callable[[], int] = cuda_device_count) -> str | None:
    return None if count() > 0 else "no CUDA device found (no NVIDIA GPU or driver)"


def needs_ort_provider(provider: str, providers: Callable[[], list[str]] | None = None,
                       count: Callable[[], int] = cuda_device_count) -> str | None:
    """onnxruntime-gpu lists its CUDA/TensorRT providers even on machines without a GPU, so both are checked."""
    if providers is None:
        def providers() -> list[str]:
            return importlib.import_module("onnxruntime").get_available_providers()
    if provider not in providers():
        return (f"onnxruntime has no {provider}: pip uninstall onnxruntime && pip install onnxruntime-gpu")
    return needs_cuda_device(count)


def needs_modules(*modules: str, hint: str) -> str | None:
    """Import each module (find_spec is not enough: a broken CUDA install fails on import)."""
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as e:  # ImportError, or OSError from a missing shared library
            why = str(e).splitlines()[0] if str(e) else type(e).__name__
            return f"{module} does not import ({why}): {hint}"
    return None


def needs_torch_cuda(is_available: Callable[[], bool] | None = None) -> str | None:
    """The TensorRT runners keep their buffers in torch CUDA tensors."""
    if is_available is None:
        def is_available() -> bool:
            return importlib.import_module("torch").cuda.is_available()
    return None if is_available() else "torch sees no CUDA device (CPU-only torch build, or no GPU)"


def first_reason(*probes: Callable[[], str | None]) -> str | None:
    """Run probes in order (cheap, import-free ones first) and return the first failure."""
    for probe in probes:
        reason = probe()
        if reason:
            return reason
    return None
