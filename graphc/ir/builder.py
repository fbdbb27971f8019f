"""Builder: adds op nodes to a graph, checking shapes as it goes (`b.add(x, y)`, `b.emit(...)`).

The IR knows no ops: a Builder is handed an op table (name -> definition with `check_arity`,
`full_attrs` and `infer`). `graphc.ops.Builder` is this Builder over graphc's registry.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Mapping

import numpy as np

from graphc.errors import Location
from graphc.limits import check_shape
from graphc.ir.graph import Graph, Value
from graphc.ir.types import np_dtype


class Builder:
    """Emits nodes into `graph` under the current layer scope and spec location.

    Operands may be Values or Python/numpy constants; a constant takes the dtype of the first
    Value operand. `b.op_name(*inputs, **attrs)` is shorthand for `b.emit("op_name", ...)`.
    """

    def __init__(self, graph: Graph, layer: str = "", loc: Location | None = None, *, ops: Mapping[str, Any]):
        self.graph = graph
        self.ops = ops
        self.layer = layer
        self.loc = loc

    @contextmanager
    def scope(self, layer: str, loc: Location | None = None):
        saved = self.layer, self.loc
        self.layer, self.loc = layer, loc if loc is not None else self.loc
        try:
            yield self
        finally:
            self.layer, self.loc = saved

    def const(self, value: Any, dtype: str = "float32", name: str = "const") -> Value:
        return self.graph.add_const(np.asarray(value, dtype=np_dtype(dtype)), name)

    def _operands(self, inputs) -> list[Value]:
        dtype = next((v.dtype for v in inputs if isinstance(v, Value)), "float32")
        return [v if isinstance(v, Value) else self.const(v, dtype) for v in inputs]

    def emit_node(self, op: str, *inputs, out_names: list[str] | None = None, **attrs):
        opdef = self.ops[op]
        values = self._operands(inputs)
        opdef.check_arity(len(values))
        full = opdef.full_attrs(attrs)
        out_types = opdef.infer([v.type for v in values], full)
        for t in out_types:
            check_shape(t.shape, f"the {op} output")
        base = f"{self.layer}/{op}" if self.layer else op
        return self.graph.add_node(op, values, full, out_types, base, self.layer, self.loc, out_names)

    def emit(self, op: str, *inputs, **attrs):
        """Add one node; returns its output Value, or a list when the op has several."""
        node = self.emit_node(op, *inputs, **attrs)
        return node.outputs[0] if len(node.outputs) == 1 else node.outputs

    def output(self, value: Value, name: str, taken: set[int]) -> Value:
        """Make `value` a graph output called `name`: renamed when it is a node output not yet
        `taken` (ids of values already named so), else through an identity node."""
        if value.kind != "node" or id(value) in taken:
            value = self.emit_node("identity", value, out_names=[name]).outputs[0]
        else:
            self.graph.rename(value, name)
        taken.add(id(value))
        self.graph.outputs.append(value)
        return value

    def __getattr__(self, op: str):
        if op.startswith("_") or op not in self.ops:
            raise AttributeError(op)
        return lambda *inputs, **attrs: self.emit(op, *inputs, **attrs)
