"""Export the trunk and head of Johnson networks as two ONNX graphs each (rtstyle.models.split).

    python export/split_export.py                    # every built-in style, beside its NAME.onnx
    python export/split_export.py my.onnx [...]      # any rtstyle Johnson model file

Writes NAME.trunk.onnx and NAME.head.onnx next to NAME.onnx, with FP16-stored
weights like the full model, and checks that trunk -> head with momentum 0
reproduces the full graph on a random image. The weights are read back from
the shipped ONNX file, so the halves always match it.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from export.onnx_export import OPSET, store_weights_fp16  # noqa: E402
from rtstyle.engines import EngineOptions, create_engine  # noqa: E402
from rtstyle.engines.torch_eager import state_dict_from_onnx  # noqa: E402
from rtstyle.models.johnson import TransformerNet, config_of  # noqa: E402
from rtstyle.models.split import IO, MOMENTUM, STATS, STATS_PREV, StatsHalf  # noqa: E402
from rtstyle.registry import builtin_styles  # noqa: E402
from rtstyle.temporal import FIRST_STATS, split_paths  # noqa: E402


def export_half(half: StatsHalf, path: Path, channels: int) -> Path:
    x_name, y_name = IO[half.part]
    sample = torch.rand(1, channels, 64, 64)
    stats = torch.zeros(1, 2, half.total)
    momentum = torch.zeros(1)
    spatial = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's expected deprecation/tracer notes
        torch.onnx.export(half.eval(), (sample, stats, momentum), str(path),
                          input_names=[x_name, STATS_PREV, MOMENTUM], output_names=[y_name, STATS],
                          opset_version=OPSET,
                          dynamic_axes={x_name: spatial, y_name: spatial, STATS_PREV: {2: "channels"}},
                          # no folding: it would rename the norm weights, which the torch engine reads by name
                          do_constant_folding=False, dynamo=False)
    model = store_weights_fp16(onnx.load(str(path)))
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def export_split(model_path: Path) -> tuple[Path, Path]:
    state = state_dict_from_onnx(model_path)
    if not state:
        raise ValueError(f"{model_path}: no Johnson-network weights in this ONNX file")
    net = TransformerNet(**config_of(state)).eval()
    net.load_state_dict(state)
    trunk_path, head_path = split_paths(model_path)
    export_half(StatsHalf(net, "trunk"), trunk_path, 3)
    export_half(StatsHalf(net, "head"), head_path, 4 * net.width)
    check(model_path, trunk_path, head_path)
    return trunk_path, head_path


def check(full: Path, trunk: Path, head: Path, hw: tuple[int, int] = (72, 100)) -> float:
    """Max abs difference between the full graph and trunk -> head (momentum 0) on one image."""
    engines = [create_engine("onnxruntime", p, EngineOptions(threads=1)) for p in (full, trunk, head)]
    image = np.random.default_rng(0).random((1, 3, *hw), dtype=np.float32)
    zero = np.zeros(1, np.float32)

    def half(engine, x):
        return engine.run_feeds({engine.inputs[0]: x, STATS_PREV: FIRST_STATS, MOMENTUM: zero})[engine.outputs[0]]

    split = half(engines[2], half(engines[1], image))[..., : hw[0], : hw[1]]
    diff = float(np.abs(split - engines[0].run(image)).max())
    if diff > 1e-3:
        raise RuntimeError(f"{trunk.name} -> {head.name} differs from {full.name} by {diff:.2e}")
    return diff


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="*", type=Path, help="ONNX model files (default: every built-in style)")
    a = p.parse_args(argv)
    for path in a.models or [s.path for s in builtin_styles().values()]:
        trunk, head = export_split(path)
        sizes = ", ".join(f"{q.name} {q.stat().st_size / 1e6:.2f} MB" for q in (trunk, head))
        print(f"{path.name}: {sizes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
