"""FP32 ONNX -> FP16 weights and compute, normalisations kept in FP32.

InstanceNorm (and any reduction: mean, variance, softmax) stays FP32 because
FP16 there is wrong or overflows: ONNX Runtime's FP16 InstanceNormalization
gives wrong results (onnxruntime issue 10079) and TensorRT's FP16 norm layers
can overflow on large activations. The converter puts Casts around those
nodes. Graph inputs and outputs stay float32 so callers are unchanged.
"""
from __future__ import annotations

import onnx

# Kept FP32: normalisations and the reductions inside decomposed ones.
FP32_OPS = ("InstanceNormalization", "LayerNormalization", "GroupNormalization", "BatchNormalization",
            "ReduceMean", "ReduceSum", "ReduceSumSquare", "ReduceL2", "Softmax", "Pow", "Sqrt")


def to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    model = convert_float_to_float16(model, keep_io_types=True,
                                     op_block_list=[*DEFAULT_OP_BLOCK_LIST, *FP32_OPS])
    sort_nodes(model.graph)
    onnx.checker.check_model(model)
    return model


def sort_nodes(graph: onnx.GraphProto) -> None:
    """The converter appends the input Casts after their consumers; ONNX requires producers first."""
    ready = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        rest = [n for n in pending if not set(n.input) <= ready]
        placed = [n for n in pending if set(n.input) <= ready]
        if not placed:
            raise ValueError(f"graph has a cycle or a dangling input near node {rest[0].name}")
        for n in placed:
            ordered.append(n)
            ready.update(n.output)
        pending = rest
    del graph.node[:]
    graph.node.extend(ordered)


def fp16_node_types(model: onnx.ModelProto) -> dict[str, set[str]]:
    """{op type: element types of its float inputs} for a check that the split happened as intended."""
    types = {vi.name: vi.type.tensor_type.elem_type for vi in (*model.graph.value_info, *model.graph.input)}
    types.update({i.name: i.data_type for i in model.graph.initializer})
    names = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.FLOAT16: "float16"}
    seen: dict[str, set[str]] = {}
    for node in model.graph.node:
        kinds = {names[types[i]] for i in node.input[:1] if types.get(i) in names}
        seen.setdefault(node.op_type, set()).update(kinds)
    return seen
