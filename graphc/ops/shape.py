"""Ops that move data without arithmetic: reshape, transpose, concat, split, slice, gather, cast..."""

from __future__ import annotations

from collections import Counter

import numpy as np

from graphc.errors import ShapeError, did_you_mean
from graphc.ir import dims
from graphc.ir.types import DTYPES, TensorType, format_shape, is_float, np_dtype, onnx_dtype
from graphc.ops import cost
from graphc.ops.common import axes_list, int64, noop_same_type, noop_same_type_and, onnx_node
from graphc.ops.gradutil import unbroadcast
from graphc.ops.registry import REQUIRED, OpDef, register

SHAPE = "shape"


# -- transpose ------------------------------------------------------------------------------
def _perm(t: TensorType, attrs) -> list[int]:
    perm = attrs["perm"]
    if perm is None:
        return list(range(t.rank))[::-1]
    if sorted(dims.normalize_axis(p, t.rank, "transpose") for p in perm) != list(range(t.rank)):
        raise ShapeError(f"transpose: perm {list(perm)} is not a permutation of the {t.rank} axes of "
                         f"{format_shape(t.shape)}")
    return [p % t.rank for p in perm]


def _transpose_vjp(b, n, g):
    perm = _perm(n.inputs[0].type, n.attrs)
    return [b.transpose(g[0], perm=list(np.argsort(perm).tolist()))]



def _identity_perm(node) -> bool:
    """the permutation is the identity"""
    return _perm(node.inputs[0].type, node.attrs) == list(range(node.inputs[0].type.rank))


def _one_input(node) -> bool:
    """one input"""
    return len(node.inputs) == 1


def _unit_steps(node) -> bool:
    """every step is 1 (same length with step 1: the whole axis)"""
    steps = node.attrs.get("steps")
    return steps is None or all(s == 1 for s in steps)


register(OpDef("transpose", ("x",), lambda ts, a: [ts[0].with_shape(ts[0].shape[p] for p in _perm(ts[0], a))],
               lambda ins, a: np.transpose(ins[0], _perm(TensorType("float32", ins[0].shape), a)),
               lambda ctx, n: ctx.emit("Transpose", ctx.names(n.inputs), ctx.names(n.outputs),
                                       perm=_perm(n.inputs[0].type, n.attrs)),
               attrs={"perm": None}, vjp=_transpose_vjp, family=SHAPE, doc="permute axes (default: reverse)",
               onnx_ops=("Transpose",), cost=cost.free, noop=noop_same_type_and(_identity_perm)))


# -- reshape --------------------------------------------------------------------------------
def reshape_shape(in_shape: tuple, target: list, op: str = "reshape") -> tuple:
    """ONNX Reshape semantics (0 copies a dim, -1 infers one) over symbolic shapes."""
    if sum(1 for d in target if d == -1) > 1:
        raise ShapeError(f"{op}: at most one -1 in shape {list(target)}")
    out: list = []
    for i, d in enumerate(target):
        if d == 0:
            if i >= len(in_shape):
                raise ShapeError(f"{op}: 0 at position {i} has no input dim to copy from {format_shape(in_shape)}",
                                 hint=f"use 0 only at positions 0 to {len(in_shape) - 1}, or give the size")
            out.append(in_shape[i])
        elif isinstance(d, int) and (d > 0 or d == -1):
            out.append(d)
        else:
            raise ShapeError(f"{op}: bad size {d!r} in shape {list(target)}")
    in_static = int(np.prod([d for d in in_shape if isinstance(d, int)], dtype=np.int64))
    out_static = int(np.prod([d for d in out if isinstance(d, int) and d != -1], dtype=np.int64))
    shown = f"{format_shape(in_shape)} to {list(target)}"
    if -1 in out:
        symbolic = any(isinstance(d, str) for d in in_shape)  # `N*2` holds a static factor too
        if out_static == 0 or (in_static % out_static and not symbolic):
            raise ShapeError(f"{op}: cannot reshape {shown}: {in_static} elements do not divide by {out_static}",
                             hint=f"make the fixed sizes multiply to a divisor of {in_static}")
        left = Counter(in_shape)  # cancel the dims both sides share, then divide what is left
        known = Counter(d for d in out if d != -1)
        common = left & known
        rest = dims.div(dims.product((left - common).elements()), dims.product((known - common).elements()))
        if rest is None:
            why = f": {in_static} elements do not divide by {out_static}" if in_static % out_static else ""
            raise ShapeError(f"{op}: cannot reshape {shown}{why}",
                             hint=f"make the fixed sizes multiply to a divisor of {in_static}" if why
                             else "make the fixed sizes divide the input's dims, or reshape fewer axes")
        out[out.index(-1)] = rest
    elif dims.product(in_shape) != dims.product(out):
        raise ShapeError(f"{op}: cannot reshape {shown}: the element counts differ",
                         hint="make the sizes multiply to the input's element count, or use -1 for one of them")
    return tuple(out)


