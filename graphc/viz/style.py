"""Colors, shapes and labels shared by every view."""

from __future__ import annotations

import zlib
from functools import lru_cache
from html import escape

from graphc.ir.types import TensorType
from graphc.layers import LAYERS
from graphc.ops import OPS

FAMILY_COLORS = {
    "nn": "#cfe2ff",
    "activation": "#ffe0b3",
    "pool": "#d4f0d4",
    "norm": "#e6d5f5",
    "regularization": "#f8d7da",
    "shape": "#eeeeee",
    "math": "#fff3b0",
    "reduce": "#cdeee6",
    "recurrent": "#ffd1e8",
    "attention": "#c9f0ff",
    "loss": "#ffcccc",
    "block": "#f7f7f7",
}
_EXTRA = ["#e0f0c0", "#f0d0b0", "#d0d8f0", "#f0e0f0", "#d8f0f0", "#f5e6c8"]
INPUT_STYLE = {"shape": "invhouse", "style": "filled", "fillcolor": "#b7e4c7"}
OUTPUT_STYLE = {"shape": "house", "style": "filled", "fillcolor": "#a9d6e5"}
PARAM_STYLE = {"shape": "cylinder", "style": "filled", "fillcolor": "#f2f2f2", "fontsize": "8", "color": "#999999"}
COLLAPSED_STYLE = {"shape": "box3d", "style": "filled", "fillcolor": "#fafafa"}
BACKWARD_COLOR = "#c0392b"

# colors of ONNX op types (the leaf layers of an imported model that kept them)
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



def family_color(family: str) -> str:
    """A fixed color per op family (an unknown family gets a stable one from its name)."""
    if family in FAMILY_COLORS:
        return FAMILY_COLORS[family]
    return _EXTRA[zlib.crc32(family.encode()) % len(_EXTRA)]


def family_of(op: str) -> str:
    """The family of a spec layer or primitive op (`nn`, `activation`, ...); `block` otherwise."""
    if op in LAYERS:
        return LAYERS[op].family
    if op in OPS:
        return OPS[op].family

    return ONNX_FAMILIES.get(op, "block")


@lru_cache(maxsize=4096)
def shape_label(t: TensorType) -> str:
    """`N x 64`, with the dtype when it is not float32; `scalar` for rank 0."""
    text = " x ".join(str(d) for d in t.shape) if t.shape else "scalar"
    return text if t.dtype == "float32" else f"{text} {t.dtype}"


def legend_label(families: list[str], extra: list[tuple[str, str]]) -> str:
    """An HTML-like table: one colored cell per family used, then the node kinds."""
    rows = ['<TR><TD COLSPAN="1"><B>legend</B></TD></TR>']
    for fam in families:
        rows.append(f'<TR><TD BGCOLOR="{family_color(fam)}">{escape(fam)}</TD></TR>')
    for text, color in extra:
        rows.append(f'<TR><TD BGCOLOR="{color}">{escape(text)}</TD></TR>')
    return '<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3">' + "".join(rows) + "</TABLE>>"


def short(text: str, width: int = 44) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
