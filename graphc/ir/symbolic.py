"""Normalized symbolic dim expressions: sums of products and quotients of symbols and integers,
plus floor divisions by an integer (what conv and pooling output sizes need).

A dim expression is kept as its canonical string, so equal expressions are equal strings:
`N*12` and `12*N` both print `N*12`, `N*T/T` is `N`, `(H-2)*4` is `H*4-8`. The canonical form:

- a term is an optional rational coefficient and atoms with nonzero integer exponents; it prints
  atoms in name order, then the coefficient, quotients after `/` (`N*12`, `N*3/2`, `N/(S*T)`, `N*N`);
- a sum prints its terms in a fixed order, the constant last (`H+W`, `2*H-1`, `H-2`);
- `p // k` (k a positive int) takes out what divides exactly: for integer-valued p it is
  `q + (r)//k` with every coefficient of r in [0, k) but the constant in (-k, 0] (so a 2x2 pool of
  H is `H//2`, a 3x3 stride-2 conv of H is `(H-1)//2`); `(r)//k` is then an atom.

Strings that are not such expressions (an ONNX dim_param like `batch size`) are atoms as written.
Every printed form is valid Python, so `eval(dim, {}, sizes)` computes the size.
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache
from typing import Union

Dim = Union[int, str]
Term = tuple[tuple[str, int], ...]  # sorted (atom, exponent != 0)
Poly = tuple[tuple[Term, Fraction], ...]  # sorted, nonzero coefficients

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOKEN = re.compile(r"\s*(?:(\d+)|([A-Za-z_][A-Za-z0-9_]*)|(//|[-+*/()]))")


# -- polynomial arithmetic ---------------------------------------------------------------------
def _poly(items: dict[Term, Fraction]) -> Poly:
    return tuple(sorted((t, c) for t, c in items.items() if c != 0))


def const(value) -> Poly:
    return _poly({(): Fraction(value)})


def atom(name: str) -> Poly:
    return ((((name, 1),), Fraction(1)),)


def padd(a: Poly, b: Poly) -> Poly:
    items = dict(a)
    for t, c in b:
        items[t] = items.get(t, Fraction(0)) + c
    return _poly(items)


def pscale(a: Poly, k) -> Poly:
    return _poly({t: c * k for t, c in a})


def _tmul(a: Term, b: Term) -> Term:
    exps = dict(a)
    for name, e in b:
        exps[name] = exps.get(name, 0) + e
    return tuple(sorted((n, e) for n, e in exps.items() if e != 0))


def pmul(a: Poly, b: Poly) -> Poly:
    items: dict[Term, Fraction] = {}
    for ta, ca in a:
        for tb, cb in b:
            t = _tmul(ta, tb)
            items[t] = items.get(t, Fraction(0)) + ca * cb
    return _poly(items)


def pdiv(a: Poly, b: Poly) -> Poly | None:
    """a / b when b is a single term (a monomial or a number), else None."""
    if len(b) != 1:
        return None
    (tb, cb), = b
    inv = tuple((n, -e) for n, e in tb)
    return _poly({_tmul(t, inv): c / cb for t, c in a})


def constant_of(a: Poly) -> Fraction | None:
    """The value of a constant polynomial, else None."""
    if not a:
        return Fraction(0)
    if len(a) == 1 and a[0][0] == ():
        return a[0][1]
    return None


def integer_valued(a: Poly) -> bool:
    """Integer coefficients and no quotients: an integer for every integer value of the symbols."""
    return all(c.denominator == 1 and all(e > 0 for _, e in t) for t, c in a)


def pfloordiv(a: Poly, k: int) -> Poly:
    value = constant_of(a)
    if value is not None:
        return const(value // k)
    if not integer_valued(a):
        return atom(_floor_text(a, k))
    q: dict[Term, Fraction] = {}
    r: dict[Term, Fraction] = {}
    for t, c in a:
        c = int(c)
        if t == ():
            rest = -((-c) % k)  # in (-k, 0]
        else:
            rest = c % k  # in [0, k)
        q[t] = Fraction((c - rest) // k)
        r[t] = Fraction(rest)
    quotient, remainder = _poly(q), _poly(r)
    if constant_of(remainder) is not None:  # the constant part is in (-k, 0]: floor is 0 or -1
        rest = constant_of(remainder)
        return padd(quotient, const(rest // k))
    return padd(quotient, atom(_floor_text(remainder, k)))


def _floor_text(a: Poly, k: int) -> str:
    inner = show(a)
    return f"{inner}//{k}" if _IDENT.match(inner) else f"({inner})//{k}"


# -- printing ----------------------------------------------------------------------------------
def _factor(name: str, several: bool) -> str:
    """An atom as a factor: a floor division or an unparsed name needs parentheses beside others."""
    if _IDENT.match(name) or not several:
        return name
    return name if name.startswith("(") and name.endswith(")") and _balanced(name[1:-1]) else f"({name})"


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def _show_term(t: Term, c: Fraction, negative: bool) -> str:
    """A term with a positive coefficient `c` (printed after a minus sign when `negative`)."""
    num = [n for n, e in t if e > 0 for _ in range(e)]
    den = [n for n, e in t if e < 0 for _ in range(-e)]
    several = negative or len(num) + len(den) + (c.numerator != 1) + (c.denominator != 1) > 1
    top = [_factor(n, several) for n in num] + ([str(c.numerator)] if c.numerator != 1 or not num else [])
    bottom = ([str(c.denominator)] if c.denominator != 1 else []) + [_factor(n, several) for n in den]
    text = "*".join(top)
    if bottom:
        text += "/" + (bottom[0] if len(bottom) == 1 else "(" + "*".join(bottom) + ")")
    return text


def _order(item) -> tuple:
    t, _ = item
    return (t == (), t)


def show(a: Poly) -> str:
    if not a:
        return "0"
    parts = []
    for i, (t, c) in enumerate(sorted(a, key=_order)):
        body = _show_term(t, abs(c), c < 0)
        if c < 0:
            parts.append("-" + body)
        else:
            parts.append(("+" if i else "") + body)
    return "".join(parts)


# -- parsing -----------------------------------------------------------------------------------
class _Unparsed(Exception):
    pass


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise _Unparsed
        out.append(m.group(1) or m.group(2) or m.group(3))
        pos = m.end()
    return out


def _parse(tokens: list[str]) -> Poly:
    """Evaluate the grammar below as it is read, with an explicit stack of frames instead of
    recursion, so an expression nests as deep as memory allows:

        expr    := product (("+" | "-") product)*
        product := primary (("*" | "/" | "//") primary)*
        primary := "(" expr ")" | "-" primary | integer | name

    A frame is [rule, state, value so far, pending operator]; `result` carries a finished rule's
    value to the frame below. Operations are applied in the order the grammar reads them."""
    pos, end = 0, len(tokens)
    stack: list[list] = [["expr", 0, None, None]]
    result: Poly = ()
    while stack:
        frame = stack[-1]
        rule, state = frame[0], frame[1]
        if rule == "primary":
            if state == 0:
                if pos >= end:
                    raise _Unparsed
                tok = tokens[pos]
                pos += 1
                if tok in ("(", "-"):
                    frame[1] = 1 if tok == "(" else 2
                    stack.append(["expr" if tok == "(" else "primary", 0, None, None])
                    continue
                stack.pop()
                if tok.isdigit():
                    result = const(int(tok))
                elif _IDENT.match(tok):
                    result = atom(tok)
                else:
                    raise _Unparsed
            elif state == 1:  # "(" expr: the ")" must follow
                if pos >= end or tokens[pos] != ")":
                    raise _Unparsed
                pos += 1
                stack.pop()
            else:  # "-" primary
                stack.pop()
                result = pscale(result, -1)
            continue
        ops, operand = (("+", "-"), "product") if rule == "expr" else (("*", "/", "//"), "primary")
        if state == 0:  # the first operand
            frame[1] = 1
            stack.append([operand, 0, None, None])
            continue
        frame[2] = result if state == 1 else _apply(frame[3], frame[2], result)
        if pos < end and tokens[pos] in ops:
            frame[1], frame[3] = 2, tokens[pos]
            pos += 1
            stack.append([operand, 0, None, None])
            continue
        stack.pop()
        result = frame[2]
    if pos != end:
        raise _Unparsed
    return result


def _apply(op: str, value: Poly, right: Poly) -> Poly:
    """`value op right` for a binary operator of the grammar (_Unparsed where it has no normal form)."""
    if op == "+":
        return padd(value, right)
    if op == "-":
        return padd(value, pscale(right, -1))
    if op == "*":
        return pmul(value, right)
    if op == "/":
        q = pdiv(value, right)
        if q is None or constant_of(right) == 0:
            raise _Unparsed
        return q
    k = constant_of(right)
    if k is None or k.denominator != 1 or k <= 0:
        raise _Unparsed
    return pfloordiv(value, int(k))


@lru_cache(maxsize=65536)
def parse(d: Dim) -> Poly:
    """The normal form of a dim (an int, a symbol, or an expression string)."""
    if isinstance(d, int):
        return const(d)
    if _IDENT.match(d):
        return atom(d)
    try:
        return _parse(_tokens(d))
    except (_Unparsed, ZeroDivisionError):
        return atom(d)


@lru_cache(maxsize=65536)
def to_dim(a: Poly) -> Dim:
    """An int for an integer constant, else the canonical string."""
    value = constant_of(a)
    if value is not None and value.denominator == 1:
        return int(value)
    return show(a)


def normalize(d: Dim) -> Dim:
    """The canonical form of a dim: `normalize("N*12") == normalize("12*N") == "N*12"`."""
    return d if isinstance(d, int) else to_dim(parse(d))