def _reshape_as_vjp(b, n, g):
    return [b.reshape_as(g[0], n.inputs[0])] + [None] * (len(n.inputs) - 1)


register(OpDef("reshape", ("x",), lambda ts, a: [ts[0].with_shape(reshape_shape(ts[0].shape, list(a["shape"])))],
               lambda ins, a: ins[0].reshape([ins[0].shape[i] if d == 0 else d for i, d in enumerate(a["shape"])]),
               lambda ctx, n: ctx.emit("Reshape", [ctx.name(n.inputs[0]), ctx.const(int64(n.attrs["shape"]),
                                                                                     f"{n.name}/shape")],
                                       ctx.names(n.outputs)),
               attrs={"shape": REQUIRED}, vjp=_reshape_as_vjp, family=SHAPE,
               doc="new shape; 0 keeps a dim, -1 infers one (as ONNX)",
               onnx_ops=("Reshape",), cost=cost.free, noop=noop_same_type))


def _flatten_infer(ts, a):
    t = ts[0]
    axis = a["axis"]
    if not -t.rank <= axis <= t.rank:  # as ONNX Flatten: [-r, r], negative counts from the rank
        raise ShapeError(f"flatten: axis {axis} is out of range for rank {t.rank}")
    axis = axis + t.rank if axis < 0 else axis
    return [t.with_shape((dims.product(t.shape[:axis]), dims.product(t.shape[axis:])))]


register(OpDef("flatten", ("x",), _flatten_infer,
               lambda ins, a: ins[0].reshape(int(np.prod(ins[0].shape[:a["axis"]])), -1),
               onnx_node("Flatten", {"axis": "axis"}), attrs={"axis": 1}, vjp=_reshape_as_vjp, family=SHAPE,
               doc="2-D result: axes before `axis` and from `axis` on each multiplied out (C, H, W order)",
               onnx_ops=("Flatten",), cost=cost.free, noop=noop_same_type))

register(OpDef("reshape_as", ("x", "like"),
               lambda ts, a: [ts[0].with_shape(ts[1].shape)] if dims.product(ts[0].shape) == dims.product(ts[1].shape)
               or not (ts[0].is_static() and ts[1].is_static()) else
               (_ for _ in ()).throw(ShapeError("reshape_as: element counts differ")),
               lambda ins, a: ins[0].reshape(ins[1].shape),
               lambda ctx, n: ctx.emit("Reshape", [ctx.name(n.inputs[0]), ctx.shape_of(n.inputs[1])],
                                       ctx.names(n.outputs)),
               vjp=lambda b, n, g: [b.reshape_as(g[0], n.inputs[0]), None], family=SHAPE, public=False,
               doc="x reshaped to the (runtime) shape of `like`",
               onnx_ops=("Reshape", "Shape"), cost=cost.free, noop=noop_same_type))


# -- unsqueeze / squeeze / expand -----------------------------------------------------------
def _unsqueeze_infer(ts, a):
    t = ts[0]
    rank = t.rank + len(a["axes"])
    axes = sorted(dims.normalize_axis(x, rank, "unsqueeze") for x in a["axes"])
    shape = list(t.shape)
    for ax in axes:
        shape.insert(ax, 1)
    return [t.with_shape(shape)]


def _squeeze_axes(t: TensorType, a) -> list[int]:
    if a["axes"] is None:
        return [i for i, d in enumerate(t.shape) if d == 1]
    axes = axes_list(a["axes"], t.rank, "squeeze")
    for ax in axes:
        if t.shape[ax] != 1:
            raise ShapeError(f"squeeze: axis {ax} of {format_shape(t.shape)} is not 1")
    return axes


