"""Internal ops that gradient rules emit: scatter-backs of maxpool, slice and gather.

Each is complete (shape rule, numpy reference, standard-ONNX lowering, gradient rule), so
gradient graphs can be exported and differentiated again. maxpool_grad and maxpool_gather
are each other's transposes, as are slice/slice_grad and gather/gather_grad.
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import dims
from graphc.ir.types import TensorType, format_shape, np_dtype, onnx_dtype
from graphc.ops import cost
from graphc.ops.common import int64
from graphc.ops.nn import _pad_spatial, _pool_infer, _window_slices
from graphc.ops.registry import REQUIRED, OpDef, register
from graphc.ops.shape import _slice_params

GRAD = "grad"
_POOL_ATTRS = {"kernel": REQUIRED, "strides": REQUIRED, "pads": REQUIRED}


# -- maxpool --------------------------------------------------------------------------------
def maxpool_argmax(x: np.ndarray, a: dict) -> np.ndarray:
    """Flat index into x of each window's (first) maximum, as ONNX MaxPool's Indices output."""
    nd = x.ndim - 2
    kernel, strides, pads = a["kernel"], a["strides"], a["pads"]
    xp = _pad_spatial(x, pads, -np.inf)
    out_sp = [(xp.shape[2 + i] - kernel[i]) // strides[i] + 1 for i in range(nd)]
    offsets = list(np.ndindex(*kernel))
    stack = np.stack([xp[(slice(None), slice(None)) + _window_slices(out_sp, k, strides, [1] * nd)]
                      for k in offsets])
    koff = np.asarray(offsets, dtype=np.int64)[stack.argmax(axis=0)]  # out shape + (nd,)
    grid = np.indices(x.shape[:2] + tuple(out_sp), dtype=np.int64)
    coords = [grid[0], grid[1]] + [grid[2 + i] * strides[i] + koff[..., i] - pads[i] for i in range(nd)]
    return np.ravel_multi_index(coords, x.shape)


def _maxpool_grad_infer(ts, a):
    x, g = ts
    want = _pool_infer("maxpool_grad")([x], a)[0]
    if tuple(g.shape) != tuple(want.shape) or g.dtype != x.dtype:
        raise ShapeError(f"maxpool_grad: cotangent {g} does not match the pooled shape {want}")
    return [x]


def _maxpool_grad_ref(ins, a):
    x, g = ins
    out = np.zeros(x.size, dtype=x.dtype)
    np.add.at(out, maxpool_argmax(x, a).ravel(), g.ravel())
    return out.reshape(x.shape)


def _maxpool_indices(ctx, n) -> str:
    x = ctx.name(n.inputs[0])
    pooled, idx = ctx.tmp(n, "pooled"), ctx.tmp(n, "indices")
    ctx.emit("MaxPool", [x], [pooled, idx], kernel_shape=list(n.attrs["kernel"]), strides=list(n.attrs["strides"]),
             pads=list(n.attrs["pads"]))
    return idx


def _flat(ctx, n, name: str, what: str) -> str:
    out = ctx.tmp(n, what)
    ctx.emit("Reshape", [name, ctx.const(int64([-1]), f"{n.name}/minus1")], [out])
    return out


def _tiles_2d(x_shape: tuple, a: dict) -> bool:
    """Square 2-D windows that tile the input exactly (stride = kernel, no padding, sizes divisible)."""
    k = list(a["kernel"])
    return (len(k) == 2 and k[0] == k[1] and list(a["strides"]) == k and not any(a["pads"])
            and all(isinstance(d, int) and d % k[0] == 0 for d in x_shape[2:]))


def _maxpool_grad_tiled(ctx, n) -> None:
    """Tiling square windows, without MaxPool's slow Indices output: for each window offset
    (i, j), hit = (x[i::k, j::k] == max) and no earlier offset hit (the first max, as MaxPool
    picks it); g * hit, interleaved back by Concat + Reshape along W, then along H."""
    x, a = n.inputs[0], n.attrs
    size = a["kernel"][0]
    outer = [d // size for d in x.shape[2:]]
    axes, steps = ctx.const(int64([2, 3]), f"{n.name}/axes"), ctx.const(int64([size, size]), f"{n.name}/steps")
    taps = {}
    for i, j in np.ndindex(size, size):
        taps[i, j] = ctx.tmp(n, f"x_{i}{j}")
        ends = [i + size * (outer[0] - 1) + 1, j + size * (outer[1] - 1) + 1]
        ctx.emit("Slice", [ctx.name(x), ctx.const(int64([i, j]), f"{n.name}/starts"),
                           ctx.const(int64(ends), f"{n.name}/ends"), axes, steps], [taps[i, j]])
    top = ctx.tmp(n, "max")
    ctx.emit("Max", list(taps.values()), [top])
    last = ctx.const(int64([-1]), f"{n.name}/last")
    taken, rows = None, []
    for i in range(size):
        cols = []
        for j in range(size):
            hit = ctx.tmp(n, f"hit_{i}{j}")
            ctx.emit("Equal", [taps[i, j], top], [hit])
            if taken is not None:
                free, first = ctx.tmp(n, f"free_{i}{j}"), ctx.tmp(n, f"first_{i}{j}")
                ctx.emit("Not", [taken], [free])
                ctx.emit("And", [hit, free], [first])
                hit = first
                if (i, j) != (size - 1, size - 1):
                    now = ctx.tmp(n, f"taken_{i}{j}")
                    ctx.emit("Or", [taken, hit], [now])
                    taken = now
            else:
                taken = hit
            mask, part, col = ctx.tmp(n, f"mask_{i}{j}"), ctx.tmp(n, f"g_{i}{j}"), ctx.tmp(n, f"col_{i}{j}")
            ctx.emit("Cast", [hit], [mask], to=onnx_dtype(x.dtype))
            ctx.emit("Mul", [mask, ctx.name(n.inputs[1])], [part])
            ctx.emit("Unsqueeze", [part, last], [col])
            cols.append(col)
        joined, row, lifted = ctx.tmp(n, f"joined_{i}"), ctx.tmp(n, f"row_{i}"), ctx.tmp(n, f"row_{i}_lifted")
        ctx.emit("Concat", cols, [joined], axis=-1)
        ctx.emit("Reshape", [joined, ctx.const(int64([0, 0, outer[0], outer[1] * size]), f"{n.name}/row_shape")], [row])
        ctx.emit("Unsqueeze", [row, ctx.const(int64([3]), f"{n.name}/row_axis")], [lifted])
        rows.append(lifted)
    stacked = ctx.tmp(n, "rows")
    ctx.emit("Concat", rows, [stacked], axis=3)
    ctx.emit("Reshape", [stacked, ctx.const(int64([0, 0] + list(x.shape[2:])), f"{n.name}/shape")],
             ctx.names(n.outputs))


def _maxpool_grad_lower(ctx, n):
    x = n.inputs[0]
    if _tiles_2d(x.shape, n.attrs):
        _maxpool_grad_tiled(ctx, n)
        return
    idx = _flat(ctx, n, _maxpool_indices(ctx, n), "flat_indices")
    g = _flat(ctx, n, ctx.name(n.inputs[1]), "flat_g")
    x_flat = _flat(ctx, n, ctx.name(x), "flat_x")
    zeros = ctx.tmp(n, "zeros")
    ctx.emit("ConstantOfShape", [_shape(ctx, n, x_flat)], [zeros],
             value=ctx.tensor(np.zeros(1, np_dtype(x.dtype)), f"{n.name}/zero"))
    scattered = ctx.tmp(n, "scattered")
    ctx.emit("ScatterElements", [zeros, idx, g], [scattered], axis=0, reduction="add")
    ctx.emit("Reshape", [scattered, ctx.shape_of(x)], ctx.names(n.outputs))


def _shape(ctx, n, name: str) -> str:
    out = ctx.tmp(n, "shape")
    ctx.emit("Shape", [name], [out])
    return out


register(OpDef("maxpool_grad", ("x", "g"), _maxpool_grad_infer, _maxpool_grad_ref, _maxpool_grad_lower,
               attrs=dict(_POOL_ATTRS),
               vjp=lambda b, n, g: [None, b.maxpool_gather(n.inputs[0], g[0], **n.attrs)],
               family=GRAD, public=False,
               doc="cotangent g of maxpool(x) sent back to the max of each window (summed where windows overlap)",
               onnx_ops=("ConstantOfShape", "ScatterElements", "Reshape", "Shape", "MaxPool", "And", "Cast", "Concat",
                         "Equal", "Max", "Mul", "Not", "Or", "Slice", "Unsqueeze"), cost=cost.elementwise))


def _maxpool_gather_infer(ts, a):
    x, h = ts
    if tuple(h.shape) != tuple(x.shape) or h.dtype != x.dtype:
        raise ShapeError(f"maxpool_gather: {h} does not match the pooled input {x}")
    return _pool_infer("maxpool_gather")([x], a)


def _maxpool_gather_lower(ctx, n):
    idx = _maxpool_indices(ctx, n)
    h = _flat(ctx, n, ctx.name(n.inputs[1]), "flat_h")
    ctx.emit("Gather", [h, idx], ctx.names(n.outputs), axis=0)


register(OpDef("maxpool_gather", ("x", "h"), _maxpool_gather_infer,
               lambda ins, a: ins[1].ravel()[maxpool_argmax(ins[0], a)],
               _maxpool_gather_lower, attrs=dict(_POOL_ATTRS),
               vjp=lambda b, n, g: [None, b.maxpool_grad(n.inputs[0], g[0], **n.attrs)],
               family=GRAD, public=False,
               doc="h read at the position of each maxpool window's max of x (transpose of maxpool_grad)",
               onnx_ops=("Gather", "MaxPool", "Reshape"), cost=cost.free))


# -- slice ----------------------------------------------------------------------------------
def slice_grad_pads(shape: tuple, a: dict) -> list | None:
    """ONNX Pad amounts that undo a unit-step slice of `shape`, or None when it has other steps."""
    starts, ends, axes, steps = _slice_params(TensorType("float32", shape), a)
    if any(st != 1 for st in steps):
        return None
    rank = len(shape)
    pads = [0] * (2 * rank)
    for s, e, ax in zip(starts, ends, axes):
        d = shape[ax]
        if isinstance(d, int):
            lo, hi, _ = slice(s, e, 1).indices(d)
            pads[ax], pads[ax + rank] = lo, d - hi
        elif s >= 0 and (e >= 2**31 or e < 0):
            pads[ax], pads[ax + rank] = s, 0 if e >= 2**31 else -e
        else:
            raise ShapeError(f"slice: the gradient of [{s}:{e}] on symbolic dim {d} needs a fixed size")
    return pads


def _slice_grad_infer(ts, a):
    g, like = ts
    pads = slice_grad_pads(like.shape, a)
    if pads is None and not like.is_static():
        raise ShapeError(f"slice: the gradient of a strided slice needs a fixed shape, got {format_shape(like.shape)}")
    return [TensorType(g.dtype, like.shape)]


def _slice_index(shape: tuple, a: dict) -> tuple:
    starts, ends, axes, steps = _slice_params(TensorType("float32", shape), a)
    index = [slice(None)] * len(shape)
    for s, e, ax, st in zip(starts, ends, axes, steps):
        index[ax] = slice(s, e, st)
    return tuple(index)


def _slice_grad_ref(ins, a):
    g, like = ins
    out = np.zeros(like.shape, dtype=g.dtype)
    out[_slice_index(like.shape, a)] = g
    return out


def _slice_grad_lower(ctx, n):
    g, like = n.inputs
    pads = slice_grad_pads(like.shape, n.attrs)
    if pads is not None:
        ctx.emit("Pad", [ctx.name(g), ctx.const(int64(pads), f"{n.name}/pads")], ctx.names(n.outputs),
                 mode="constant")
        return
    shape = tuple(like.shape)
    flat_idx = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)[_slice_index(shape, n.attrs)].ravel()
    zeros = ctx.tmp(n, "zeros")
    ctx.emit("ConstantOfShape", [ctx.const(int64([int(np.prod(shape))]), f"{n.name}/size")],
             [zeros], value=ctx.tensor(np.zeros(1, np_dtype(g.dtype)), f"{n.name}/zero"))
    scattered = ctx.tmp(n, "scattered")
    ctx.emit("ScatterElements", [zeros, ctx.const(flat_idx, f"{n.name}/indices"), _flat(ctx, n, ctx.name(g), "flat_g")],
             [scattered], axis=0)
    ctx.emit("Reshape", [scattered, ctx.const(int64(shape), f"{n.name}/shape")], ctx.names(n.outputs))


register(OpDef("slice_grad", ("g", "like"), _slice_grad_infer, _slice_grad_ref, _slice_grad_lower,
               attrs={"starts": REQUIRED, "ends": REQUIRED, "axes": None, "steps": None},
               vjp=lambda b, n, g: [b.slice(g[0], **n.attrs), None], family=GRAD, public=False,
               doc="zeros shaped like `like` with g written where slice(like) reads (transpose of slice)",
               onnx_ops=("Pad", "ConstantOfShape", "ScatterElements", "Reshape", "Shape"), cost=cost.free))


# -- gather ---------------------------------------------------------------------------------
def _gather_grad_infer(ts, a):
    g, idx, like = ts
    axis = dims.normalize_axis(a["axis"], like.rank, "gather_grad")
    want = like.shape[:axis] + idx.shape + like.shape[axis + 1:]
    if len(want) != g.rank:
        raise ShapeError(f"gather_grad: cotangent {g} does not match gather output {format_shape(want)}")
    return [TensorType(g.dtype, like.shape)]


def _gather_grad_ref(ins, a):
    g, idx, like = ins
    axis = a["axis"] % like.ndim
    q = idx.ndim
    out = np.zeros(like.shape, dtype=g.dtype)
    moved = np.moveaxis(out, axis, 0)
    gm = np.moveaxis(g, list(range(axis, axis + q)), list(range(q)))
    np.add.at(moved, idx % like.shape[axis], gm)
    return out


def _gather_grad_lower(ctx, n):
    g, idx, like = n.inputs
    r, q = like.type.rank, idx.type.rank
    axis = dims.normalize_axis(n.attrs["axis"], r, "gather_grad")
    shape = ctx.shape_of(like)
    size = ctx.tmp(n, "size")
    ctx.emit("Gather", [shape, ctx.const(int64([axis]), f"{n.name}/axis")], [size], axis=0)
    index = ctx.name(idx)
    if idx.dtype != "int64":
        index64 = ctx.tmp(n, "indices64")
        ctx.emit("Cast", [index], [index64], to=7)
        index = index64
    shifted, neg, wrapped = ctx.tmp(n, "shifted"), ctx.tmp(n, "negative"), ctx.tmp(n, "wrapped")
    ctx.emit("Add", [index, size], [shifted])
    ctx.emit("Less", [index, ctx.const(np.asarray(0, np.int64), f"{n.name}/zero_index")], [neg])
    ctx.emit("Where", [neg, shifted, index], [wrapped])
    last = ctx.tmp(n, "indices")
    ctx.emit("Unsqueeze", [wrapped, ctx.const(int64([-1]), f"{n.name}/last")], [last])
    perm = [axis] + [i for i in range(r) if i != axis]
    updates, zero_shape = ctx.name(g), shape
    if axis != 0:
        updates = ctx.tmp(n, "g_moved")
        ctx.emit("Transpose", [ctx.name(g)], [updates],
                 perm=list(range(axis, axis + q)) + list(range(axis)) + list(range(axis + q, r - 1 + q)))
        zero_shape = ctx.tmp(n, "moved_shape")
        ctx.emit("Gather", [shape, ctx.const(int64(perm), f"{n.name}/perm")], [zero_shape], axis=0)
    zeros = ctx.tmp(n, "zeros")
    ctx.emit("ConstantOfShape", [zero_shape], [zeros],
             value=ctx.tensor(np.zeros(1, np_dtype(g.dtype)), f"{n.name}/zero"))
    if axis == 0:
        ctx.emit("ScatterND", [zeros, last, updates], ctx.names(n.outputs), reduction="add")
        return
    scattered = ctx.tmp(n, "scattered")
    ctx.emit("ScatterND", [zeros, last, updates], [scattered], reduction="add")
    ctx.emit("Transpose", [scattered], ctx.names(n.outputs), perm=np.argsort(perm).tolist())


register(OpDef("gather_grad", ("g", "indices", "like"), _gather_grad_infer, _gather_grad_ref, _gather_grad_lower,
               attrs={"axis": 0},
               vjp=lambda b, n, g: [b.gather(g[0], n.inputs[1], axis=n.attrs["axis"]), None, None],
               family=GRAD, public=False,
               doc="zeros shaped like `like` with g added at the gathered indices (embedding gradient)",
               onnx_ops=("Gather", "Cast", "Add", "Less", "Where", "Unsqueeze", "Transpose", "ConstantOfShape",
                         "ScatterND", "Shape"), cost=cost.elementwise))
