"""Normalized symbolic dims (graphc/ir/symbolic.py, graphc/ir/dims.py): hand-worked cases, and
hypothesis checks that the normal form is canonical (equal polynomials print equal) and that
every printed form evaluates, as Python, to the value of the expression it came from."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphc.errors import ShapeError
from graphc.ir import dims
from graphc.ir.builder import Builder
from graphc.ir.graph import Graph
from graphc.ir.symbolic import normalize
from graphc.ir.types import TensorType
from graphc.ops.shape import reshape_shape


@pytest.mark.parametrize("text,want", [
    ("N*12", "N*12"), ("12*N", "N*12"), ("N*3*4", "N*12"), ("T*N", "N*T"), ("N*T/T", "N"),
    ("(H-2)*4", "H*4-8"), ("H-2", "H-2"), ("W+H", "H+W"), ("H+W-H", "W"), ("N/2*2", "N"),
    ("(H-2)//2+1", "H//2"), ("(H-3)//2+1", "(H-1)//2"), ("(2*H+3)//2", "H+1"), ("(4*H)//2", "H*2"),
    ("3*N/2", "N*3/2"), ("N/(S*T)", "N/(S*T)"), ("N*N", "N*N"), ("N-N", 0), ("2*3", 6),
    ("batch size", "batch size"),  # not an expression: an atom as written (an ONNX dim_param)
])
def test_hand_worked_normal_forms(text, want):
    assert normalize(text) == want


def test_arithmetic_keeps_ints_and_names():
    assert dims.mul(3, 4) == 12 and dims.mul("N", 1) == "N" and dims.mul(1, "N") == "N"
    assert dims.mul("N", 12) == dims.mul(12, "N") == "N*12"
    assert dims.add("H", -2) == "H-2" and dims.add("H", 0) == "H"
    assert dims.product(["N", "T", 8]) == dims.product([8, "T", "N"]) == "N*T*8"
    assert dims.div("N*T", "T") == "N" and dims.div("N", "T") is None and dims.div(12, 5) is None
    assert dims.conv_out("H", 3, 2, 0, 1) == "(H-1)//2"  # floor((H - 3) / 2) + 1
    assert dims.conv_out("H", 3, 1, 2, 1) == "H"  # same padding


def test_unify_and_broadcast_see_equal_expressions():
    assert dims.unify(dims.mul("N", 12), dims.mul(12, "N"), "add") == "N*12"
    assert dims.broadcast([("N*12", 3), ("12*N", 1)], "add") == ("N*12", 3)  # spelled differently (ONNX files)
    assert dims.broadcast([(dims.mul("N", 12), 3), (dims.mul(12, "N"), 1)], "add") == ("N*12", 3)
    with pytest.raises(ShapeError, match="must be equal"):
        dims.unify("N*12", "N*13", "add")


def test_reshape_to_n_times_t_and_back_proves_n_and_t():
    """[N, T, C] -> [N*T, C] -> back: the shape rules give N and T again (reshape_as checks the
    element counts by the normalized products)."""
    g = Graph("m")
    b = Builder(g)
    x = g.add_input("x", TensorType("float32", ("N", "T", 8)))
    flat = b.reshape(x, shape=[-1, 8])
    assert flat.shape == ("N*T", 8)
    back = b.reshape_as(flat, x)
    assert back.shape == ("N", "T", 8)
    y = b.add(back, x)  # unifies N and T with the input's own dims
    assert y.shape == ("N", "T", 8)
    halves = b.reshape(flat, shape=[0, 2, 4])
    assert halves.shape == ("N*T", 2, 4)
    assert reshape_shape(("N*T", 8), [-1, 4]) == ("N*T*2", 4)
    assert reshape_shape(("N", "T", 8), [0, -1]) == ("N", "T*8")
    assert reshape_shape(("T*8", "N"), [-1]) == ("N*T*8",)


def test_reshape_still_rejects_what_does_not_divide():
    with pytest.raises(ShapeError, match="do not divide"):
        reshape_shape(("N", 6), [-1, 4])
    with pytest.raises(ShapeError, match="element counts differ"):
        reshape_shape(("N", 6), [0, 5])


# -- hypothesis ------------------------------------------------------------------------------
SYMS = ("H", "N", "T", "W")


@st.composite
def monomial_terms(draw):
    """A polynomial as a list of (coefficient, {symbol: exponent}) with exponents in 0..2."""
    n = draw(st.integers(1, 4))
    terms = []
    for _ in range(n):
        coef = draw(st.integers(-6, 6).filter(lambda c: c != 0))
        exps = {s: draw(st.integers(0, 2)) for s in draw(st.lists(st.sampled_from(SYMS), max_size=3, unique=True))}
        terms.append((coef, exps))
    return terms


def _write(terms, rng=None) -> str:
    """One spelling of the polynomial: with `rng`, factors shuffled and the coefficient anywhere."""
    parts = []
    for i, (coef, exps) in enumerate(terms):
        factors = [s for s in SYMS for _ in range(exps.get(s, 0))]
        if rng is not None:
            rng.shuffle(factors)
        factors.insert(rng.randint(0, len(factors)) if rng is not None else 0, str(abs(coef)))
        parts.append(("-" if coef < 0 else ("+" if i else "")) + "*".join(factors))
    return "".join(parts)


def _value(terms, env) -> int:
    return sum(c * math.prod(env[s] ** e for s, e in exps.items()) for c, exps in terms)


def _eval(d, env) -> float:
    return d if isinstance(d, int) else eval(str(d), {"__builtins__": {}}, dict(env))  # noqa: S307


@settings(max_examples=300, deadline=None)
@given(monomial_terms(), st.randoms(use_true_random=False), st.randoms(use_true_random=False))
def test_equal_polynomials_print_equal(terms, r1, r2):
    """Two spellings of one polynomial (factors and terms in other orders) normalize to one string,
    and that string evaluates to the polynomial's value."""
    shuffled = list(terms)
    r2.shuffle(shuffled)
    one, other = _write(terms, r1), _write(shuffled, r2)
    a, b = normalize(one), normalize(other)
    assert a == b, (one, other)
    assert normalize(a) == a, "the normal form is a fixed point"
    for env in ({"H": 3, "N": 5, "T": 7, "W": 2}, {"H": 11, "N": 1, "T": 4, "W": 9}):
        assert _eval(a, env) == _value(terms, env)


@settings(max_examples=200, deadline=None)
@given(monomial_terms(), st.integers(1, 6), st.integers(-8, 8))
def test_floor_division_evaluates_right(terms, k, shift):
    """(p + shift) // k normalized evaluates to Python's floor division, for many sizes."""
    text = f"({_write(terms)}{shift:+d})//{k}"
    d = normalize(text)
    assert normalize(d) == d
    for env in ({"H": 3, "N": 5, "T": 7, "W": 2}, {"H": 10, "N": 1, "T": 4, "W": 9}, {"H": 1, "N": 2, "T": 3, "W": 4}):
        want = (_value(terms, env) + shift) // k
        assert _eval(d, env) == want, (text, d)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(SYMS + (2, 3, 5)), min_size=1, max_size=5), st.randoms(use_true_random=False))
def test_products_are_order_free_and_divide_back(factors, rng):
    shuffled = list(factors)
    rng.shuffle(shuffled)
    p = dims.product(factors)
    assert p == dims.product(shuffled)
    for f in factors:
        rest = list(factors)
        rest.remove(f)
        assert dims.div(p, f) == dims.product(rest)
