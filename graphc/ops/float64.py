"""float64 on onnxruntime: exact-enough decompositions of the activations whose ONNX ops have no
float64 kernel on onnxruntime's CPU provider (Erf, Gelu, Elu, Selu, Softplus, LeakyRelu), and
warnings for the ops that stay unsupported there (Conv, ConvTranspose, AveragePool).

The decompositions use only ops with float64 kernels (Exp, Log, Div, Mul, Add, Sub, Abs, Sign,
Min, Max, Greater, Equal, Where) and keep float64 precision (no float32 casts):

- expm1(x) and log1p(e) use Kahan's tricks, (u - 1) * x / log(u) with u = exp(x), and
  e * log(w) / (w - 1) with w = 1 + e, accurate to a few ulps where exp(x) - 1 and log(1 + e) lose
  all relative precision near 0;
- erf(t): for |t| < 2 the all-positive series erf(a) = 2/sqrt(pi) e^(-a^2) sum_n 2^n a^(2n+1) /
  (2n+1)!! (30 terms, no cancellation), for |t| >= 2 erfc(a) from Laplace's continued fraction
  e^(-a^2)/sqrt(pi) / (a + (1/2)/(a + 1/(a + (3/2)/(a + ...)))) (60 terms). Measured against
  50-digit mpmath over [-30, 30] and tiny values: relative error < 5e-16 (a few ulps);
- gelu(x) = 0.5 x erfc(-x/sqrt 2): relative error < 7e-14 for -2.9 < x < 0 (erfc as 1 - erf
  there), < 5e-15 elsewhere, also far out on the negative side where PyTorch's float64
  0.5 x (1 + erf(x/sqrt 2)) loses every digit.
About 200 ONNX nodes per erf or gelu, 10 per elu/selu/softplus: float64 graphs only.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from graphc.ir.types import np_dtype

_ERF_SPLIT, _SERIES_TERMS, _CF_TERMS = 2.0, 30, 60
DECOMPOSITION_OPS = ("Exp", "Log", "Div", "Mul", "Add", "Sub", "Abs", "Sign", "Neg", "Min", "Max", "Greater", "Less",
                     "Equal", "Where")  # every ONNX op type the decompositions emit
_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805


class Emitter:
    """Adds ONNX nodes for one graphc node: fresh temporaries and cached scalar constants."""

    def __init__(self, ctx, node):
        self.ctx, self.node = ctx, node
        self.dtype = np_dtype(node.inputs[0].dtype)
        self._consts: dict[float, str] = {}

    def __call__(self, op_type: str, *inputs: str, out: str | None = None, **attrs) -> str:
        name = out or self.ctx.tmp(self.node, op_type.lower())
        self.ctx.emit(op_type, list(inputs), [name], **attrs)
        return name

    def c(self, value: float) -> str:
        value = float(value)
        if value not in self._consts:
            self._consts[value] = self.ctx.const(np.asarray(value, self.dtype), f"{self.node.name}/k")
        return self._consts[value]


def expm1(e: Emitter, x: str) -> str:
    """exp(x) - 1 for x <= 0 (Kahan): x where exp(x) rounds to 1. Below -40 it is -1 in float64;
    clamping there keeps log(u) finite (no 0/0 or log(0) even in branches Where discards)."""
    x = e("Max", x, e.c(-40.0))
    u = e("Exp", x)
    one = e("Equal", u, e.c(1.0))
    kahan = e("Mul", e("Sub", u, e.c(1.0)), e("Div", x, e("Where", one, e.c(1.0), e("Log", u))))
    return e("Where", one, x, kahan)


def log1p(e: Emitter, v: str) -> str:
    """log(1 + v) for v >= 0 (Kahan)."""
    w = e("Add", v, e.c(1.0))
    one = e("Equal", w, e.c(1.0))
    kahan = e("Mul", v, e("Div", e("Log", w), e("Where", one, e.c(1.0), e("Sub", w, e.c(1.0)))))
    return e("Where", one, v, kahan)


def _gauss(e: Emitter, v: str, scale: float) -> str:
    """exp(-scale * v^2) for v >= 0 and scale a power of 2: v^2 = h^2 + (v - h)(v + h) with h the
    26 high bits of v (Veltkamp), so h^2 is exact; a rounded v^2 would cost v^2 ulps (6e-14 at 19)."""
    big = e("Mul", v, e.c(2.0 ** 27 + 1.0))
    high = e("Sub", big, e("Sub", big, v))
    low_part = e("Mul", e("Sub", v, high), e("Add", v, high))
    head = e("Exp", e("Mul", e("Mul", high, high), e.c(-scale)))
    return e("Mul", head, e("Exp", e("Mul", low_part, e.c(-scale))))


def _erf_abs(e: Emitter, x: str, scale: float = 1.0) -> tuple[str, str, str]:
    """For a = |x| * sqrt(scale): (erf(a) by the series, erfc(a) by the continued fraction, a < split).
    The tail's Gaussian factor is computed from x itself: scaling x first would cost a^2 ulps."""
    ax = e("Abs", x)
    a = ax if scale == 1.0 else e("Mul", ax, e.c(math.sqrt(scale)))
    inner = e("Min", a, e.c(_ERF_SPLIT))  # the series where it is used (no overflow beyond)
    z = e("Mul", inner, inner)
    coef = [1.0]
    for n in range(1, _SERIES_TERMS + 1):
        coef.append(coef[-1] * 2.0 / (2 * n + 1))
    p = e.c(coef[-1])
    for k in reversed(coef[:-1]):
        p = e("Add", e("Mul", p, z), e.c(k))
    series = e("Mul", e("Mul", e("Exp", e("Neg", z)), e("Mul", inner, p)), e.c(2.0 / math.sqrt(math.pi)))
    outer = e("Max", a, e.c(_ERF_SPLIT))
    t = outer
    for k in range(_CF_TERMS, 0, -1):
        t = e("Add", outer, e("Div", e.c(k / 2.0), t))
    gauss = _gauss(e, e("Max", ax, e.c(_ERF_SPLIT / math.sqrt(scale))), scale)
    tail = e("Div", e("Mul", gauss, e.c(1.0 / math.sqrt(math.pi))), t)
    return series, tail, e("Less", a, e.c(_ERF_SPLIT))


