"""ONNX file -> graphc IR Graph, for drawing and summarizing (`graphc viz model.onnx`).

Every ONNX node becomes one node and one layer (named after the node); initializers become
parameters; shapes come from ONNX shape inference (`?` where it knows nothing). The ops keep
their ONNX names (`Conv`, `Gemm`), so the graph is for views, not for export or running.
"""

from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import helper, numpy_helper

from graphc.errors import SpecError
from graphc.ir.graph import Graph, LayerInfo, Value
from graphc.ir.types import DTYPES, TensorType

ONNX_FAMILIES = {
    **dict.fromkeys(["Conv", "ConvTranspose", "Gemm", "MatMul", "Einsum", "LSTM", "GRU", "RNN"], "nn"),
    **dict.fromkeys(["Relu", "LeakyRelu", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Gelu", "Elu", "Selu",
                     "Softplus", "HardSigmoid", "PRelu", "Clip"], "activation"),
    **dict.fromkeys(["MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Resize", "Upsample"], "pool"),
    **dict.fromkeys(["BatchNormalization", "LayerNormalization", "InstanceNormalization",
                     "GroupNormalization"], "norm"),
    **dict.fromkeys(["Dropout"], "regularization"),
    **dict.fromkeys(["Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Concat", "Split", "Slice",
                     "Gather", "Cast", "Identity", "Shape", "Expand", "Constant", "Pad", "Tile"], "shape"),
    **dict.fromkeys(["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ArgMax", "ArgMin"], "reduce"),
}
_DTYPE_NAMES = {code: name for name, (_, code) in DTYPES.items()}


def _type(t: onnx.TypeProto | None) -> TensorType:
    if t is None or not t.HasField("tensor_type"):
        return TensorType("float32", ("?",))
    tt = t.tensor_type
    dtype = _DTYPE_NAMES.get(tt.elem_type, "float32")
    if not tt.HasField("shape"):
        return TensorType(dtype, ("?",))
    dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tt.shape.dim)
    return TensorType(dtype, dims)


def _attr(a: onnx.AttributeProto):
    if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
        return "<graph>"
    if a.type in (onnx.AttributeProto.TENSOR, onnx.AttributeProto.SPARSE_TENSOR):
        return "<tensor>"
    value = helper.get_attribute_value(a)
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, list):
        return [v.decode(errors="replace") if isinstance(v, bytes) else v for v in value]
    return value


def import_onnx(source: str | onnx.ModelProto) -> Graph:
    """An IR graph of an ONNX model (a path or a ModelProto)."""
    if isinstance(source, str):
        from graphc.export.onnx_load import load_model_file

        model = load_model_file(source)
        default_name = os.path.splitext(os.path.basename(source))[0]
    else:
        model, default_name = source, "model"
    try:
        model = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - draw without inferred shapes
        pass
    og = model.graph
    graph = Graph(og.name or default_name)
    graph.doc = og.doc_string
    graph.metadata = {"imported_from": "onnx"}  # ops keep ONNX names: views and summaries only
    types = {vi.name: _type(vi.type) for vi in list(og.value_info) + list(og.input) + list(og.output)}
    values: dict[str, Value] = {}
    for init in og.initializer:
        data = numpy_helper.to_array(init)
        dtype = next((n for n, (t, _) in DTYPES.items() if data.dtype == t), "float32")
        value = Value(init.name, TensorType(dtype, tuple(data.shape)), kind="param", data=np.asarray(data))
        graph.params[init.name] = value
        graph._names.add(init.name)
        values[init.name] = value
    for vi in og.input:
        if vi.name not in values:
            values[vi.name] = graph.add_input(vi.name, _type(vi.type))
    counts: dict[str, int] = {}
    used: set[str] = set()
    for node in og.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
        layer = node.name or f"{node.op_type.lower()}_{counts[node.op_type]}"
        while layer in used:
            layer += "_"
        used.add(layer)
        inputs = [values[n] for n in node.input if n and n in values]
        attrs = {a.name: _attr(a) for a in node.attribute}
        outs = [o for o in node.output if o]
        out_types = [types.get(o, TensorType("float32", ("?",))) for o in outs]
        ir_node = graph.add_node(node.op_type, inputs, attrs, out_types, layer, layer, out_names=outs)
        for o, v in zip(outs, ir_node.outputs):
            values[o] = v
        graph.layers.append(LayerInfo(layer, node.op_type, attrs, [v.name for v in inputs],
                                      [v.name for v in ir_node.outputs],
                                      params=[v.name for v in inputs if v.kind == "param"]))
    graph.outputs = [values[o.name] for o in og.output if o.name in values]
    return graph