def _lower_axes_op(onnx_op, get_axes):
    def lower(ctx, n):
        axes = get_axes(n)
        ctx.emit(onnx_op, [ctx.name(n.inputs[0]), ctx.const(int64(axes), f"{n.name}/axes")], ctx.names(n.outputs))
    return lower


register(OpDef("unsqueeze", ("x",), _unsqueeze_infer,
               lambda ins, a: np.expand_dims(ins[0], tuple(a["axes"])),
               _lower_axes_op("Unsqueeze", lambda n: list(n.attrs["axes"])), attrs={"axes": REQUIRED},
               vjp=_reshape_as_vjp, family=SHAPE, doc="insert size-1 axes",
               onnx_ops=("Unsqueeze",), cost=cost.free, noop=noop_same_type))
register(OpDef("squeeze", ("x",),
               lambda ts, a: [ts[0].with_shape(d for i, d in enumerate(ts[0].shape) if i not in _squeeze_axes(ts[0], a))],
               lambda ins, a: np.squeeze(ins[0], tuple(_squeeze_axes(TensorType("float32", ins[0].shape), a))),
               _lower_axes_op("Squeeze", lambda n: _squeeze_axes(n.inputs[0].type, n.attrs)), attrs={"axes": None},
               vjp=_reshape_as_vjp, family=SHAPE, doc="remove size-1 axes (all of them when axes is omitted)",
               onnx_ops=("Squeeze",), cost=cost.free, noop=noop_same_type))


def _expand_as_infer(ts, a):
    out = dims.broadcast([ts[0].shape, ts[1].shape], "expand_as")
    return [ts[0].with_shape(out)]


register(OpDef("expand_as", ("x", "like"), _expand_as_infer,
               lambda ins, a: np.broadcast_to(ins[0], np.broadcast_shapes(ins[0].shape, ins[1].shape)).copy(),
               lambda ctx, n: ctx.emit("Expand", [ctx.name(n.inputs[0]), ctx.shape_of(n.inputs[1])],
                                       ctx.names(n.outputs)),
               vjp=lambda b, n, g: [unbroadcast(b, g[0], n.inputs[0]), None], family=SHAPE, public=False,
               doc="x broadcast to the (runtime) shape of `like`",
               onnx_ops=("Expand", "Shape"), cost=cost.free, noop=noop_same_type))


def _expand_infer(ts, a):
    shape = list(a["shape"])
    if not all(isinstance(d, (int, str)) and (not isinstance(d, int) or d >= 1) for d in shape):
        raise ShapeError(f"expand: bad shape {shape} (sizes are positive ints)")
    return [ts[0].with_shape(dims.broadcast([ts[0].shape, tuple(shape)], "expand"))]


register(OpDef("expand", ("x",), _expand_infer,
               lambda ins, a: np.broadcast_to(ins[0], np.broadcast_shapes(ins[0].shape, tuple(a["shape"]))).copy(),
               lambda ctx, n: ctx.emit("Expand", [ctx.name(n.inputs[0]), ctx.const(int64(n.attrs["shape"]),
                                                                                    f"{n.name}/shape")],
                                       ctx.names(n.outputs)),
               attrs={"shape": REQUIRED}, vjp=lambda b, n, g: [unbroadcast(b, g[0], n.inputs[0])], family=SHAPE,
               onnx_ops=("Expand",), cost=cost.free, noop=noop_same_type,
               doc="x broadcast to `shape` (as ONNX Expand: a 1 keeps x's size)"))


def _shape_size_lower(ctx, n):
    x = n.inputs[0]
    sizes = [x.shape[a] for a in n.attrs["axes"]]
    if all(isinstance(d, int) for d in sizes):
        value = np.asarray(np.prod(sizes, dtype=np.int64), dtype=np_dtype(n.attrs["dtype"]))
        ctx.emit("Constant", [], ctx.names(n.outputs), value=ctx.tensor(value, f"{n.name}/value"))
        return
    shape = ctx.shape_of(x)
    picked = ctx.tmp(n, "dims")
    ctx.emit("Gather", [shape, ctx.const(int64(n.attrs["axes"]), f"{n.name}/axes")], [picked], axis=0)
    count = ctx.tmp(n, "count")
    ctx.emit("ReduceProd", [picked], [count], keepdims=0)
    ctx.emit("Cast", [count], ctx.names(n.outputs), to=onnx_dtype(n.attrs["dtype"]))


