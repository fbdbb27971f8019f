"""All ops, registered on import. `OPS` maps an op name to its `OpDef`."""

from graphc.ops.registry import OPS, REQUIRED, OpDef, evaluate, get_op, register
from graphc.ops import elementwise, nn, reduce, shape  # noqa: F401  (registration)
from graphc.ops import attention, recurrent, sampling  # noqa: F401  (registration)
from graphc.ops import gradops  # noqa: F401  (internal ops of gradient rules)

__all__ = ["OPS", "REQUIRED", "OpDef", "evaluate", "get_op", "register"]
from graphc.onnx_in import convert as _onnx_import  # noqa: E402,F401  (OpDef.onnx_import hooks)
