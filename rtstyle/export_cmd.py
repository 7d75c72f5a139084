"""``rtstyle export``: a style or checkpoint -> one deployable format (see export/formats.py)."""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from .engines import EngineUnavailable

# Kept here (not imported from the factory) so `rtstyle -h` does not import torch.
FORMAT_CHOICES = ("onnx", "onnx-fp16", "onnx-int8", "tensorrt", "torch-tensorrt")


def add_parser(sub) -> None:
    s = sub.add_parser("export", help="export a style to ONNX (fp32/fp16/int8) or a TensorRT engine (needs torch)")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--style", help="built-in style name (see `rtstyle styles`)")
    g.add_argument("--checkpoint", type=Path, help="a trained network: NAME.pth or a trainer checkpoint.pt")
    s.add_argument("--format", required=True, choices=FORMAT_CHOICES)
    s.add_argument("--output", type=Path, help="output file (default: engines/ in a checkout, else the user cache)")
    s.add_argument("--min-size", help="TensorRT profile: smallest WxH (default 16x16)")
    s.add_argument("--opt-size", help="TensorRT profile: WxH to tune for (default 640x480)")
    s.add_argument("--max-size", help="TensorRT profile: largest WxH (default 1920x1920)")
    s.add_argument("--calibration", type=Path, help="INT8: folder of photos to calibrate on "
                   "(default: ../shared/data/content/train beside a checkout)")
    s.add_argument("--calib-frames", type=int, default=None, help="INT8: photos used for calibration (default 64)")
    s.set_defaults(func=cmd_export)


def default_calibration() -> Path:
    return Path(__file__).resolve().parents[2] / "shared/data/content/train"


def cmd_export(a: argparse.Namespace) -> int:
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("onnx") is None:
        raise EngineUnavailable("export needs PyTorch and onnx: pip install 'rtstyle[train]'")
    import dataclasses

    from rtstyle_export.formats import ExportJob, export, load_net
    from rtstyle_export.quantize import Int8Config

    from .engines.cache import engine_dir
    from .engines.tensorrt_build import profile_from_sizes

    profile = profile_from_sizes(a.min_size, a.opt_size, a.max_size)
    if a.calib_frames is not None and a.calib_frames < 1:
        raise ValueError("--calib-frames must be at least 1")
    int8 = Int8Config() if a.calib_frames is None else dataclasses.replace(Int8Config(), calib_frames=a.calib_frames)
    name, net, source = load_net(a.style, a.checkpoint)
    job = ExportJob(name, net, source, engine_dir(), profile, a.calibration or default_calibration(), int8)
    written = export(a.format, job, a.output)
    print(f"rtstyle: wrote {written} ({a.format}; manifest {written.name}.json)", file=sys.stderr)
    return 0
