"""`einsum`: Einstein summation over any number of operands (ONNX Einsum, opset 12+).

The equation is numpy's and ONNX's: comma-separated input terms of letters (a-z, A-Z), at most
one `...` per term (broadcast dims, numpy rules), and an optional `->output`; without one the
output is the letters that appear once, sorted, after the broadcast dims. A letter repeated in
one term takes a diagonal (`ii->i`); a letter missing from the output is summed.

Gradient: each operand's cotangent is itself an einsum of the output cotangent and the other
operands onto that operand's letters. A letter only that operand has is broadcast back (it was
summed), a letter it repeats is put back on the diagonal (an einsum with an identity matrix), and
a broadcast dim of size 1 is summed. For this every operand is first written in a canonical form
where each dim has its own letter (`canonical`).
"""

from __future__ import annotations

import string

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import dims
from graphc.ir.types import TensorType, format_shape, is_float
from graphc.ops.cost import numel
from graphc.ops.registry import REQUIRED, OnnxImport, OpDef, register

LETTERS = string.ascii_letters
_ELLIPSIS = "."  # one character standing for "..." while parsing


def _split_terms(equation) -> tuple[list[str], str | None]:
    """(input terms, output term or None) with "..." as one `.`; the syntax is checked."""
    if not isinstance(equation, str):
        raise ShapeError(f"einsum: equation must be a string like 'ij,jk->ik', got {equation!r}")
    eq = "".join(equation.split())
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    out = rhs if arrow else None
    for term in terms + ([out] if out is not None else []):
        body = term.replace("...", _ELLIPSIS)
        bad = sorted({c for c in body if c not in LETTERS and c != _ELLIPSIS})
        if bad:
            raise ShapeError(f"einsum: equation {equation!r} has {bad[0]!r}; terms are letters a-z, A-Z and '...'")
        if body.count(_ELLIPSIS) > 1:
            raise ShapeError(f"einsum: term {term!r} of {equation!r} has more than one '...'")
    return [t.replace("...", _ELLIPSIS) for t in terms], (out.replace("...", _ELLIPSIS) if out is not None else None)


def parse(equation, ranks: list[int]) -> tuple[list[str], str, int]:
    """(input terms, output term, ellipsis rank): `.` marks the ellipsis in each term, the output
    made explicit. Checks the equation against the operand ranks."""
    terms, out = _split_terms(equation)
    if len(terms) != len(ranks):
        raise ShapeError(f"einsum: equation {equation!r} has {len(terms)} input term(s), got {len(ranks)} operand(s)")
    ell = 0
    for k, (term, rank) in enumerate(zip(terms, ranks)):
        letters = len(term.replace(_ELLIPSIS, ""))
        if _ELLIPSIS in term:
            if letters > rank:
                raise ShapeError(f"einsum: term {k} {_show(term)!r} needs rank >= {letters}, operand {k} has rank {rank}")
            ell = max(ell, rank - letters)
        elif letters != rank:
            raise ShapeError(f"einsum: term {k} {_show(term)!r} has {letters} letter(s), operand {k} has rank {rank}")
    seen = "".join(terms).replace(_ELLIPSIS, "")
    if out is None:
        once = sorted(c for c in set(seen) if seen.count(c) == 1)
        out = (_ELLIPSIS if ell else "") + "".join(once)
    else:
        for c in out.replace(_ELLIPSIS, ""):
            if out.count(c) > 1:
                raise ShapeError(f"einsum: output {_show(out)!r} repeats {c!r}")
            if c not in seen:
                raise ShapeError(f"einsum: output letter {c!r} is in no input term of {equation!r}")
        if ell and _ELLIPSIS not in out:
            raise ShapeError(f"einsum: the inputs' '...' dims must appear in the output of {equation!r}",
                             hint="write '...' in the output term too")
    return terms, out, ell


def _show(term: str) -> str:
    return term.replace(_ELLIPSIS, "...")


