"""Elementwise ops: arithmetic, comparisons, and activations (one definition each)."""

from __future__ import annotations

import math

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import dims
from graphc.ir.types import TensorType
from graphc.ops import cost
from graphc.ops.common import infer_broadcast, infer_float_same, infer_same, need_float, noop_always, onnx_node
from graphc.ops.float64 import DECOMPOSITIONS, Emitter, with_float64_fallback
from graphc.ops.gradutil import unbroadcast
from graphc.ops.registry import FLOAT64_DECOMPOSED, FLOAT64_NATIVE, OpDef, register
from graphc.ir.types import np_dtype

ACT = "activation"

_erf = np.frompyfunc(math.erf, 1, 1)


def erf(x: np.ndarray) -> np.ndarray:
    return _erf(x).astype(x.dtype)


def _unary(name, ref, onnx_op, vjp=None, family="math", attrs=None, onnx_attrs=None, doc="",
           float_only=True, no_grad=None, since=None, **fields):
    lower = onnx_node(onnx_op, onnx_attrs)
    float64 = FLOAT64_NATIVE
    if onnx_op in DECOMPOSITIONS:  # no float64 kernel on onnxruntime's CPU provider
        lower, float64 = with_float64_fallback(onnx_op, lower), FLOAT64_DECOMPOSED
    fields.setdefault("cost", cost.elementwise)
    if since is not None:  # (opset, decomposition): the op is standard from that opset on
        lower = _before_opset(lower, *since)
    register(OpDef(name, ("x",), infer_float_same(name) if float_only else infer_same,
                   lambda ins, a: ref(ins[0], a), lower, attrs=attrs or {},
                   vjp=vjp, family=family, doc=doc, no_grad=no_grad, float64=float64,
                   onnx_ops=(onnx_op,) + (("Mul", "Add", "Erf", "Div") if since else ()), activation=family == ACT,
                   **fields))


def _before_opset(lower, opset: int, decompose):
    """A lowering: `lower` from ONNX `opset` on (and for float64), else `decompose(emitter, x, out)`."""
    def lowering(ctx, n) -> None:
        if ctx.opset >= opset or n.inputs[0].dtype == "float64":
            lower(ctx, n)
            return
        decompose(Emitter(ctx, n), ctx.name(n.inputs[0]), ctx.names(n.outputs)[0])

    return lowering


def _gelu_erf(e, x: str, out: str) -> None:
    """Gelu before opset 20: (x (1 + erf(x / sqrt 2))) 0.5, in the order torch.onnx writes it, the one
    onnxruntime fuses into one Gelu kernel at session start (with x * 0.7071 it does not: 5% slower BERT)."""
    e("Mul", e("Mul", x, e("Add", e("Erf", e("Div", x, e.c(math.sqrt(2.0)))), e.c(1.0))), e.c(0.5), out=out)


def _binary(name, ref, onnx_op, vjp=None, out_dtype=None, no_grad=None, doc=""):
    register(OpDef(name, ("a", "b"), infer_broadcast(name, out_dtype), lambda ins, a: ref(ins[0], ins[1]),
                   onnx_node(onnx_op), vjp=vjp, no_grad=no_grad, doc=doc, onnx_ops=(onnx_op,),
                   cost=cost.elementwise))


def _step(b, x):
    """1 where x > 0 else 0, in x's dtype."""
    return b.cast(b.greater(x, 0.0), to=x.dtype)


# -- arithmetic -----------------------------------------------------------------------------
_binary("add", np.add, "Add", lambda b, n, g: [unbroadcast(b, g[0], n.inputs[0]), unbroadcast(b, g[0], n.inputs[1])],
        doc="a + b with numpy broadcasting")
_binary("sub", np.subtract, "Sub",
        lambda b, n, g: [unbroadcast(b, g[0], n.inputs[0]), unbroadcast(b, b.neg(g[0]), n.inputs[1])],
        doc="a - b with numpy broadcasting")
_binary("mul", np.multiply, "Mul",
        lambda b, n, g: [unbroadcast(b, b.mul(g[0], n.inputs[1]), n.inputs[0]),
                         unbroadcast(b, b.mul(g[0], n.inputs[0]), n.inputs[1])],
        doc="a * b with numpy broadcasting")


def _div_ref(a, b):
    if np.issubdtype(a.dtype, np.integer):  # truncates toward zero, as ONNX Div and C
        q = np.floor_divide(a, b)
        return (q + ((q < 0) & (q * b != a))).astype(np.result_type(a, b))
    return np.divide(a, b)


_binary("div", _div_ref, "Div",
        lambda b, n, g: [unbroadcast(b, b.div(g[0], n.inputs[1]), n.inputs[0]),
                         unbroadcast(b, b.neg(b.div(b.mul(g[0], n.outputs[0]), n.inputs[1])), n.inputs[1])],
        doc="a / b (integer division truncates as ONNX for ints)")


