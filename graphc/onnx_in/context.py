"""What an op's ONNX `convert` hook sees: one ONNX node, its inputs as graphc Values, a Builder."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import helper

from graphc.errors import ShapeError
from graphc.ir.builder import Builder
from graphc.ir.graph import Value

_NO_DEFAULT = object()


class ImportError_(ShapeError):
    """An ONNX node graphc cannot import exactly (an unsupported attribute or input form)."""


def attr_value(a: onnx.AttributeProto) -> Any:
    """An attribute as plain Python (strings decoded, tensors as numpy arrays)."""
    if a.type == onnx.AttributeProto.TENSOR:
        return onnx.numpy_helper.to_array(a.t)
    if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS, onnx.AttributeProto.SPARSE_TENSOR):
        return a  # rejected by the converters that would need it
    value = helper.get_attribute_value(a)
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list):
        return [v.decode() if isinstance(v, bytes) else v for v in value]
    return value


def schema_default(op_type: str, domain: str, opset: int, name: str) -> Any:
    """The attribute's default in the op's schema at `opset` (_NO_DEFAULT when it has none)."""
    try:
        schema = onnx.defs.get_schema(op_type, opset, domain)
    except Exception:  # noqa: BLE001 - unknown op: no defaults
        return _NO_DEFAULT
    attr = schema.attributes.get(name)
    if attr is None or not attr.default_value.name:
        return _NO_DEFAULT
    return attr_value(attr.default_value)


class NodeContext:
    """One ONNX node being imported: `x(i)` its inputs, `attr(name)` its attributes (schema
    defaults filled in), `const(i)` an input's value when it is known at import time, `b` the
    Builder (scoped to the node's layer) that the hook emits graphc ops with."""

    def __init__(self, node: onnx.NodeProto, inputs: list[Value | None], b: Builder, opset: int):
        self.node, self.inputs, self.b, self.opset = node, inputs, b, opset
        self.op_type, self.domain = node.op_type, node.domain
        self.attrs = {a.name: attr_value(a) for a in node.attribute}
        self.n_outputs = len(node.output)

    # -- inputs -------------------------------------------------------------------------
    def x(self, i: int) -> Value | None:
        return self.inputs[i] if i < len(self.inputs) else None

    def has(self, i: int) -> bool:
        return self.x(i) is not None

    def const(self, i: int, what: str = "") -> np.ndarray:
        """The value of input i when it is a constant, a folded subgraph or an initializer."""
        v = self.x(i)
        if v is None or v.data is None:
            raise self.unsupported(f"input {i}{' (' + what + ')' if what else ''} must be a constant "
                                   "(computed at run time here)")
        return v.data

    def ints(self, i: int, what: str = "") -> list:
        """A known 1-D integer input (dims may be symbolic names) as a list."""
        return [d if isinstance(d, str) else int(d) for d in np.asarray(self.const(i, what)).reshape(-1).tolist()]

    # -- attributes ---------------------------------------------------------------------
    def attr(self, name: str, default: Any = _NO_DEFAULT) -> Any:
        if name in self.attrs:
            return self.attrs[name]
        if default is not _NO_DEFAULT:
            return default
        value = schema_default(self.op_type, self.domain, self.opset, name)
        return None if value is _NO_DEFAULT else value

    def only(self, *names: str, **fixed: Any) -> None:
        """Reject every attribute not in `names` whose value differs from its default, and any
        attribute in `fixed` that is not the given value: never a silently wrong answer."""
        for key, value in self.attrs.items():
            if key in names:
                continue
            want = fixed[key] if key in fixed else schema_default(self.op_type, self.domain, self.opset, key)
            if want is _NO_DEFAULT or not _same(value, want):
                raise self.unsupported(f"attribute {key}={value!r} is not supported")

    def max_outputs(self, n: int) -> None:
        used = [o for o in self.node.output[n:] if o]
        if used:
            raise self.unsupported(f"only the first {n} output(s) are supported, not {', '.join(used)}")

    def unsupported(self, message: str) -> ImportError_:
        return ImportError_(f"{self.op_type}: {message}")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    if isinstance(a, float) or isinstance(b, float):
        return abs(float(a) - float(b)) <= 1e-7 * max(1.0, abs(float(b)))
    return a == b
