"""Elementwise ops: arithmetic, comparisons, and activations (one definition each)."""

from __future__ import annotations

import math

import numpy as np

from graphc.errors import ShapeError
from graphc.ir.types import TensorType
from graphc.ops import cost
from graphc.ops.common import infer_broadcast, infer_float_same, infer_same, need_float, noop_always, onnx_node
from graphc.ops.float64 import DECOMPOSITIONS, with_float64_fallback
from graphc.ops.gradutil import unbroadcast
from graphc.ops.registry import FLOAT64_DECOMPOSED, FLOAT64_NATIVE, OpDef, register

ACT = "activation"

_erf = np.frompyfunc(math.erf, 1, 1)


def erf(x: np.ndarray) -> np.ndarray:
    return _erf(x).astype(x.dtype)


def _unary(name, ref, onnx_op, vjp=None, family="math", attrs=None, onnx_attrs=None, doc="",
           float_only=True, no_grad=None, **fields):
    lower = onnx_node(onnx_op, onnx_attrs)
    float64 = FLOAT64_NATIVE
    if onnx_op in DECOMPOSITIONS:  # no float64 kernel on onnxruntime's CPU provider
        lower, float64 = with_float64_fallback(onnx_op, lower), FLOAT64_DECOMPOSED
    fields.setdefault("cost", cost.elementwise)
    register(OpDef(name, ("x",), infer_float_same(name) if float_only else infer_same,
                   lambda ins, a: ref(ins[0], a), lower, attrs=attrs or {},
                   vjp=vjp, family=family, doc=doc, no_grad=no_grad, onnx_ops=(onnx_op,), float64=float64,
                   activation=family == ACT, **fields))


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
    from graphc.ir import dims

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
       family=ACT, doc="x * Phi(x), exact (erf) form")


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
        from graphc.ir import dims

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
