"""ONNX file -> graphc IR: kept for older callers; the importer is graphc.onnx_in.

`ONNX_FAMILIES` colors ONNX op types (the leaf layers of an imported model) in views.
"""

from __future__ import annotations

import onnx

from graphc.ir.graph import Graph

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


def import_onnx(source: str | onnx.ModelProto) -> Graph:
    """An IR graph of an ONNX model (a path or a ModelProto), built from graphc ops."""
    from graphc.onnx_in import import_model

    return import_model(source)
