"""Reductions over axes: sum, mean, max, min, argmax."""

from __future__ import annotations

import numpy as np

from graphc.ir import dims
from graphc.ir.types import TensorType
from graphc.ops import cost
from graphc.ops.common import axes_list, int64
from graphc.ops.registry import OpDef, register

REDUCE_ATTRS = {"axis": None, "keepdims": False}


def _reduce_shape(t: TensorType, attrs: dict, op: str) -> tuple:
    axes = axes_list(attrs["axis"], t.rank, op)
    if attrs["keepdims"]:
        return tuple(1 if i in axes else d for i, d in enumerate(t.shape))
    return tuple(d for i, d in enumerate(t.shape) if i not in axes)


def _infer_reduce(op):
    def infer(types, attrs):
        return [types[0].with_shape(_reduce_shape(types[0], attrs, op))]
    return infer


def _np_axes(x, attrs):
    return tuple(axes_list(attrs["axis"], x.ndim, "reduce"))


def _lower_reduce(onnx_op):
    def lower(ctx, node):
        inputs = ctx.names(node.inputs)
        extra = {}
        if node.attrs["axis"] is not None:
            axes = axes_list(node.attrs["axis"], node.inputs[0].type.rank, node.op)
            if ctx.opset < 18 and onnx_op != "ReduceSum" and axes:  # axes became an input in opset 18
                extra["axes"] = axes
            else:
                inputs.append(ctx.const(int64(axes), f"{node.name}/axes"))
            if not axes:  # axis: [] reduces nothing (as numpy), not everything (ONNX's default)
                extra["noop_with_empty_axes"] = 1
        ctx.emit(onnx_op, inputs, ctx.names(node.outputs), keepdims=int(bool(node.attrs["keepdims"])), **extra)
    return lower


def restore_reduced(b, g, node):
    """Cotangent of a reduction, broadcast back to the input's shape."""
    x = node.inputs[0]
    if not node.attrs["keepdims"]:
        axes = axes_list(node.attrs["axis"], x.type.rank, node.op)
        g = b.unsqueeze(g, axes=axes) if axes else g
    return b.expand_as(g, x)


def _sum_vjp(b, n, g):
    return [restore_reduced(b, g[0], n)]


def _mean_vjp(b, n, g):
    x = n.inputs[0]
    axes = axes_list(n.attrs["axis"], x.type.rank, "mean")
    count = b.shape_size(x, axes=axes, dtype=x.dtype)
    return [b.div(restore_reduced(b, g[0], n), count)]


def _max_vjp(b, n, g):
    x = n.inputs[0]
    y_full = restore_reduced(b, n.outputs[0], n)
    mask = b.cast(b.equal(x, y_full), to=x.dtype)
    count = b.sum(mask, axis=n.attrs["axis"], keepdims=True)
    return [b.div(b.mul(restore_reduced(b, g[0], n), mask), b.expand_as(count, x))]


def _reduce(name, ref, onnx_op, vjp, doc):
    register(OpDef(name, ("x",), _infer_reduce(name),
                   lambda ins, a: np.asarray(ref(ins[0], axis=_np_axes(ins[0], a), keepdims=a["keepdims"]),
                                             dtype=ins[0].dtype),
                   _lower_reduce(onnx_op), attrs=dict(REDUCE_ATTRS), vjp=vjp, family="reduce", doc=doc,
                   onnx_ops=(onnx_op,), cost=cost.per_input_element))


_reduce("sum", np.sum, "ReduceSum", _sum_vjp, "sum over axis (an int, a list, or all when omitted)")
_reduce("mean", np.mean, "ReduceMean", _mean_vjp, "mean over axis (an int, a list, or all when omitted)")
def _extreme(fn, lowest: bool):
    """np.max / np.min, where an empty set gives ONNX's identity: the lowest (max) or highest (min)
    value of the dtype (-inf / inf for floats, False / True for bool)."""
    def ref(x, axis, keepdims):
        if x.size:
            return fn(x, axis=axis, keepdims=keepdims)
        if x.dtype == np.bool_:
            start = not lowest
        elif np.issubdtype(x.dtype, np.floating):
            start = -np.inf if lowest else np.inf
        else:
            start = np.iinfo(x.dtype).min if lowest else np.iinfo(x.dtype).max
        return fn(x, axis=axis, keepdims=keepdims, initial=start)
    return ref


_reduce("max", _extreme(np.max, True), "ReduceMax", _max_vjp, "max over axis; ties share the gradient equally")
_reduce("min", _extreme(np.min, False), "ReduceMin", _max_vjp, "min over axis; ties share the gradient equally")


def _argmax_infer(types, attrs):
    t = types[0]
    axis = dims.normalize_axis(attrs["axis"], t.rank, "argmax")
    shape = tuple(1 if i == axis else d for i, d in enumerate(t.shape)) if attrs["keepdims"] else \
        tuple(d for i, d in enumerate(t.shape) if i != axis)
    return [TensorType("int64", shape)]


def _argmax_ref(ins, a):
    y = np.argmax(ins[0], axis=a["axis"])
    return (np.expand_dims(y, a["axis"]) if a["keepdims"] else y).astype(np.int64)


def _lower_argmax(ctx, node):
    axis = dims.normalize_axis(node.attrs["axis"], node.inputs[0].type.rank, "argmax")
    ctx.emit("ArgMax", ctx.names(node.inputs), ctx.names(node.outputs), axis=axis,
             keepdims=int(bool(node.attrs["keepdims"])))


register(OpDef("argmax", ("x",), _argmax_infer, _argmax_ref, _lower_argmax, attrs={"axis": -1, "keepdims": False},
               no_grad="integer output", family="reduce", doc="index of the largest value along axis",
               onnx_ops=("ArgMax",), cost=cost.per_input_element))