def normalized(equation, ranks: list[int]) -> str:
    """The equation without spaces and with its output written out (what the lowering emits)."""
    terms, out, _ = parse(equation, ranks)
    return ",".join(_show(t) for t in terms) + "->" + _show(out)


def canonical(equation, shapes: list[tuple]) -> tuple[list[str], str, dict]:
    """(input terms, output term, letter -> dim) with one letter per dim and no ellipsis: the
    ellipsis dims get fresh letters (right-aligned across operands); an operand's broadcast dim
    of size 1 gets a letter of its own (summed away). Letters of one size must agree."""
    terms, out, ell = parse(equation, [len(s) for s in shapes])
    used = set("".join(terms) + out)
    fresh = (c for c in LETTERS if c not in used)

    def take() -> str:
        try:
            return next(fresh)
        except StopIteration:
            raise ShapeError("einsum: the equation needs more than 52 distinct letters for its dims") from None

    ell_dims = []  # per operand: its ellipsis dims, right-aligned to `ell`
    for term, shape in zip(terms, shapes):
        if _ELLIPSIS in term:
            start = term.index(_ELLIPSIS)
            n = len(shape) - (len(term) - 1)
            ell_dims.append((1,) * (ell - n) + tuple(shape[start:start + n]))
        else:
            ell_dims.append(None)
    full = dims.broadcast([d for d in ell_dims if d is not None] or [()], "einsum '...' dims")
    shared = [take() for _ in range(ell)]
    sizes: dict[str, object] = {c: full[i] for i, c in enumerate(shared)}
    out_terms = []
    for k, (term, shape) in enumerate(zip(terms, shapes)):
        letters, axis = [], 0
        for c in term:
            if c != _ELLIPSIS:
                letters.append(c)
                axis += 1
                continue
            n = len(shape) - (len(term) - 1)
            for i in range(ell - n, ell):
                d = shape[axis]
                if d == 1 and full[i] != 1:  # broadcast: its own letter, summed
                    own = take()
                    sizes[own] = 1
                    letters.append(own)
                else:
                    letters.append(shared[i])
                axis += 1
        for c, d in zip(letters, shape):
            sizes[c] = dims.unify(sizes[c], d, f"einsum: letter {c!r} of operand {k} ({format_shape(shape)})") \
                if c in sizes else d
        out_terms.append("".join(letters))
    return out_terms, out.replace(_ELLIPSIS, "".join(shared)), sizes


# -- the op's parts -----------------------------------------------------------------------------
def _infer(ts: list[TensorType], a: dict) -> list[TensorType]:
    if not ts:
        raise ShapeError("einsum takes at least one operand")
    dtypes = {t.dtype for t in ts}
    if len(dtypes) > 1:
        raise ShapeError(f"einsum: operands have different dtypes {', '.join(sorted(dtypes))}", hint="add a cast layer")
    if ts[0].dtype == "bool":
        raise ShapeError("einsum: operands must be numbers, got bool")
    _, out, sizes = canonical(a["equation"], [t.shape for t in ts])
    return [ts[0].with_shape(tuple(sizes[c] for c in out))]


def _ref(ins: list[np.ndarray], a: dict) -> np.ndarray:
    eq = normalized(a["equation"], [x.ndim for x in ins])
    return np.asarray(np.einsum(eq, *ins)).astype(ins[0].dtype)


def _lower(ctx, node) -> None:
    """The canonical equation: letters only, explicit output (ONNX's shape inference wants every
    '...' of one rank; broadcast dims of size 1 are summed letters of their own instead)."""
    terms, out, _ = canonical(node.attrs["equation"], [v.shape for v in node.inputs])
    ctx.emit("Einsum", ctx.names(node.inputs), ctx.names(node.outputs), equation=",".join(terms) + "->" + out)


