"""ONNX -> serialized TensorRT FP16 engine, cached.

A TensorRT engine is only valid for the model, TensorRT version, GPU and
build settings it was made with, so the cache key is all of them:
(model sha256, TensorRT version, GPU name and compute capability, precision,
optimization profile). The timing cache (per-layer tactic timings) is kept
beside the engines, so rebuilding for another profile is quick.

Everything above ``build_engine`` is plain Python, unit-tested without a GPU.
Nothing here was executed on a GPU in this project (see docs/gpu.md).
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from .base import EngineUnavailable
from .cache import engine_dir, file_sha256

MIN_SIDE = 16  # below this the network's reflection pads exceed its 1/4-resolution features
# Normalisations and reductions stay FP32 in an FP16 engine: FP16 norm layers can overflow.
FP32_LAYER_TYPES = ("NORMALIZATION", "REDUCE", "SOFTMAX")


def parse_size(text: str) -> tuple[int, int]:
    """'WxH' -> (W, H)."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m:
        raise ValueError(f"size must be WIDTHxHEIGHT, e.g. 640x480, not {text!r}")
    w, h = int(m[1]), int(m[2])
    if min(w, h) < MIN_SIDE:
        raise ValueError(f"size {w}x{h}: each side must be at least {MIN_SIDE}")
    return w, h


@dataclass(frozen=True)
class Profile:
    """One optimization profile: the input shapes (N, C, H, W) the engine accepts and tunes for."""
    min: tuple[int, int, int, int]
    opt: tuple[int, int, int, int]
    max: tuple[int, int, int, int]

    def label(self) -> str:
        return "_".join(f"{s[3]}x{s[2]}" for s in (self.min, self.opt, self.max))

    def covers(self, shape: tuple[int, ...]) -> bool:
        return all(lo <= v <= hi for lo, v, hi in zip(self.min, shape, self.max))


# min is the Stylizer's smallest network input; max covers 1080p in either orientation.
DEFAULT_SIZES = ("16x16", "640x480", "1920x1920")


def profile_from_sizes(min_size: str | None = None, opt_size: str | None = None,
                       max_size: str | None = None, batch: int = 1) -> Profile:
    """Requested WxH sizes -> a profile; missing ones take the defaults, and each side is
    checked to be ordered min <= opt <= max (TensorRT refuses the build otherwise)."""
    sizes = [parse_size(s or d) for s, d in zip((min_size, opt_size, max_size), DEFAULT_SIZES)]
    (w0, h0), (w1, h1), (w2, h2) = sizes
    if not (w0 <= w1 <= w2 and h0 <= h1 <= h2):
        raise ValueError(f"sizes must grow min <= opt <= max in both width and height, got "
                         f"{w0}x{h0}, {w1}x{h1}, {w2}x{h2}")
    return Profile(*((batch, 3, h, w) for w, h in sizes))


@dataclass(frozen=True)
class DeviceInfo:
    name: str
    capability: tuple[int, int]


def cache_key(model_sha256: str, trt_version: str, device: DeviceInfo, precision: str, profile: Profile) -> str:
    """A short stable digest of everything an engine depends on."""
    parts = {"model": model_sha256, "tensorrt": trt_version, "gpu": device.name,
             "sm": f"{device.capability[0]}.{device.capability[1]}", "precision": precision,
             "profile": asdict(profile)}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def engine_path(model: Path, key: str, precision: str, folder: Path) -> Path:
    return folder / f"{model.stem}.{precision}.{key}.engine"


def cuda_device() -> DeviceInfo:
    """The current CUDA device, through torch (the runner's memory manager)."""
    try:
        import torch
    except ImportError as e:
        raise EngineUnavailable("the TensorRT runner needs PyTorch with CUDA for its buffers") from e
    if not torch.cuda.is_available():
        raise EngineUnavailable("no CUDA device found")
    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    return DeviceInfo(props.name, (props.major, props.minor))


def build_engine(onnx_path: Path, profile: Profile, precision: str = "fp16", folder: Path | None = None,
                 device: DeviceInfo | None = None, output: Path | None = None) -> Path:
    """Return the cached engine for this model/GPU/profile, building it if needed.

    ``output`` names the file explicitly (always built); the timing cache stays in ``folder``."""
    import tensorrt as trt

    folder = folder or engine_dir()
    folder.mkdir(parents=True, exist_ok=True)
    device = device or cuda_device()
    key = cache_key(file_sha256(onnx_path), trt.__version__, device, precision, profile)
    out = output or engine_path(onnx_path, key, precision, folder)
    if output is None and out.is_file():
        return out
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ValueError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
        keep_fp32(network, trt)
        config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    trt_profile = builder.create_optimization_profile()
    for i in range(network.num_inputs):
        trt_profile.set_shape(network.get_input(i).name, profile.min, profile.opt, profile.max)
    config.add_optimization_profile(trt_profile)
    timing_path = folder / f"timing.{trt.__version__}.{device.name.replace(' ', '_')}.cache"
    timing = config.create_timing_cache(timing_path.read_bytes() if timing_path.is_file() else b"")
    config.set_timing_cache(timing, ignore_mismatch=False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path} (see its log above)")
    _write_atomic(timing_path, bytes(config.get_timing_cache().serialize()))
    _write_atomic(out, bytes(serialized))
    return out


def keep_fp32(network, trt) -> None:
    """Pin normalisation/reduction layers (and their outputs) to FP32 in an FP16 build."""
    kinds = {getattr(trt.LayerType, k) for k in FP32_LAYER_TYPES if hasattr(trt.LayerType, k)}
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if layer.type in kinds:
            layer.precision = trt.float32
            for j in range(layer.num_outputs):
                layer.set_output_type(j, trt.float32)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_bytes(data)
    tmp.replace(path)