def _pow_vjp(b, n, g):
    x, y = n.inputs
    dx = b.mul(g[0], b.mul(y, b.pow(x, b.sub(y, 1.0))))
    dy = b.mul(g[0], b.mul(n.outputs[0], b.log(x)))
    return [unbroadcast(b, dx, x), unbroadcast(b, dy, y)]


_binary("pow", lambda a, b: np.power(a, b), "Pow", _pow_vjp, doc="a ** b")


def _minmax_vjp(pick_a_op):
    def vjp(b, n, g):
        x, y = n.inputs
        mask = b.cast(b.emit(pick_a_op, x, y), to=x.dtype)  # 1 where a is chosen
        return [unbroadcast(b, b.mul(g[0], mask), x), unbroadcast(b, b.mul(g[0], b.sub(1.0, mask)), y)]
    return vjp


_binary("maximum", np.maximum, "Max", _minmax_vjp("greater_equal"), doc="elementwise max(a, b)")
_binary("minimum", np.minimum, "Min", _minmax_vjp("less_equal"), doc="elementwise min(a, b)")

_COMPARE = "comparison: boolean output"
_binary("equal", np.equal, "Equal", out_dtype="bool", no_grad=_COMPARE, doc="a == b")
_binary("greater", np.greater, "Greater", out_dtype="bool", no_grad=_COMPARE, doc="a > b")
_binary("less", np.less, "Less", out_dtype="bool", no_grad=_COMPARE, doc="a < b")
_binary("greater_equal", np.greater_equal, "GreaterOrEqual", out_dtype="bool", no_grad=_COMPARE, doc="a >= b")
_binary("less_equal", np.less_equal, "LessOrEqual", out_dtype="bool", no_grad=_COMPARE, doc="a <= b")


def _where_infer(types, attrs):
    c, a, b = types
    if c.dtype != "bool":
        raise ShapeError(f"where: condition must be bool, got {c.dtype}")
    if a.dtype != b.dtype:
        raise ShapeError(f"where: branches have different dtypes {a.dtype} and {b.dtype}")
    return [TensorType(a.dtype, dims.broadcast([c.shape, a.shape, b.shape], "where"))]


def _where_vjp(b, n, g):
    c, x, y = n.inputs
    zero = b.const(0.0, g[0].dtype)
    return [None, unbroadcast(b, b.where(c, g[0], zero), x), unbroadcast(b, b.where(c, zero, g[0]), y)]


register(OpDef("where", ("cond", "a", "b"), _where_infer, lambda ins, a: np.where(ins[0], ins[1], ins[2]),
               onnx_node("Where"), vjp=_where_vjp, doc="a where cond else b", onnx_ops=("Where",),
               cost=cost.elementwise, data_from=1))

# -- unary math -----------------------------------------------------------------------------
_unary("neg", lambda x, a: -x, "Neg", lambda b, n, g: [b.neg(g[0])], float_only=False, doc="-x")
_unary("exp", lambda x, a: np.exp(x), "Exp", lambda b, n, g: [b.mul(g[0], n.outputs[0])], doc="e ** x")
_unary("log", lambda x, a: np.log(x), "Log", lambda b, n, g: [b.div(g[0], n.inputs[0])], doc="natural log")
_unary("sqrt", lambda x, a: np.sqrt(x), "Sqrt",
       lambda b, n, g: [b.div(b.mul(g[0], 0.5), n.outputs[0])], doc="square root")
_unary("abs", lambda x, a: np.abs(x), "Abs", lambda b, n, g: [b.mul(g[0], b.sign(n.inputs[0]))],
       float_only=False, doc="|x|")
_unary("sign", lambda x, a: np.sign(x), "Sign", lambda b, n, g: [None], float_only=False,
       doc="-1, 0 or 1 (piecewise constant: its gradient is zero)")
_unary("reciprocal", lambda x, a: 1.0 / x, "Reciprocal",
       lambda b, n, g: [b.neg(b.mul(g[0], b.mul(n.outputs[0], n.outputs[0])))], doc="1 / x")
_unary("erf", lambda x, a: erf(x), "Erf",
       lambda b, n, g: [b.mul(g[0], b.mul(2.0 / math.sqrt(math.pi), b.exp(b.neg(b.mul(n.inputs[0], n.inputs[0])))))],
       doc="Gauss error function")
_unary("sin", lambda x, a: np.sin(x), "Sin", lambda b, n, g: [b.mul(g[0], b.cos(n.inputs[0]))], doc="sine")
_unary("cos", lambda x, a: np.cos(x), "Cos", lambda b, n, g: [b.neg(b.mul(g[0], b.sin(n.inputs[0])))],
       doc="cosine (also learning-rate schedules)")