def _eye(b, n, dtype: str, letter: str):
    if not isinstance(n, int):
        raise ShapeError(f"einsum: the gradient of a repeated letter {letter!r} needs a fixed size, got {n}")
    return b.const(np.eye(n), dtype, name="einsum/eye")


def operand_grad(b, terms: list[str], out: str, sizes: dict, k: int, g, operands: list):
    """Cotangent of operand k of einsum(terms -> out) given the output cotangent `g`."""
    term = terms[k]
    unique = "".join(dict.fromkeys(term))
    others = set(out).union(*(set(t) for j, t in enumerate(terms) if j != k))
    lonely = [c for c in unique if c not in others]
    kept = "".join(c for c in unique if c not in lonely)
    in_terms = [out] + [t for j, t in enumerate(terms) if j != k]
    values = [g] + [v for j, v in enumerate(operands) if j != k]
    if in_terms == [kept]:
        x = g
    else:
        x = b.einsum(*values, equation=",".join(in_terms) + "->" + kept)
    if lonely:  # summed by this operand alone: every entry got the same cotangent
        x = b.unsqueeze(x, axes=[i for i, c in enumerate(unique) if c in lonely])
        shape = [sizes[c] if c in lonely else 1 for c in unique]
        if all(isinstance(d, int) for d in shape):
            if any(d != 1 for d in shape):
                x = b.expand(x, shape=shape)
        elif len(unique) == len(term):
            x = b.expand_as(x, operands[k])
        else:
            raise ShapeError("einsum: the gradient of a summed letter of symbolic size next to a repeated letter "
                             "is not supported")
    if len(unique) == len(term):
        return x
    # a repeated letter: the cotangent lies on the diagonal, x[i] * eye[i, i']
    letters = set("".join(terms) + out)
    spare = iter(c for c in LETTERS if c not in letters)
    target, eyes, eye_terms, seen = [], [], [], set()
    for c in term:
        if c not in seen:
            seen.add(c)
            target.append(c)
            continue
        f = next(spare, None)
        if f is None:
            raise ShapeError("einsum: the gradient needs more than 52 distinct letters")
        target.append(f)
        eyes.append(_eye(b, sizes[c], x.dtype, c))
        eye_terms.append(c + f)
    return b.einsum(x, *eyes, equation=",".join([unique] + eye_terms) + "->" + "".join(target))


def _vjp(b, node, g):
    operands = list(node.inputs)
    terms, out, sizes = canonical(node.attrs["equation"], [v.shape for v in operands])
    result = []
    for k, v in enumerate(operands):
        if not is_float(v.dtype) or g[0] is None:
            result.append(None)
            continue
        result.append(operand_grad(b, terms, out, sizes, k, g[0], operands))
    return result


def _cost(ins: list[TensorType], outs: list[TensorType], a: dict) -> tuple[int, int]:
    """(n-1) multiplies per point of the index space (every distinct letter), as MACs; one
    operand: one add per summed element."""
    _, out, sizes = canonical(a["equation"], [t.shape for t in ins])
    space = 1
    for d in sizes.values():
        space *= d if isinstance(d, int) else 1
    if len(ins) == 1:
        return 0, space - numel(outs[0]) if space > numel(outs[0]) else 0
    macs = (len(ins) - 1) * space
    return macs, 2 * macs


def _import(ctx):
    ctx.only("equation")
    return ctx.b.einsum(*[v for v in ctx.inputs if v is not None], equation=str(ctx.attr("equation")))


register(OpDef("einsum", ("operands*",), _infer, _ref, _lower, attrs={"equation": REQUIRED}, vjp=_vjp, family="math",
               doc="Einstein summation (numpy's equation: 'ij,jk->ik', '...' broadcasts, a letter repeated in a term "
                   "takes the diagonal, letters missing from the output are summed)",
               onnx_ops=("Einsum",), cost=_cost,
               onnx_import=OnnxImport(("Einsum",), opsets=(12, 99), attrs={"equation": "equation"}, convert=_import)))
