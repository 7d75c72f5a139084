"""FP32 ONNX -> static INT8 (QDQ) with ONNX Runtime's quantization tools.

Calibration runs the FP32 graph on real photos (``data/content/train``),
resized the way frames reach the network. Only Conv is quantized (weights
per-channel s8, activations u8: the VNNI kernels' fast pair); InstanceNorm,
Pad, Resize and the residual adds stay float. Three convs stay float by
default: the penultimate (full resolution, the one layer whose quantization
costs the most: +2.1 dB PSNR on starry when kept float, every trunk conv
< +0.2 dB; ``python benchmarks/int8.py --sweep``), and the first and last
(RGB in and out; ORT's int8 kernels are no faster on 3-channel convs here).
Every knob is a field of ``Int8Config`` so benchmarks/int8.py can sweep them.
"""
from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import onnx

from rtstyle.frames import as_rgb8, to_batch
from rtstyle.sources import read_image


@dataclass(frozen=True)
class Int8Config:
    quant_format: str = "QDQ"  # or "QOperator"
    activation_type: str = "QUInt8"
    weight_type: str = "QInt8"
    per_channel: bool = True
    reduce_range: bool = False
    calibrate_method: str = "Percentile"  # MinMax | Entropy | Percentile
    percentile: float = 99.999
    ops: tuple[str, ...] = ("Conv",)  # op types to quantize; the rest stays float
    # Convs left in float: "first", "penultimate", "last", or node names (benchmarks/int8.py --sensitivity finds them).
    keep_float: tuple[str, ...] = ("first", "penultimate", "last")
    calib_frames: int = 64
    calib_size: tuple[int, int] = (320, 240)  # W x H of calibration frames
    extra: dict = field(default_factory=dict)

    def label(self) -> str:
        kept = "+".join(self.keep_float) or "none"
        return (f"{self.quant_format} a={self.activation_type} w={self.weight_type} "
                f"{'per-channel' if self.per_channel else 'per-tensor'}{' reduce_range' if self.reduce_range else ''} "
                f"{self.calibrate_method} ops:{'+'.join(self.ops)} float:{kept}")


def calibration_photos(folder: Path, count: int) -> list[Path]:
    """``count`` photos spread evenly over the sorted folder (deterministic, not just the first few)."""
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not photos:
        raise FileNotFoundError(f"no calibration photos (*.jpg, *.png) in {folder}")
    step = max(1, len(photos) // count)
    return photos[::step][:count]


def calibration_batches(photos: Sequence[Path], size: tuple[int, int]) -> Iterator[np.ndarray]:
    for path in photos:
        frame = cv2.resize(as_rgb8(read_image(path))[0], size, interpolation=cv2.INTER_AREA)
        yield to_batch(frame)


def float_conv_names(model: onnx.ModelProto, keep: Sequence[str]) -> list[str]:
    convs = [n.name for n in model.graph.node if n.op_type == "Conv"]
    positions = {"first": convs[:1], "penultimate": convs[-2:-1], "last": convs[-1:], **{c: [c] for c in convs}}
    unknown = set(keep) - set(positions)
    if unknown:
        raise ValueError(f"keep_float takes 'first', 'penultimate', 'last' or Conv node names, not {sorted(unknown)}")
    return [name for k in keep for name in positions[k]]


def quantize_int8(fp32_path: Path, out_path: Path, calib_folder: Path, config: Int8Config = Int8Config(),
                  calib_cache: Path | None = None) -> Path:
    """``calib_cache``: a JSON file of tensor ranges, written on the first call and reused after
    (same network and calibration settings only): sweeps then skip the slow calibration."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self, batches: Iterator[np.ndarray], name: str):
            self.batches, self.name = batches, name

        def get_next(self) -> dict | None:
            batch = next(self.batches, None)
            return None if batch is None else {self.name: batch}

    photos = calibration_photos(calib_folder, config.calib_frames)
    with tempfile.TemporaryDirectory() as tmp:
        # Pre-processing (shape inference, folding) lets the quantizer see every Conv's shapes.
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=False)
        model = onnx.load(str(prepared))
        extra = {"CalibPercentile": config.percentile, **config.extra}
        quantize_static(
            str(prepared), str(out_path),
            Reader(calibration_batches(photos, config.calib_size), model.graph.input[0].name),
            quant_format=getattr(QuantFormat, config.quant_format),
            op_types_to_quantize=list(config.ops),
            per_channel=config.per_channel,
            reduce_range=config.reduce_range,
            activation_type=getattr(QuantType, config.activation_type),
            weight_type=getattr(QuantType, config.weight_type),
            nodes_to_exclude=float_conv_names(model, config.keep_float),
            calibrate_method=getattr(CalibrationMethod, config.calibrate_method),
            extra_options=extra,
            calibration_cache_path=calib_cache,
        )
    # Symbolic shape inference annotated intermediate shapes assuming even sizes ("treat as
    # equal"); ORT warns on odd-sized frames when they disagree. Shapes are re-inferred at load.
    model = onnx.load(str(out_path))
    del model.graph.value_info[:]
    onnx.checker.check_model(model)
    onnx.save(model, str(out_path))
    return out_path