_unary("identity", lambda x, a: x, "Identity", lambda b, n, g: [g[0]], float_only=False, family="shape",
       doc="x unchanged", cost=cost.free, noop=noop_always)

# -- activations (family "activation": usable as a layer's `activation:`) -------------------


def _sigmoid(x):
    return (1.0 / (1.0 + np.exp(-x))).astype(x.dtype)


def _softplus(x):
    return (np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))).astype(x.dtype)


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805

_unary("relu", lambda x, a: np.maximum(x, 0).astype(x.dtype), "Relu",
       lambda b, n, g: [b.mul(g[0], _step(b, n.inputs[0]))], family=ACT, doc="max(x, 0)")
_unary("sigmoid", lambda x, a: _sigmoid(x), "Sigmoid",
       lambda b, n, g: [b.mul(g[0], b.mul(n.outputs[0], b.sub(1.0, n.outputs[0])))], family=ACT,
       doc="1 / (1 + e ** -x)")
_unary("tanh", lambda x, a: np.tanh(x), "Tanh",
       lambda b, n, g: [b.mul(g[0], b.sub(1.0, b.mul(n.outputs[0], n.outputs[0])))], family=ACT,
       doc="hyperbolic tangent")


def _gelu_vjp(b, n, g):
    x = n.inputs[0]
    cdf = b.mul(0.5, b.add(1.0, b.erf(b.mul(x, 1.0 / math.sqrt(2.0)))))
    pdf = b.mul(1.0 / math.sqrt(2.0 * math.pi), b.exp(b.mul(-0.5, b.mul(x, x))))
    return [b.mul(g[0], b.add(cdf, b.mul(x, pdf)))]


_unary("gelu", lambda x, a: (0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))).astype(x.dtype), "Gelu", _gelu_vjp,
       family=ACT, doc="x * Phi(x), exact (erf) form", since=(20, _gelu_erf))


def _elu_vjp(b, n, g):
    x, y = n.inputs[0], n.outputs[0]
    pos = _step(b, x)
    neg_slope = b.add(y, n.attrs["alpha"])
    return [b.mul(g[0], b.add(pos, b.mul(b.sub(1.0, pos), neg_slope)))]


_unary("elu", lambda x, a: np.where(x > 0, x, a["alpha"] * (np.exp(x) - 1)).astype(x.dtype), "Elu", _elu_vjp,
       family=ACT, attrs={"alpha": 1.0}, onnx_attrs={"alpha": "alpha"}, doc="x if x > 0 else alpha*(e**x - 1)")


def _selu_vjp(b, n, g):
    x = n.inputs[0]
    pos = _step(b, x)
    neg = b.mul(_SELU_SCALE * _SELU_ALPHA, b.exp(x))
    return [b.mul(g[0], b.add(b.mul(pos, _SELU_SCALE), b.mul(b.sub(1.0, pos), neg)))]


_unary("selu", lambda x, a: (_SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * (np.exp(x) - 1))).astype(x.dtype),
       "Selu", _selu_vjp, family=ACT, doc="scaled ELU (self-normalizing)")
_unary("softplus", lambda x, a: _softplus(x), "Softplus",
       lambda b, n, g: [b.mul(g[0], b.sigmoid(n.inputs[0]))], family=ACT, doc="log(1 + e ** x)")


def _leaky_vjp(b, n, g):
    pos = _step(b, n.inputs[0])
    slope = b.add(pos, b.mul(b.sub(1.0, pos), n.attrs["alpha"]))
    return [b.mul(g[0], slope)]


_unary("leaky_relu", lambda x, a: np.where(x > 0, x, a["alpha"] * x).astype(x.dtype), "LeakyRelu", _leaky_vjp,
       family=ACT, attrs={"alpha": 0.01}, onnx_attrs={"alpha": "alpha"}, doc="x if x > 0 else alpha * x")


