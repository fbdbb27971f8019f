"""Arithmetic and unification of dims: ints stay ints, symbolic dims are normalized expressions.

A symbolic dim is a string: a spec identifier (`N`) or an expression built from them (`H-2`,
`(H-1)//2`, `C*H`), always in the canonical form of `graphc/ir/symbolic.py`, so two dims are
equal exactly when their strings are: `N*12` and `12*N` are one dim, and reshaping `[N, T, C]` to
`[N*T, C]` and back gives `N` and `T` again.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterable, Sequence

from graphc.errors import ShapeError
from graphc.ir import symbolic as sym
from graphc.ir.symbolic import Dim, normalize

__all__ = ["Dim", "add", "add_dims", "broadcast", "conv_out", "div", "floordiv", "format_shape", "mul", "normalize",
           "normalize_axis", "product", "same_dim", "unify"]


def format_shape(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


@lru_cache(maxsize=65536)
def mul(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    return sym.to_dim(sym.pmul(sym.parse(a), sym.parse(b)))


def product(dims: Iterable[Dim]) -> Dim:
    result: Dim = 1
    for d in dims:
        result = mul(result, d)
    return result


def add(a: Dim, k: int) -> Dim:
    """a + k for an int k."""
    return add_dims(a, k)


@lru_cache(maxsize=65536)
def add_dims(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    return sym.to_dim(sym.padd(sym.parse(a), sym.parse(b)))


@lru_cache(maxsize=65536)
def floordiv(a: Dim, k: int) -> Dim:
    if isinstance(a, int):
        return a // k
    return sym.to_dim(sym.pfloordiv(sym.parse(a), k))


def div(a: Dim, b: Dim) -> Dim | None:
    """The exact quotient a / b when it is an integer-valued dim (`N*T / T == N`), else None."""
    if isinstance(a, int) and isinstance(b, int):
        return a // b if b and a % b == 0 else None
    q = sym.pdiv(sym.parse(a), sym.parse(b))
    return sym.to_dim(q) if q is not None and sym.integer_valued(q) else None


def conv_out(size: Dim, kernel: int, stride: int, pad_total: int, dilation: int) -> Dim:
    """Output length of a convolution or pooling window along one axis."""
    span = dilation * (kernel - 1) + 1
    if isinstance(size, int):
        return (size + pad_total - span) // stride + 1
    return add(floordiv(add(size, pad_total - span), stride), 1)


def same_dim(a: Dim, b: Dim) -> bool:
    return a == b


def unify(a: Dim, b: Dim, what: str, hint: str | None = None) -> Dim:
    """Require two dims to be the same size; the error says why not and how to fix it."""
    if a == b:
        return a
    if normalize(a) == normalize(b):
        return normalize(a)
    if isinstance(a, str) and isinstance(b, str):
        raise ShapeError(f"{what}: dims {a} and {b} must be equal",
                         hint=f"use one name for both, e.g. {a}: they are independent symbolic sizes")
    raise ShapeError(f"{what}: dims {a} and {b} must be equal", hint=hint or "make them the same size")


def broadcast(shapes: Sequence[Sequence[Dim]], what: str) -> tuple:
    """Numpy broadcasting over symbolic shapes; a 1 stretches, anything else must agree."""
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    out = []
    for axis in range(rank):
        dims = {normalize(p[axis]) for p in padded} - {1}
        if len(dims) > 1:
            shown = " and ".join(format_shape(s) for s in shapes)
            symbolic = [d for d in dims if isinstance(d, str)]
            hint = f"make axis {axis - rank} the same size in both, or 1 in one of them"
            if len(symbolic) == len(dims):
                hint = f"use one name: {' and '.join(sorted(symbolic))} are independent symbolic sizes"
            elif symbolic:
                hint = "use the same fixed size or name in both: a symbolic dim cannot be proven equal to a fixed size"
            raise ShapeError(f"{what}: shapes {shown} do not broadcast (axis {axis - rank})", hint=hint)
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def normalize_axis(axis: int, rank: int, what: str) -> int:
    if not -rank <= axis < max(rank, 1):
        raise ShapeError(f"{what}: axis {axis} is out of range for rank {rank}",
                         hint=f"use an axis from {-rank} to {rank - 1}" if rank else "use axis 0")
    return axis % rank if rank else 0
