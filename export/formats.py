"""The export factory: one table of formats, one function per format.

Every format starts from the same PyTorch Johnson network (weights read back
from a shipped style's ONNX file or from a training checkpoint) and writes one
file plus a manifest ``FILE.json`` recording what it is and how it was made.

| format          | file                  | precision                                  | runs on |
| onnx            | NAME.onnx             | fp32                                       | any ORT |
| onnx-fp16       | NAME.fp16.onnx        | fp16, norms/reductions fp32, fp32 I/O      | ORT CUDA / TensorRT EP (CPU: computed fp32) |
| onnx-int8       | NAME.int8.onnx        | static QDQ int8 convs, per-channel weights | ORT CPU (VNNI) |
| tensorrt        | NAME.fp16.KEY.engine  | fp16, norms fp32                           | TensorRT, the GPU it was built on |
| torch-tensorrt  | NAME.fp16.ep          | fp16 (dynamo), dynamic H/W                 | torch-tensorrt, same GPU kind |
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import onnx
import torch

from rtstyle.engines.cache import file_sha256
from rtstyle.engines.tensorrt_build import Profile, build_engine, profile_from_sizes

from .fp16 import to_fp16
from .onnx_export import INPUT, OUTPUT, export_onnx
from .quantize import Int8Config, quantize_int8


@dataclass(frozen=True)
class ExportJob:
    name: str  # file stem: a built-in style name or the checkpoint's stem
    net: torch.nn.Module  # TransformerNet or a FastNet student
    source: Path  # where the weights came from
    out_dir: Path
    profile: Profile = field(default_factory=profile_from_sizes)
    calib_dir: Path | None = None  # photos for INT8 calibration
    int8: Int8Config = Int8Config()


@dataclass(frozen=True)
class Format:
    suffix: str
    precision: str
    make: Callable[[ExportJob, Path], Path]  # (job, output path) -> the path actually written
    needs: tuple[str, ...] = ()  # packages beyond torch/onnx/onnxruntime
    gpu: bool = False


def make_onnx(job: ExportJob, out: Path) -> Path:
    return export_onnx(job.net, out)


def make_onnx_fp16(job: ExportJob, out: Path) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(job.net, Path(tmp) / "fp32.onnx")
        onnx.save(to_fp16(onnx.load(str(fp32))), str(out))
    return out


def make_onnx_int8(job: ExportJob, out: Path) -> Path:
    if job.calib_dir is None or not job.calib_dir.is_dir():
        raise FileNotFoundError(f"INT8 calibration needs a folder of photos (--calibration), got {job.calib_dir}")
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(job.net, Path(tmp) / "fp32.onnx")
        return quantize_int8(fp32, out, job.calib_dir, job.int8)


def make_tensorrt(job: ExportJob, out: Path) -> Path:
    # By default the engine's name carries its cache key (GPU, TensorRT version, profile), so
    # engines for several GPUs/profiles live side by side; an explicit --output is used as given.
    explicit = None if out == job.out_dir / f"{job.name}{FORMATS['tensorrt'].suffix}" else out
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(job.net, Path(tmp) / f"{job.name}.onnx")
        return build_engine(fp32, job.profile, "fp16", job.out_dir, output=explicit)


def make_torch_tensorrt(job: ExportJob, out: Path) -> Path:
    from rtstyle.engines.torch_trt import compile_net, save_compiled

    return save_compiled(compile_net(job.net, job.profile), out, job.profile)


FORMATS: dict[str, Format] = {
    "onnx": Format(".onnx", "fp32", make_onnx),
    "onnx-fp16": Format(".fp16.onnx", "fp16", make_onnx_fp16),
    "onnx-int8": Format(".int8.onnx", "int8", make_onnx_int8),
    "tensorrt": Format(".engine", "fp16", make_tensorrt, ("tensorrt",), gpu=True),
    "torch-tensorrt": Format(".fp16.ep", "fp16", make_torch_tensorrt, ("torch_tensorrt",), gpu=True),
}


def export(fmt: str, job: ExportJob, output: Path | None = None) -> Path:
    """Run one format and write its manifest beside the result."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    spec = FORMATS[fmt]
    missing = [m for m in spec.needs if importlib.util.find_spec(m) is None]
    if missing:
        raise ValueError(f"format {fmt!r} needs {', '.join(missing)}: pip install 'rtstyle[gpu]' on a CUDA machine")
    out = output or job.out_dir / f"{job.name}{spec.suffix}"
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    written = spec.make(job, out)
    write_manifest(written, fmt, spec, job, time.perf_counter() - started)
    return written


def write_manifest(path: Path, fmt: str, spec: Format, job: ExportJob, seconds: float) -> Path:
    manifest = {
        "file": path.name,
        "sha256": file_sha256(path),
        "format": fmt,
        "precision": spec.precision,
        "source": str(job.source),
        "source_sha256": file_sha256(job.source),
        "io": {"input": INPUT, "output": OUTPUT, "layout": "float32 NCHW RGB in [0, 1]"},
        "shapes": asdict(job.profile) if spec.gpu else {"N": "dynamic", "H": "dynamic", "W": "dynamic"},
        "int8": {**asdict(job.int8), "calibration": str(job.calib_dir)} if fmt == "onnx-int8" else None,
        "tools": tool_versions(spec.needs),
        "export_seconds": round(seconds, 2),
    }
    mpath = path.with_name(path.name + ".json")
    mpath.write_text(json.dumps(manifest, indent=2) + "\n")
    return mpath


def tool_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for dist in ("torch", "onnx", "onnxruntime", "onnxruntime-gpu", *[m.replace("_", "-") for m in extra]):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def load_net(style: str | None = None, checkpoint: Path | None = None) -> tuple[str, torch.nn.Module, Path]:
    """A built-in style's weights (read back from its FP16-weight ONNX) or a checkpoint's."""
    from rtstyle.engines.torch_eager import state_dict_from_onnx
    from rtstyle.models.build import network_for
    from rtstyle.registry import resolve_model

    if checkpoint is not None:
        if not checkpoint.is_file():
            raise FileNotFoundError(f"checkpoint not found: {checkpoint}")
        try:
            state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        except Exception as e:  # pickle/zip errors: a bad file is a user error, one line
            raise ValueError(f"cannot read checkpoint {checkpoint}: {str(e).splitlines()[0]}") from e
        state = state.get("model", state) if isinstance(state, dict) else state  # trainer checkpoints nest it
        name, source = checkpoint.stem, checkpoint
    else:
        model = resolve_model(style, None)
        state, name, source = state_dict_from_onnx(model.path), model.name, model.path
    if not isinstance(state, dict) or "trunk.0.1.weight" not in state:
        raise ValueError(f"{source}: no Johnson-network weights found")
    net = network_for(state)  # a Johnson network or a FastNet student (NAME.fast.pth)
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(f"{source}: weights do not fit the Johnson network: {str(e).splitlines()[0]}") from e
    return name, net.eval(), source