register(OpDef("shape_size", ("x",), lambda ts, a: [TensorType(a["dtype"], ())],
               lambda ins, a: np.asarray(np.prod([ins[0].shape[i] for i in a["axes"]]), dtype=np_dtype(a["dtype"])),
               _shape_size_lower, attrs={"axes": REQUIRED, "dtype": "float32"}, vjp=lambda b, n, g: [None],
               family=SHAPE, public=False, doc="number of elements of x along axes, as a scalar",
               onnx_ops=("Constant", "Shape", "Gather", "ReduceProd", "Cast"), cost=cost.free))


def _zeros_like_lower(ctx, n):
    zero = ctx.tensor(np.zeros(1, np_dtype(n.inputs[0].dtype)), f"{n.name}/zero")
    ctx.emit("ConstantOfShape", [ctx.shape_of(n.inputs[0])], ctx.names(n.outputs), value=zero)


register(OpDef("zeros_like", ("x",), lambda ts, a: [ts[0]], lambda ins, a: np.zeros_like(ins[0]), _zeros_like_lower,
               vjp=lambda b, n, g: [None], family=SHAPE, public=False, doc="zeros of x's shape and dtype",
               onnx_ops=("ConstantOfShape", "Shape"), cost=cost.free))


# -- concat / split -------------------------------------------------------------------------
def _concat_infer(ts, a):
    rank = ts[0].rank
    axis = dims.normalize_axis(a["axis"], rank, "concat")
    dtype = ts[0].dtype
    out = list(ts[0].shape)
    for k, t in enumerate(ts[1:], 1):
        if t.rank != rank or t.dtype != dtype:
            raise ShapeError(f"concat: input {k} has type {t}, input 0 has {ts[0]}",
                             hint="add a cast layer so the inputs have the same dtype" if t.rank == rank
                             else "add a reshape or flatten layer so the inputs have the same rank")
        for i in range(rank):
            if i == axis:
                out[i] = dims.add_dims(out[i], t.shape[i])
            else:
                out[i] = dims.unify(out[i], t.shape[i], f"concat: axis {i} of input {k}")
    return [TensorType(dtype, tuple(out))]


def _concat_vjp(b, n, g):
    axis = dims.normalize_axis(n.attrs["axis"], n.inputs[0].type.rank, "concat")
    sizes = [v.shape[axis] for v in n.inputs]
    if all(isinstance(s, int) for s in sizes):
        parts = b.emit("split", g[0], axis=axis, sizes=sizes)
        return list(parts) if isinstance(parts, list) else [parts]
    if not all(isinstance(s, int) for s in sizes[:-1]):
        raise ShapeError("concat: the gradient needs static sizes along the concat axis (the last input's may be "
                         "symbolic)", hint="put the input with the symbolic size last")
    grads, start = [], 0
    for x, size in zip(n.inputs[:-1], sizes[:-1]):
        grads.append(b.slice(g[0], starts=[start], ends=[start + size], axes=[axis]))
        start += size
    rest = b.slice(g[0], starts=[start], ends=[2**62], axes=[axis])  # to the end: the symbolic size
    return grads + [b.reshape_as(rest, n.inputs[-1])]  # reshape_as restores x's exact symbolic shape


register(OpDef("concat", ("xs*",), _concat_infer, lambda ins, a: np.concatenate(ins, axis=a["axis"]),
               onnx_node("Concat", {"axis": "axis"}), attrs={"axis": -1}, vjp=_concat_vjp, family=SHAPE,
               doc="join along axis",
               onnx_ops=("Concat",), cost=cost.free, noop=noop_same_type_and(_one_input)))


