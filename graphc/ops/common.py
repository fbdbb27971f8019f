"""Shared pieces for op definitions: common shape rules and ONNX lowering helpers."""

from __future__ import annotations

from typing import Callable

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import dims
from graphc.ir.types import TensorType, format_shape, is_float


def need_float(t: TensorType, op: str, what: str = "input") -> None:
    if not is_float(t.dtype):
        raise ShapeError(f"{op}: {what} must be a float tensor, got {t.dtype}",
                         hint="add a cast layer: cast: {to: float32}")


def need_rank(t: TensorType, op: str, ranks, layout: str = "", what: str = "input") -> None:
    ranks = (ranks,) if isinstance(ranks, int) else tuple(ranks)
    if t.rank not in ranks:
        want = layout or " or ".join(f"rank {r}" for r in ranks)
        raise ShapeError(f"{what} has shape {format_shape(t.shape)}, {op} needs {want}")


def same_dtype(types: list[TensorType], op: str) -> str:
    dtypes = {t.dtype for t in types}
    if len(dtypes) > 1:
        raise ShapeError(f"{op}: inputs have different dtypes {', '.join(sorted(dtypes))}",
                         hint="add a cast layer")
    return types[0].dtype


def infer_same(types: list[TensorType], attrs: dict) -> list[TensorType]:
    return [types[0]]


def infer_float_same(op: str):
    def infer(types: list[TensorType], attrs: dict) -> list[TensorType]:
        need_float(types[0], op)
        return [types[0]]
    return infer


def infer_broadcast(op: str, out_dtype: str | None = None):
    def infer(types: list[TensorType], attrs: dict) -> list[TensorType]:
        dtype = same_dtype(types, op)
        return [TensorType(out_dtype or dtype, dims.broadcast([t.shape for t in types], op))]
    return infer


def onnx_attrs(node_attrs: dict, mapping: dict[str, str] | None) -> dict:
    """Rename graphc attributes to ONNX ones; attributes mapped to None are dropped."""
    if not mapping:
        return {}
    return {onnx_name: node_attrs[k] for k, onnx_name in mapping.items()
            if onnx_name is not None and node_attrs.get(k) is not None}


def onnx_node(op_type: str, attrs: dict[str, str] | None = None) -> Callable:
    """Lowering to one ONNX node of `op_type`, renaming attributes by `attrs`."""
    def lower(ctx, node) -> None:
        ctx.emit(op_type, ctx.names(node.inputs), ctx.names(node.outputs), **onnx_attrs(node.attrs, attrs))
    return lower


def axes_list(axis, rank: int, op: str) -> list[int]:
    """`axis` (int, list or None meaning all) as sorted non-negative axes."""
    if axis is None:
        return list(range(rank))
    axes = [axis] if isinstance(axis, int) else list(axis)
    return sorted({dims.normalize_axis(a, rank, op) for a in axes})


def int64(values) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


# -- no-op rules (`OpDef.noop`): when a node returns its first input unchanged ----------------
def noop_always(node) -> bool:
    """Always the input (identity; dropout at inference)."""
    return True


def noop_same_type(node) -> bool:
    """The input when the output has its type (reshape/squeeze/cast to the same shape or dtype)."""
    return node.inputs[0].type == node.outputs[0].type


def noop_same_type_and(extra: Callable) -> Callable:
    """The input when the output has its type and `extra(node)` holds."""
    def rule(node) -> bool:
        return noop_same_type(node) and extra(node)
    rule.__doc__ = f"same type and {extra.__doc__ or extra.__name__}"
    return rule