def _softmax_ref(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(x.dtype)


def _softmax_vjp(b, n, g):
    y, axis = n.outputs[0], n.attrs["axis"]
    gy = b.mul(g[0], y)
    return [b.sub(gy, b.mul(y, b.sum(gy, axis=axis, keepdims=True)))]


def _log_softmax_vjp(b, n, g):
    y, axis = n.outputs[0], n.attrs["axis"]
    return [b.sub(g[0], b.mul(b.exp(y), b.sum(g[0], axis=axis, keepdims=True)))]


def _check_axis_infer(op):
    def infer(types, attrs):
        need_float(types[0], op)
        dims.normalize_axis(attrs["axis"], types[0].rank, op)
        return [types[0]]
    return infer


register(OpDef("softmax", ("x",), _check_axis_infer("softmax"), lambda ins, a: _softmax_ref(ins[0], a["axis"]),
               onnx_node("Softmax", {"axis": "axis"}), attrs={"axis": -1}, vjp=_softmax_vjp, family=ACT,
               onnx_ops=("Softmax",), cost=cost.per_element(3), activation=True,
               doc="e ** x / sum(e ** x) along axis"))
register(OpDef("log_softmax", ("x",), _check_axis_infer("log_softmax"),
               lambda ins, a: (ins[0] - ins[0].max(axis=a["axis"], keepdims=True)
                               - np.log(np.exp(ins[0] - ins[0].max(axis=a["axis"], keepdims=True))
                                        .sum(axis=a["axis"], keepdims=True))).astype(ins[0].dtype),
               onnx_node("LogSoftmax", {"axis": "axis"}), attrs={"axis": -1}, vjp=_log_softmax_vjp, family=ACT,
               onnx_ops=("LogSoftmax",), cost=cost.per_element(3), activation=True,
               doc="log(softmax(x)) along axis, computed stably"))


# -- clip / hardswish (what exporters emit for ReLU6, Hardtanh and MobileNet's hard-swish) ----------
def _clip_ref(ins, a):
    lo = -np.inf if a["min"] is None else a["min"]
    hi = np.inf if a["max"] is None else a["max"]
    return np.clip(ins[0], lo, hi).astype(ins[0].dtype)


def _clip_lower(ctx, n):
    x = n.inputs[0]
    bounds = [ctx.const(np.asarray(n.attrs[k], np_dtype(x.dtype)), f"{n.name}/{k}") if n.attrs[k] is not None else ""
              for k in ("min", "max")]
    while bounds and bounds[-1] == "":
        bounds.pop()
    ctx.emit("Clip", [ctx.name(x)] + bounds, ctx.names(n.outputs))


def _clip_vjp(b, n, g):
    """g where min <= x <= max (PyTorch's convention at the bounds), else 0."""
    x, mask = n.inputs[0], None
    for key, op in (("min", "greater_equal"), ("max", "less_equal")):
        if n.attrs[key] is not None:
            inside = b.cast(b.emit(op, x, b.const(n.attrs[key], x.dtype)), to=x.dtype)
            mask = inside if mask is None else b.mul(mask, inside)
    return [g[0] if mask is None else b.mul(g[0], mask)]


register(OpDef("clip", ("x",), infer_same, _clip_ref, _clip_lower, attrs={"min": None, "max": None}, vjp=_clip_vjp,
               family=ACT, onnx_ops=("Clip",), cost=cost.per_element(2), doc="x limited to [min, max] (either bound may be omitted): ReLU6 is clip(0, 6)"))


def _hardswish_ref(ins, a):
    x = ins[0]
    return (x * np.clip(x / 6.0 + 0.5, 0.0, 1.0)).astype(x.dtype)


def _hardswish_lower(ctx, n):
    """HardSwish; for float64 (no onnxruntime CPU kernel) x * Clip(x / 6 + 1/2, 0, 1)."""

    x = n.inputs[0]
    if x.dtype != "float64":
        ctx.emit("HardSwish", ctx.names(n.inputs), ctx.names(n.outputs))
        return
    dt = np_dtype(x.dtype)
    scaled, shifted, gate = ctx.tmp(n, "scaled"), ctx.tmp(n, "shifted"), ctx.tmp(n, "gate")
    ctx.emit("Mul", [ctx.name(x), ctx.const(np.asarray(1.0 / 6.0, dt), f"{n.name}/sixth")], [scaled])
    ctx.emit("Add", [scaled, ctx.const(np.asarray(0.5, dt), f"{n.name}/half")], [shifted])
    ctx.emit("Clip", [shifted, ctx.const(np.asarray(0.0, dt), f"{n.name}/zero"),
                      ctx.const(np.asarray(1.0, dt), f"{n.name}/one")], [gate])
    ctx.emit("Mul", [ctx.name(x), gate], ctx.names(n.outputs))


def _hardswish_vjp(b, n, g):
    """d/dx = 0 below -3, x / 3 + 1/2 on [-3, 3], 1 above (PyTorch's convention at the kinks)."""
    x = n.inputs[0]
    middle = b.add(b.mul(x, 1.0 / 3.0), 0.5)
    slope = b.where(b.less(x, -3.0), b.const(0.0, x.dtype), b.where(b.less_equal(x, 3.0), middle,
                                                                     b.const(1.0, x.dtype)))
    return [b.mul(g[0], slope)]


register(OpDef("hardswish", ("x",), infer_float_same("hardswish"), _hardswish_ref, _hardswish_lower,
               vjp=_hardswish_vjp, family=ACT, onnx_ops=("HardSwish", "Mul", "Add", "Clip"), cost=cost.per_element(4),
               float64=FLOAT64_DECOMPOSED, activation=True, doc="x * clip(x / 6 + 1/2, 0, 1) (MobileNetV3's hard swish)"))
