"""Attention pieces. Multi-head attention itself is a composite of primitives (see
`graphc.layers.sequence.multi_head_attention`), so its gradient comes from theirs; the only op of
its own is the causal mask, which needs the (possibly symbolic) query and key lengths at run time.
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir.types import format_shape, np_dtype
from graphc.ops import cost
from graphc.ops.common import need_float
from graphc.ops.registry import OpDef, register


def _causal_infer(ts, a):
    x = ts[0]
    need_float(x, "causal_mask")
    if x.rank < 2:
        raise ShapeError(f"causal_mask: input has shape {format_shape(x.shape)}, needs [..., T, S]")
    return [x]


def causal_mask_ref(x: np.ndarray, fill: float) -> np.ndarray:
    """x with x[..., i, j] = fill wherever key j comes after query i (j > i)."""
    t, s = x.shape[-2:]
    future = np.triu(np.ones((t, s), dtype=bool), k=1)
    return np.where(future, np.asarray(fill, dtype=x.dtype), x)


def _causal_lower(ctx, n) -> None:
    x = n.inputs[0]
    dtype = np_dtype(x.dtype)
    true = ctx.tmp(n, "all_true")
    ctx.emit("ConstantOfShape", [ctx.shape_of(x)], [true],
             value=ctx.tensor(np.ones(1, dtype=np.bool_), f"{n.name}/true"))
    mask = ctx.tmp(n, "future")  # True strictly above the diagonal
    ctx.emit("Trilu", [true, ctx.const(np.asarray(1, dtype=np.int64), f"{n.name}/k")], [mask], upper=1)
    fill = ctx.const(np.asarray(n.attrs["fill"], dtype=dtype), f"{n.name}/fill")
    ctx.emit("Where", [mask, fill, ctx.name(x)], ctx.names(n.outputs))


register(OpDef("causal_mask", ("x",), _causal_infer, lambda ins, a: causal_mask_ref(ins[0], a["fill"]), _causal_lower,
               attrs={"fill": float("-inf")},
               vjp=lambda b, n, g: [b.causal_mask(g[0], fill=0.0)], family="attention", public=False,
               doc="scores [..., T, S] with every future position (key j > query i) set to `fill`",
               onnx_ops=("Shape", "ConstantOfShape", "Trilu", "Where"), cost=cost.per_element(1)))
