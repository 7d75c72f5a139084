"""PyTorch -> ONNX with rtstyle's I/O contract.

Graph input ``image`` and output ``stylized``: float32 NCHW RGB in [0, 1],
batch, height and width dynamic.

``fp16_weights`` stores weights as float16 behind Cast nodes: the file halves
(a Johnson net is 6.7 MB in float32, 3.4 MB so) while arithmetic stays float32,
because ONNX Runtime folds the Casts once at session start.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

from rtstyle.models.fastnet import FastNet

OPSET = 17
INPUT, OUTPUT = "image", "stylized"


def export_onnx(net: torch.nn.Module, path: str | Path, fp16_weights: bool = False, sample_hw=(256, 256)) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    net = net.eval().float()
    if isinstance(net, FastNet):
        net = net.for_onnx()
    sample = torch.rand(1, 3, *sample_hw)
    with warnings.catch_warnings():
        # The TorchScript exporter's deprecation and tracer notes are expected for this fixed graph.
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message="Constant folding", category=UserWarning)
        warnings.filterwarnings("ignore", message="ONNX export mode is set to TrainingMode.EVAL")
        _export(net, sample, path)
    model = onnx.load(str(path))
    if fp16_weights:
        model = store_weights_fp16(model)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _export(net: torch.nn.Module, sample: torch.Tensor, path: Path) -> None:
    torch.onnx.export(
        net,
        (sample,),
        str(path),
        input_names=[INPUT],
        output_names=[OUTPUT],
        opset_version=OPSET,
        dynamic_axes={INPUT: {0: "batch", 2: "height", 3: "width"}, OUTPUT: {0: "batch", 2: "height", 3: "width"}},
        do_constant_folding=True,
        dynamo=False,  # the TorchScript exporter handles the odd-size crop with plain dynamic axes
    )


def store_weights_fp16(model: onnx.ModelProto, min_elements: int = 16) -> onnx.ModelProto:
    """Replace each float32 initializer by a float16 one followed by a Cast back to float32."""
    graph = model.graph
    casts, keep = [], []
    for init in graph.initializer:
        arr = numpy_helper.to_array(init)
        if init.data_type != onnx.TensorProto.FLOAT or arr.size < min_elements:
            keep.append(init)
            continue
        half_name = init.name + "__fp16"
        keep.append(numpy_helper.from_array(arr.astype(np.float16), half_name))
        casts.append(helper.make_node("Cast", [half_name], [init.name], to=onnx.TensorProto.FLOAT,
                                      name=init.name + "__cast"))
    del graph.initializer[:]
    graph.initializer.extend(keep)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return model
