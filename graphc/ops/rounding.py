"""Rounding ops: `floor`, `ceil`, `round` (half to even, as ONNX and numpy) and `mod` (ONNX Mod).

floor, ceil and round are piecewise constant: their gradient is zero (as in PyTorch). `mod`
follows ONNX: with `fmod: 0` the result takes the divisor's sign (numpy's mod; for floats ONNX
has it from opset 28, so graphc lowers it through fmod), with `fmod: 1` the dividend's (C's fmod). Its gradient, from
fmod(a, b) = a - b * trunc(a / b): g for a, -g * trunc(a / b) for b.
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir.types import is_float
from graphc.ops import cost
from graphc.ops.common import infer_broadcast, infer_float_same, onnx_node
from graphc.ops.gradutil import unbroadcast
from graphc.ops.registry import OnnxImport, OpDef, register

_ZERO = "the derivative is 0 wherever it exists (piecewise constant), as in PyTorch"

for _name, _fn, _onnx, _doc in (("floor", np.floor, "Floor", "largest integer <= x"),
                                ("ceil", np.ceil, "Ceil", "smallest integer >= x"),
                                ("round", np.round, "Round", "nearest integer, halves to even")):
    register(OpDef(_name, ("x",), infer_float_same(_name), (lambda f: lambda ins, a: f(ins[0]))(_fn),
                   onnx_node(_onnx), vjp=lambda b, n, g: [b.zeros_like(n.inputs[0])], family="math",
                   doc=f"{_doc}; {_ZERO}", onnx_ops=(_onnx,), cost=cost.elementwise))


def _mod_infer(ts, a):
    if a["fmod"] not in (0, 1):
        raise ShapeError(f"mod: fmod must be 0 or 1, got {a['fmod']!r}")
    out = infer_broadcast("mod")(ts, a)
    if out[0].dtype == "bool":
        raise ShapeError("mod: operands must be numbers, got bool")
    return out


def _mod_ref(ins, a):
    x, y = ins
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.fmod(x, y) if a["fmod"] else np.mod(x, y)).astype(x.dtype)


def _mod_lower(ctx, n) -> None:
    """ONNX Mod; a float floor mod (fmod 0, standard only from opset 28) as numpy computes it:
    r = fmod(a, b), plus b where r is not 0 and its sign differs from b's (exact, no division)."""
    a, b = ctx.names(n.inputs)
    out = ctx.names(n.outputs)[0]
    if n.attrs["fmod"] or not is_float(n.outputs[0].dtype):
        ctx.emit("Mod", [a, b], [out], fmod=int(n.attrs["fmod"]))
        return
    zero = ctx.const(np.zeros((), np.dtype(n.outputs[0].dtype)), f"{n.name}/zero")
    r, r_neg, b_neg, differ, nonzero, fix, shifted = (ctx.tmp(n, k) for k in (
        "fmod", "r_negative", "b_negative", "signs_differ", "r_nonzero", "fix", "shifted"))
    ctx.emit("Mod", [a, b], [r], fmod=1)
    ctx.emit("Less", [r, zero], [r_neg])
    ctx.emit("Less", [b, zero], [b_neg])
    ctx.emit("Xor", [r_neg, b_neg], [differ])
    is_zero = ctx.tmp(n, "r_zero")
    ctx.emit("Equal", [r, zero], [is_zero])
    ctx.emit("Not", [is_zero], [nonzero])
    ctx.emit("And", [differ, nonzero], [fix])
    ctx.emit("Add", [r, b], [shifted])
    ctx.emit("Where", [fix, shifted, r], [out])


def _trunc(b, v):
    """trunc(v) = sign(v) * floor(|v|)."""
    return b.mul(b.sign(v), b.floor(b.abs(v)))


def _mod_vjp(b, n, g):
    """mod(a, b) = a - b * q with q = trunc(a / b) (fmod: 1) or floor(a / b) (fmod: 0)."""
    x, y = n.inputs
    if not is_float(x.dtype):
        return [None, None]
    ratio = b.div(x, y)
    q = _trunc(b, ratio) if n.attrs["fmod"] else b.floor(ratio)
    return [unbroadcast(b, g[0], x), unbroadcast(b, b.neg(b.mul(g[0], q)), y)]


register(OpDef("mod", ("a", "b"), _mod_infer, _mod_ref, _mod_lower, attrs={"fmod": 0},
               vjp=_mod_vjp, family="math", doc="remainder of a / b with numpy broadcasting: the divisor's sign "
               "(fmod: 0, numpy's mod) or the dividend's (fmod: 1, C's fmod)",
               onnx_ops=("Mod", "Less", "Xor", "Equal", "Not", "And", "Add", "Where"), cost=cost.elementwise,
               onnx_import=OnnxImport(("Mod",), attrs={"fmod": "fmod"})))
