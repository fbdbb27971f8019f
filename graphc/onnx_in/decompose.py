"""ONNX ops that no single graphc op covers, imported as exact compositions of graphc ops.

Constants (`Constant`, `ConstantOfShape`, `Shape` of a known shape, `Range`) become constant
values, which the importer folds through the shape subgraphs exporters emit. Symbolic dims of a
`Shape` stay symbolic (a numpy object array of dims) until a `Reshape`/`Expand` consumes them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from graphc.onnx_in.context import NodeContext
from graphc.ir.types import TensorType
from graphc.ir.graph import Value

DECOMPOSITIONS: dict[str, Callable[[NodeContext], object]] = {}


def decomposition(*op_types: str):
    def deco(fn):
        for op in op_types:
            DECOMPOSITIONS[op] = fn
        return fn
    return deco


def _const(ctx: NodeContext, array) -> object:
    array = np.asarray(array)
    if array.dtype == object:  # a shape with symbolic dims: int64 to the shape rules

        name = ctx.b.graph.fresh_name(f"{ctx.b.layer or 'const'}/shape")
        return Value(name, TensorType("int64", array.shape), kind="const", data=array)
    return ctx.b.graph.add_const(array, f"{ctx.b.layer}/const" if ctx.b.layer else "const")


@decomposition("Constant")
def _constant(ctx: NodeContext):
    for key, cast in (("value", None), ("value_float", np.float32), ("value_floats", np.float32),
                      ("value_int", np.int64), ("value_ints", np.int64)):
        if key in ctx.attrs:
            value = ctx.attrs[key]
            return _const(ctx, np.asarray(value, dtype=cast) if cast else value)
    raise ctx.unsupported(f"attribute {', '.join(ctx.attrs) or '(none)'} is not supported")


@decomposition("ConstantOfShape")
def _constant_of_shape(ctx: NodeContext):
    """A symbolic dim becomes 1: the constant broadcasts to the full shape wherever it is used
    elementwise (an LSTM's zero initial state [1, N, H] is a [1, 1, H] constant)."""
    shape = ctx.ints(0, "shape")
    fill = ctx.attr("value", None)
    fill = np.zeros(1, np.float32) if fill is None else np.asarray(fill).reshape(-1)
    return _const(ctx, np.full([1 if isinstance(d, str) else d for d in shape], fill[0], dtype=fill.dtype))


@decomposition("Shape")
def _shape(ctx: NodeContext):
    ctx.only("start", "end")
    shape = list(ctx.x(0).shape)
    start, end = ctx.attr("start", 0), ctx.attr("end", None)
    shape = shape[start:end]
    if all(isinstance(d, int) for d in shape):
        return _const(ctx, np.asarray(shape, dtype=np.int64))
    return _const(ctx, np.asarray(shape, dtype=object))


@decomposition("Size")
def _size(ctx: NodeContext):
    shape = ctx.x(0).shape
    if not all(isinstance(d, int) for d in shape):
        raise ctx.unsupported(f"the size of a symbolic shape {list(shape)} is not imported")
    return _const(ctx, np.asarray(int(np.prod(shape)), dtype=np.int64))


@decomposition("Range")
def _range(ctx: NodeContext):
    start, limit, delta = (ctx.const(i, "range bound") for i in range(3))
    return _const(ctx, np.arange(start, limit, delta, dtype=np.asarray(start).dtype))


@decomposition("Identity")
def _identity(ctx: NodeContext):
    x = ctx.x(0)
    if x.kind == "param":  # the legacy exporter shares equal initializers: the alias keeps its own name
        out = ctx.node.output[0]
        p = ctx.b.graph.add_param(out, x.data.copy())
        p.trainable = x.trainable and not out.endswith(("running_mean", "running_var"))
        return p
    return x


@decomposition("Dropout")
def _dropout(ctx: NodeContext):
    """Inference: the identity, and an all-true mask."""
    if ctx.has(2) and bool(np.asarray(ctx.const(2, "training_mode"))):
        raise ctx.unsupported("training_mode=true is not supported (inference graphs only)")
    if len(ctx.node.output) < 2 or not ctx.node.output[1]:
        return ctx.x(0)
    x = ctx.x(0)
    if not all(isinstance(d, int) for d in x.shape):
        raise ctx.unsupported("the mask output of a symbolic shape is not supported")
    return [ctx.b.identity(x), _const(ctx, np.ones(x.shape, bool))]


def _chain(ctx: NodeContext, op: str):
    inputs = [v for v in ctx.inputs if v is not None]
    y = inputs[0]
    for v in inputs[1:]:
        y = ctx.b.emit(op, y, v)
    return y if len(inputs) > 1 else ctx.b.identity(y)


DECOMPOSITIONS["Sum"] = lambda ctx: _chain(ctx, "add")
DECOMPOSITIONS["Max"] = lambda ctx: _chain(ctx, "maximum")
DECOMPOSITIONS["Min"] = lambda ctx: _chain(ctx, "minimum")


@decomposition("Mean")
def _mean(ctx: NodeContext):
    y = _chain(ctx, "add")
    n = len([v for v in ctx.inputs if v is not None])
    return ctx.b.div(y, ctx.b.const(float(n), y.dtype)) if n > 1 else y


def _hard_sigmoid(ctx: NodeContext, x, alpha: float, beta: float):
    b = ctx.b
    z = b.add(b.mul(x, b.const(alpha, x.dtype)), b.const(beta, x.dtype))
    return b.minimum(b.maximum(z, b.const(0.0, x.dtype)), b.const(1.0, x.dtype))


@decomposition("HardSigmoid")
def _hardsigmoid(ctx: NodeContext):
    ctx.only("alpha", "beta")
    return _hard_sigmoid(ctx, ctx.x(0), ctx.attr("alpha"), ctx.attr("beta"))


@decomposition("PRelu")
def _prelu(ctx: NodeContext):
    b, x, slope = ctx.b, ctx.x(0), ctx.x(1)
    return b.where(b.greater(x, b.const(0.0, x.dtype)), x, b.mul(x, slope))


@decomposition("InstanceNormalization")
def _instance_norm(ctx: NodeContext):
    """(x - mean) / sqrt(var + eps) * scale + bias over the spatial axes of each (n, c)."""
    ctx.only("epsilon")
    b, x = ctx.b, ctx.x(0)
    axes = list(range(2, x.type.rank))
    per_channel = [1, -1] + [1] * (x.type.rank - 2)
    xc = b.sub(x, b.mean(x, axis=axes, keepdims=True))
    var = b.mean(b.mul(xc, xc), axis=axes, keepdims=True)
    y = b.div(xc, b.sqrt(b.add(var, b.const(ctx.attr("epsilon"), x.dtype))))
    y = b.mul(y, b.reshape(ctx.x(1), shape=per_channel))
    return b.add(y, b.reshape(ctx.x(2), shape=per_channel))


@decomposition("LRN")
def _lrn(ctx: NodeContext):
    """x / (bias + alpha / size * sum of x^2 over a window of `size` channels) ** beta; the
    channel window sum is an avgpool over a [N, 1, C, H*W] view (padding counted) times size."""
    ctx.only("alpha", "beta", "bias", "size")
    b, x = ctx.b, ctx.x(0)
    size = int(ctx.attr("size"))
    if x.type.rank < 3 or not all(isinstance(d, int) for d in x.shape[1:]):
        raise ctx.unsupported(f"needs [N, C, spatial...] with fixed C and spatial sizes, got {list(x.shape)}")
    c, rest = x.shape[1], int(np.prod(x.shape[2:]))
    sq = b.reshape(b.mul(x, x), shape=[0, 1, c, rest])
    lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2
    if hi * 2 > size:  # avgpool pads are at most half the window: pad the channels by concat instead
        raise ctx.unsupported(f"size={size} is not supported")
    window = b.avgpool(sq, kernel=[size, 1], strides=[1, 1], pads=[lo, 0, hi, 0], count_include_pad=1)
    total = b.reshape_as(b.mul(window, b.const(float(size), x.dtype)), x)
    scale = b.add(b.mul(total, b.const(ctx.attr("alpha") / size, x.dtype)), b.const(ctx.attr("bias"), x.dtype))
    return b.div(x, b.pow(scale, b.const(ctx.attr("beta"), x.dtype)))


@decomposition("GlobalMaxPool")
def _global_maxpool(ctx: NodeContext):
    x = ctx.x(0)
    return ctx.b.max(x, axis=list(range(2, x.type.rank)), keepdims=True)


@decomposition("Not")
def _not(ctx: NodeContext):
    return ctx.b.equal(ctx.x(0), ctx.b.const(False, "bool"))


@decomposition("CastLike")
def _cast_like(ctx: NodeContext):
    ctx.only(saturate=1)
    x, like = ctx.x(0), ctx.x(1)
    return x if x.dtype == like.dtype and x.kind == "const" else ctx.b.cast(x, to=like.dtype)


@decomposition("Pad")
def _pad(ctx: NodeContext):
    """Padding as a Concat of blocks built from slices of x (symbolic dims on other axes allowed):
    constant blocks, or for mode edge / reflect / wrap the edge element repeated, the mirrored
    rows (without the edge) and the rows from the other end; negative pads crop with a slice."""
    ctx.only("mode", "pads", "value")
    mode = ctx.attr("mode", "constant")
    if mode not in ("constant", "edge", "reflect", "wrap"):
        raise ctx.unsupported(f"mode={mode!r} is not supported (constant, edge, reflect, wrap)")
    b, x = ctx.b, ctx.x(0)
    rank = x.type.rank
    pads = list(ctx.attrs["pads"]) if "pads" in ctx.attrs else ctx.ints(1, "pads")
    value = ctx.attr("value", 0.0) if "value" in ctx.attrs else (
        float(np.asarray(ctx.const(2, "constant_value")).reshape(-1)[0]) if ctx.has(2) else 0.0)
    axes = ctx.ints(3, "axes") if ctx.has(3) else list(range(rank))
    y = x
    for k, axis in enumerate(axes):
        axis %= rank
        lo, hi = pads[k], pads[k + len(axes)]
        if lo < 0 or hi < 0:
            y = b.slice(y, starts=[max(0, -lo)], ends=[hi if hi < 0 else 2**62], axes=[axis])
            lo, hi = max(lo, 0), max(hi, 0)
        parts = [y]
        size = y.shape[axis]
        for n, front in ((lo, True), (hi, False)):
            if not n:
                continue
            limit = size - 1 if mode == "reflect" else size
            if not isinstance(size, int) or n > limit:
                raise ctx.unsupported(f"mode={mode} padding {n} on axis {axis} of size {size} is not supported")
            block = _pad_block(b, y, axis, size, n, front, mode)
            if mode == "constant" and value:
                block = b.add(block, b.const(value, y.dtype))
            parts.insert(0, block) if front else parts.append(block)
        if len(parts) > 1:
            y = b.concat(*parts, axis=axis)
    return y if y is not x else b.identity(x)


def _pad_block(b, y, axis: int, size: int, n: int, front: bool, mode: str):
    """The n rows Pad puts before (front) or after y along `axis` (of fixed length `size`)."""
    cut = lambda start, end, step=1: b.slice(y, starts=[start], ends=[end], axes=[axis], steps=[step])  # noqa: E731
    if mode == "constant":
        return b.zeros_like(cut(0, n))
    if mode == "edge":
        edge = cut(0, 1) if front else cut(size - 1, size)
        return b.concat(*[edge] * n, axis=axis) if n > 1 else edge
    if mode == "wrap":
        return cut(size - n, size) if front else cut(0, n)
    # reflect: the n rows next to the edge, mirrored (the edge row itself not repeated)
    end = size - 2 - n
    return cut(n, 0, -1) if front else cut(size - 2, end if end >= 0 else -(2**62), -1)