def _split_sizes(t: TensorType, a) -> tuple[int, list]:
    axis = dims.normalize_axis(a["axis"], t.rank, "split")
    size = t.shape[axis]
    if a["sizes"] is not None:
        sizes = list(a["sizes"])
        if isinstance(size, int) and sum(sizes) != size:
            raise ShapeError(f"split: sizes {sizes} add up to {sum(sizes)}, axis {axis} of {format_shape(t.shape)} "
                             f"has {size}")
        return axis, sizes
    num = a["num"]
    if not isinstance(size, int):
        raise ShapeError(f"split: axis {axis} has symbolic size {size}; give `sizes`")
    if num < 1 or size % num:
        raise ShapeError(f"split: axis {axis} of size {size} does not split into {num} equal parts")
    return axis, [size // num] * num


def _split_infer(ts, a):
    axis, sizes = _split_sizes(ts[0], a)
    return [ts[0].with_shape(s if i == axis else d for i, d in enumerate(ts[0].shape)) for s in sizes]


def _split_ref(ins, a):
    axis, sizes = _split_sizes(TensorType("float32", ins[0].shape), a)
    return np.split(ins[0], np.cumsum(sizes)[:-1], axis=axis)


def _split_lower(ctx, n):
    axis, sizes = _split_sizes(n.inputs[0].type, n.attrs)
    ctx.emit("Split", [ctx.name(n.inputs[0]), ctx.const(int64(sizes), f"{n.name}/sizes")], ctx.names(n.outputs),
             axis=axis)


def _split_vjp(b, n, g):
    axis, _ = _split_sizes(n.inputs[0].type, n.attrs)
    parts = [gi if gi is not None else b.zeros_like(out) for gi, out in zip(g, n.outputs)]
    return [b.concat(*parts, axis=axis)]


register(OpDef("split", ("x",), _split_infer, _split_ref, _split_lower, attrs={"axis": -1, "num": 2, "sizes": None},
               outputs=("y*",), vjp=_split_vjp, family=SHAPE,
               doc="cut along axis into `num` equal parts or parts of `sizes`; outputs .0, .1, ...",
               onnx_ops=("Split",), cost=cost.free))


# -- slice ----------------------------------------------------------------------------------
def _slice_params(t: TensorType, a):
    starts, ends = list(a["starts"]), list(a["ends"])
    axes = list(a["axes"]) if a["axes"] is not None else list(range(len(starts)))
    steps = list(a["steps"]) if a["steps"] is not None else [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ShapeError("slice: starts, ends, axes and steps must have the same length")
    axes = [dims.normalize_axis(ax, t.rank, "slice") for ax in axes]
    if any(s == 0 for s in steps):
        raise ShapeError("slice: steps cannot be 0")
    return starts, ends, axes, steps


def _slice_len(d, start, end, step):
    if isinstance(d, int):
        return len(range(*slice(start, end, step).indices(d)))
    if step == 1 and start >= 0 and end >= 2**31:
        return dims.add(d, -start)
    if step == 1 and start >= 0 and end < 0:
        return dims.add(d, end - start)
    if step == 1 and 0 <= start < end < 2**31:
        return end - start
    raise ShapeError(f"slice: cannot compute the length of [{start}:{end}:{step}] on symbolic dim {d}")


def _slice_infer(ts, a):
    t = ts[0]
    starts, ends, axes, steps = _slice_params(t, a)
    shape = list(t.shape)
    for s, e, ax, st in zip(starts, ends, axes, steps):
        shape[ax] = _slice_len(t.shape[ax], s, e, st)
        if shape[ax] == 0:
            raise ShapeError(f"slice: [{s}:{e}:{st}] on axis {ax} of {format_shape(t.shape)} is empty")
    return [t.with_shape(shape)]


def _slice_ref(ins, a):
    starts, ends, axes, steps = _slice_params(TensorType("float32", ins[0].shape), a)
    index = [slice(None)] * ins[0].ndim
    for s, e, ax, st in zip(starts, ends, axes, steps):
        index[ax] = slice(s, e, st)
    return ins[0][tuple(index)]


def _slice_lower(ctx, n):
    starts, ends, axes, steps = _slice_params(n.inputs[0].type, n.attrs)
    names = [ctx.const(int64(v), f"{n.name}/{k}") for k, v in
             (("starts", starts), ("ends", ends), ("axes", axes), ("steps", steps))]
    ctx.emit("Slice", [ctx.name(n.inputs[0])] + names, ctx.names(n.outputs))


register(OpDef("slice", ("x",), _slice_infer, _slice_ref, _slice_lower,
               attrs={"starts": REQUIRED, "ends": REQUIRED, "axes": None, "steps": None},
               vjp=lambda b, n, g: [b.slice_grad(g[0], n.inputs[0], **n.attrs)], family=SHAPE,
               doc="x[starts:ends:steps] along axes (as ONNX Slice; ends past the end are clamped)",
               onnx_ops=("Slice",), cost=cost.free, noop=noop_same_type_and(_unit_steps)))


# -- gather / one_hot -----------------------------------------------------------------------
def _gather_infer(ts, a):
    data, idx = ts
    if idx.dtype not in ("int32", "int64"):
        raise ShapeError(f"gather: indices must be int32 or int64, got {idx.dtype}",
                         hint="add a cast layer before it: cast: {to: int64}")
    axis = dims.normalize_axis(a["axis"], data.rank, "gather")
    return [data.with_shape(data.shape[:axis] + idx.shape + data.shape[axis + 1:])]


register(OpDef("gather", ("x", "indices"), _gather_infer, lambda ins, a: np.take(ins[0], ins[1], axis=a["axis"]),
               onnx_node("Gather", {"axis": "axis"}), attrs={"axis": 0},
               vjp=lambda b, n, g: [b.gather_grad(g[0], n.inputs[1], n.inputs[0], axis=n.attrs["axis"]), None],
               family=SHAPE,
               doc="pick slices of x along axis by integer indices (embedding lookup)",
               onnx_ops=("Gather",), cost=cost.free))


def _one_hot_lower(ctx, n):
    dtype = np_dtype(n.attrs["dtype"])
    ctx.emit("OneHot", [ctx.name(n.inputs[0]), ctx.const(int64(n.attrs["depth"]), f"{n.name}/depth"),
                        ctx.const(np.asarray([0, 1], dtype), f"{n.name}/values")], ctx.names(n.outputs), axis=-1)


def _one_hot_infer(ts, a):
    if ts[0].dtype not in ("int32", "int64"):
        raise ShapeError(f"one_hot: indices must be int32 or int64, got {ts[0].dtype}",
                         hint="add a cast layer, cast: {to: int64}: class labels are integers")
    return [TensorType(a["dtype"], ts[0].shape + (a["depth"],))]


register(OpDef("one_hot", ("indices",), _one_hot_infer,
               lambda ins, a: np.eye(a["depth"], dtype=np_dtype(a["dtype"]))[ins[0]],
               _one_hot_lower, attrs={"depth": REQUIRED, "dtype": "float32"},
               no_grad="integer input: nothing to differentiate", family=SHAPE,
               doc="integer labels to one-hot vectors (last axis)",
               onnx_ops=("OneHot",), cost=cost.free))


# -- cast / constant ------------------------------------------------------------------------
def _cast_infer(ts, a):
    if a["to"] not in DTYPES:
        raise ShapeError(f"cast: unknown dtype '{a['to']}'", hint=did_you_mean(a["to"], DTYPES))
    return [ts[0].with_dtype(a["to"])]


def _cast_vjp(b, n, g):
    x = n.inputs[0]
    return [b.cast(g[0], to=x.dtype) if is_float(x.dtype) and is_float(n.outputs[0].dtype) else None]


register(OpDef("cast", ("x",), _cast_infer, lambda ins, a: ins[0].astype(np_dtype(a["to"])),
               lambda ctx, n: ctx.emit("Cast", ctx.names(n.inputs), ctx.names(n.outputs), to=onnx_dtype(n.attrs["to"])),
               attrs={"to": REQUIRED}, vjp=_cast_vjp, family=SHAPE, doc="convert to dtype `to`",
               onnx_ops=("Cast",), cost=cost.free, noop=noop_same_type))


def _constant_value(a) -> np.ndarray:
    if a["dtype"] not in DTYPES:
        raise ShapeError(f"constant: unknown dtype '{a['dtype']}'", hint=did_you_mean(a["dtype"], DTYPES))
    try:
        return np.asarray(a["value"], dtype=np_dtype(a["dtype"]))
    except (TypeError, ValueError) as e:
        raise ShapeError(f"constant: value is not a {a['dtype']} array ({e})")


register(OpDef("constant", (), lambda ts, a: [TensorType(a["dtype"], _constant_value(a).shape)],
               lambda ins, a: _constant_value(a),
               lambda ctx, n: ctx.emit("Constant", [], ctx.names(n.outputs),
                                       value=ctx.tensor(_constant_value(n.attrs), f"{n.name}/value")),
               attrs={"value": REQUIRED, "dtype": "float32"}, vjp=lambda b, n, g: [], family=SHAPE,
               doc="a fixed tensor given inline: {value: [[1, 2], [3, 4]]}",
               onnx_ops=("Constant",), cost=cost.free))
