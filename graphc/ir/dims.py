"""Arithmetic and unification of dims: ints stay ints, symbolic dims become readable expressions.

A symbolic dim is a string: a spec identifier (`N`) or an expression built from one (`H-2`,
`(H-3)//2+1`, `C*H`). Two symbolic dims are equal only when their strings are equal.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

from graphc.errors import ShapeError
from graphc.ir.types import Dim, format_shape

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _atom(d: Dim) -> str:
    """A dim as an operand: wrap compound expressions in parentheses."""
    s = str(d)
    return s if isinstance(d, int) or _IDENT.match(s) or (s.startswith("(") and s.endswith(")")) else f"({s})"


def mul(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    if a == 1:
        return b
    if b == 1:
        return a
    return f"{_atom(a)}*{_atom(b)}"


def product(dims: Iterable[Dim]) -> Dim:
    result: Dim = 1
    for d in dims:
        result = mul(result, d)
    return result


def add(a: Dim, k: int) -> Dim:
    """a + k for an int k."""
    if isinstance(a, int):
        return a + k
    if k == 0:
        return a
    return f"{a}{'+' if k > 0 else '-'}{abs(k)}"


def add_dims(a: Dim, b: Dim) -> Dim:
    if isinstance(b, int):
        return add(a, b)
    if isinstance(a, int):
        return add(b, a)
    return f"{a}+{_atom(b)}"


def floordiv(a: Dim, k: int) -> Dim:
    if isinstance(a, int):
        return a // k
    return a if k == 1 else f"{_atom(a)}//{k}"


def conv_out(size: Dim, kernel: int, stride: int, pad_total: int, dilation: int) -> Dim:
    """Output length of a convolution or pooling window along one axis."""
    span = dilation * (kernel - 1) + 1
    if isinstance(size, int):
        return (size + pad_total - span) // stride + 1
    return add(floordiv(add(size, pad_total - span), stride), 1)


def same_dim(a: Dim, b: Dim) -> bool:
    return a == b


def unify(a: Dim, b: Dim, what: str) -> Dim:
    """Require two dims to be the same size; the error says why not and how to fix it."""
    if a == b:
        return a
    if isinstance(a, str) and isinstance(b, str):
        raise ShapeError(f"{what}: dims {a} and {b} must be equal",
                         hint=f"they are independent symbolic sizes; use one name for both, e.g. {a}")
    raise ShapeError(f"{what}: dims {a} and {b} must be equal")


def broadcast(shapes: Sequence[Sequence[Dim]], what: str) -> tuple:
    """Numpy broadcasting over symbolic shapes; a 1 stretches, anything else must agree."""
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    out = []
    for axis in range(rank):
        dims = {p[axis] for p in padded} - {1}
        if len(dims) > 1:
            shown = " and ".join(format_shape(s) for s in shapes)
            symbolic = [d for d in dims if isinstance(d, str)]
            hint = None
            if len(symbolic) == len(dims):
                hint = f"{' and '.join(sorted(symbolic))} are independent symbolic sizes; use one name"
            elif symbolic:
                hint = "a symbolic dim cannot be proven equal to a fixed size"
            raise ShapeError(f"{what}: shapes {shown} do not broadcast (axis {axis - rank})", hint=hint)
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def normalize_axis(axis: int, rank: int, what: str) -> int:
    if not -rank <= axis < max(rank, 1):
        raise ShapeError(f"{what}: axis {axis} is out of range for rank {rank}")
    return axis % rank if rank else 0