def erf(e: Emitter, x: str, out: str | None = None) -> str:
    series, tail, near = _erf_abs(e, x)
    mag = e("Where", near, series, e("Sub", e.c(1.0), tail))
    return e("Mul", e("Sign", x), mag, out=out)


def erfc_scaled(e: Emitter, x: str, scale: float) -> str:
    """erfc(x * sqrt(scale))."""
    series, tail, near = _erf_abs(e, x, scale)
    pos = e("Where", near, e("Sub", e.c(1.0), series), tail)  # erfc(|.|)
    return e("Where", e("Less", x, e.c(0.0)), e("Sub", e.c(2.0), pos), pos)


def _positive(e: Emitter, x: str) -> str:
    return e("Greater", x, e.c(0.0))


def _lower_erf(e, x, out, a):
    erf(e, x, out)


def _lower_gelu(e, x, out, a):
    e("Mul", e("Mul", x, e.c(0.5)), erfc_scaled(e, e("Neg", x), 0.5), out=out)


def _lower_elu(e, x, out, a):
    e("Where", _positive(e, x), x, e("Mul", expm1(e, e("Min", x, e.c(0.0))), e.c(a["alpha"])), out=out)


def _lower_selu(e, x, out, a):
    neg = e("Mul", expm1(e, e("Min", x, e.c(0.0))), e.c(_SELU_ALPHA * _SELU_SCALE))
    e("Where", _positive(e, x), e("Mul", x, e.c(_SELU_SCALE)), neg, out=out)


def _lower_softplus(e, x, out, a):
    e("Add", e("Max", x, e.c(0.0)), log1p(e, e("Exp", e("Neg", e("Abs", x)))), out=out)


def _lower_leaky_relu(e, x, out, a):
    e("Where", _positive(e, x), x, e("Mul", x, e.c(a["alpha"])), out=out)


DECOMPOSITIONS: dict[str, Callable] = {
    "Erf": _lower_erf, "Gelu": _lower_gelu, "Elu": _lower_elu, "Selu": _lower_selu,
    "Softplus": _lower_softplus, "LeakyRelu": _lower_leaky_relu,
}


def with_float64_fallback(onnx_op: str, plain: Callable) -> Callable:
    """A lowering: `plain` (one ONNX `onnx_op` node), or for float64 input its decomposition."""
    decompose = DECOMPOSITIONS[onnx_op]

    def lower(ctx, n) -> None:
        if n.inputs[0].dtype != "float64":
            plain(ctx, n)
            return
        decompose(Emitter(ctx, n), ctx.name(n.inputs[0]), ctx.names(n.outputs)[0], n.attrs)

    return lower


# -- what stays unsupported ----------------------------------------------------------------
def _unsupported(node) -> str | None:
    """What onnxruntime cannot run of this float64 node (`OpDef.float64`), or None."""
    from graphc.ops.registry import OPS

    opdef = OPS.get(node.op)
    if opdef is None or not node.inputs or node.inputs[0].dtype != "float64":
        return None
    return opdef.float64_unsupported


def float64_runtime_warning(graph) -> str | None:
    """One line warning that onnxruntime's CPU provider cannot run the graph's float64 conv or
    average-pool nodes (the ops whose `float64` says unsupported; None when there are none)."""
    bad = [n for n in graph.nodes if _unsupported(n)]
    if not bad:
        return None
    first = bad[0]
    where = f"{first.loc}: " if first.loc is not None else ""
    kinds = sorted({_unsupported(n) for n in bad})
    layers = sorted({n.layer or n.name for n in bad})
    shown = ", ".join(layers[:3]) + (f" and {len(layers) - 3} more" if len(layers) > 3 else "")
    return (f"{where}warning: onnxruntime's CPU provider cannot run float64 {' or '.join(kinds)} ({shown}): "
            "the model exports, but running it there fails; use dtype float32 to run it on onnxruntime")
