"""Gradient rules of every op in the registry, against finite differences and PyTorch autograd.

For each op with a `vjp` and each of its sample cases (the forward cases of
tests/test_ops_forward.py, minus those at non-differentiable points, plus `GRAD_CASES` below):

(a) float64: the gradient graph (graphc.autodiff.grad_graph, wrt all float inputs) exported to
    ONNX and run on onnxruntime matches central finite differences of the op's numpy reference
    along random directions (relative error <= 1e-6);
(b) float32: the same graph matches torch.autograd through the op's PyTorch oracle (<= 1e-4
    relative), where the oracle is written in torch.

A new op is covered without a new test: it fails `test_every_op_has_a_gradient_part` until it has
a `vjp` or a `no_grad` reason, and `test_every_differentiable_op_has_cases` until it has cases.
Cases marked batched are built with a symbolic batch dim N.
"""

from __future__ import annotations

import contextlib

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import test_ops_forward as fwd
import torch

from graphc.autodiff import grad_graph, gradients
from graphc.errors import SpecError
from graphc.export.onnx_export import to_onnx
from graphc.ir.graph import Graph
from graphc.ops import Builder
from graphc.ir.types import TensorType, dtype_of_array, is_float
from graphc.ops import interpret
from graphc.ops import OPS
from graphc.ops.registry import as_list

C, rand, pos = fwd.C, fwd.rand, fwd.pos
FD_RTOL, TORCH_RTOL, EPS = 1e-6, 1e-4, 1e-6
_RNG = np.random.default_rng(77)

# Forward cases left out here, with the reason: FD is meaningless at kinks and ties.
EXCLUDE: dict[str, dict[str, str]] = {
    "relu": {"zeros": "integer-valued inputs sit on the kink at 0"},
    "pow": {"square_negative_base": "d/db a**b = a**b log(a) is NaN for a < 0 (also in PyTorch)"},
    "floor": {"integers": "integer inputs sit on the jumps"},
    "ceil": {"integers": "integer inputs sit on the jumps"},
    "round": {"halves_to_even": "halves sit on the jumps"},
    "mod": {"float_exact_multiples": "exact multiples of the divisor sit on the jumps"},
}

# Inputs PyTorch can differentiate, where it cannot do all of them.
TORCH_WRT: dict[str, tuple[int, ...]] = {"batchnorm": (0, 1, 2)}  # not the running mean and variance

# Cases replacing (or, for internal gradient ops, providing) the forward ones.
GRAD_CASES: dict[str, list] = {
    "maximum": [C(rand(3, 4), rand(3, 4), id="same"), C(rand(2, 3, 4), rand(4), id="bcast"),
                C(rand(7, 1, 4), rand(3, 1), batched=(0,), id="batchN_bcast")],
    "minimum": [C(rand(3, 4), rand(3, 4), id="same"), C(rand(2, 1, 4), rand(3, 1), id="bcast_both")],
    "sign": [C(rand(3, 4), id="2d")],
    "concat": fwd.CASES["concat"] + [C(rand(2, 3), rand(7, 3), axis=0, batched=(1,), id="symbolic_last"),
                                     C(rand(1, 3), rand(2, 3), rand(7, 3), axis=0, batched=(2,), id="symbolic_last3")],
}


def _grad_cases(op: str) -> list:
    if op in GRAD_CASES:
        return GRAD_CASES[op]
    skip = EXCLUDE.get(op, {})
    return [c for c in fwd.CASES.get(op, []) if c.id not in skip]


def _differentiable_cases():
    for op in sorted(OPS):
        if OPS[op].vjp is None:
            continue
        for i, case in enumerate(_grad_cases(op)):
            if any(isinstance(x, np.ndarray) and is_float(dtype_of_array(x)) for x in case.inputs):
                yield pytest.param(op, case, id=f"{op}-{case.id or i}")


# -- building and running ------------------------------------------------------------------
def _with_dtype(inputs, dtype) -> list[np.ndarray]:
    return [x.astype(dtype) if is_float(dtype_of_array(x)) else x for x in inputs]


def _op_graph(op: str, case, inputs) -> Graph:
    graph = Graph(f"grad_{op}")
    values = []
    for i, x in enumerate(inputs):
        shape = tuple(x.shape)
        if i in case.batched:
            shape = ("N",) + shape[1:]
        values.append(graph.add_input(f"in{i}", TensorType(dtype_of_array(x), shape)))
    node = Builder(graph).emit_node(op, *values, **case.attrs)
    graph.outputs = list(node.outputs)
    return graph


def _run_grad(op: str, case, inputs, cots) -> dict[str, np.ndarray]:
    """Gradient graph of one op (wrt every float input), exported and run on onnxruntime."""
    g = grad_graph(_op_graph(op, case, inputs), wrt="inputs")
    model = to_onnx(g)
    onnx.checker.check_model(model, full_check=True)
    feeds = {f"in{i}": x for i, x in enumerate(inputs)}
    feeds.update({f"grad.{name}": c for name, c in cots.items()})
    return _run_model(model, feeds, g)


def _run_model(model: onnx.ModelProto, feeds: dict, graph: Graph | None = None) -> dict[str, np.ndarray]:
    """onnxruntime; where it has no float64 kernel (Conv, AveragePool, ...), the gradient graph run
    with the ops' numpy references instead (onnx.reference mishandles grouped ConvTranspose)."""
    names = [o.name for o in model.graph.output]
    wanted = {i.name for i in model.graph.input}
    feeds = {k: v for k, v in feeds.items() if k in wanted}
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        return dict(zip(names, session.run(names, feeds)))
    except Exception as e:  # noqa: BLE001
        if graph is None or not any(m in str(e) for m in ("NOT_IMPLEMENTED", "does not support double")):
            raise
        return interpret(graph, feeds)


def _float_outputs(op: str, case, inputs) -> list[tuple[str, np.ndarray]]:
    graph = _op_graph(op, case, inputs)
    outs = as_list(OPS[op].ref(list(inputs), OPS[op].full_attrs(case.attrs)))
    return [(v.name, np.asarray(r)) for v, r in zip(graph.outputs, outs) if is_float(v.dtype)]


def _ref(op: str, case, inputs) -> list[np.ndarray]:
    return [np.asarray(r) for r in as_list(OPS[op].ref(list(inputs), OPS[op].full_attrs(case.attrs)))]


def _central_difference(op: str, case, inputs, i: int, v: np.ndarray, cots: dict) -> float:
    """d/dt <ref(x_i + t v), cots> at t = 0; outputs that do not move (a -inf fill) contribute 0."""
    plus, minus = list(inputs), list(inputs)
    plus[i], minus[i] = inputs[i] + EPS * v, inputs[i] - EPS * v
    names = [o.name for o in _op_graph(op, case, inputs).outputs]
    total = 0.0
    for name, p, m in zip(names, _ref(op, case, plus), _ref(op, case, minus)):
        if name in cots:
            with np.errstate(invalid="ignore"):
                slope = np.where(p == m, 0.0, (p - m) / (2 * EPS))
            total += float(np.sum(slope * cots[name]))
    return total


def _wrt(inputs) -> list[int]:
    return [i for i, x in enumerate(inputs) if is_float(dtype_of_array(x))]


# -- the tests ------------------------------------------------------------------------------
def test_every_op_has_a_gradient_part():
    missing = sorted(op for op, d in OPS.items() if d.vjp is None and not d.no_grad)
    assert not missing, f"ops with neither a vjp nor a no_grad reason: {missing}"


def test_every_differentiable_op_has_cases():
    missing = [op for op, d in OPS.items() if d.vjp is not None and not any(
        any(isinstance(x, np.ndarray) and is_float(dtype_of_array(x)) for x in c.inputs) for c in _grad_cases(op))
        and op != "constant"]
    assert not missing, f"differentiable ops without float sample cases (add them to GRAD_CASES): {missing}"


@pytest.mark.parametrize("op,case", list(_differentiable_cases()))
def test_vjp_matches_finite_differences_float64(op: str, case):
    inputs = _with_dtype(case.inputs, np.float64)
    outs = _float_outputs(op, case, inputs)
    if not outs or any(o.dtype != np.float64 for _, o in outs):
        pytest.skip("no float64 output to differentiate")
    if not all(np.array_equal(a, b, equal_nan=True) for a, b in zip(_ref(op, case, inputs), _ref(op, case, inputs))):
        pytest.skip("random op: finite differences are meaningless (its gradient rule is checked against torch)")
    cots = {name: _RNG.standard_normal(o.shape) for name, o in outs}
    got = _run_grad(op, case, inputs, cots)
    for i in _wrt(inputs):
        grad = got[f"grad.in{i}"]
        assert grad.shape == inputs[i].shape and grad.dtype == np.float64
        for _ in range(2):
            v = _RNG.standard_normal(inputs[i].shape)
            fd = _central_difference(op, case, inputs, i, v, cots)
            analytic = float(np.sum(grad * v))
            scale = max(float(np.linalg.norm(grad) * np.linalg.norm(v)), abs(fd), 1e-12)
            assert abs(fd - analytic) <= FD_RTOL * scale, \
                f"{op} input {i}: finite differences {fd!r}, gradient graph {analytic!r}"


@contextlib.contextmanager
def _torch_leaves(arrays):
    """Make the forward test's torch oracles build autograd leaves for `arrays` (by identity)."""
    leaves = {id(a): torch.tensor(a, requires_grad=True) for a in arrays}
    saved_t, saved_n = fwd.T, fwd.N
    fwd.T = lambda a: leaves[id(a)] if id(a) in leaves else saved_t(a)
    fwd.N = lambda t: t
    try:
        yield leaves
    finally:
        fwd.T, fwd.N = saved_t, saved_n


@pytest.mark.parametrize("op,case", list(_differentiable_cases()))
def test_vjp_matches_torch_autograd_float32(op: str, case):
    if op not in fwd.ORACLES:
        pytest.skip("no PyTorch oracle (internal gradient op: checked by finite differences)")
    inputs = _with_dtype(case.inputs, np.float32)
    outs = _float_outputs(op, case, inputs)
    if not outs:
        pytest.skip("no float output")
    wrt = [i for i in _wrt(inputs) if i in TORCH_WRT.get(op, (i,))]
    with _torch_leaves([inputs[i] for i in wrt]) as leaves:
        results = as_list(fwd.ORACLES[op](inputs, OPS[op].full_attrs(case.attrs)))
    names = [v.name for v in _op_graph(op, case, inputs).outputs]
    cots = {name: _RNG.standard_normal(o.shape).astype(o.dtype) for name, o in outs}
    terms = [(r * torch.from_numpy(cots[n])).sum() for n, r in zip(names, results)
             if n in cots and isinstance(r, torch.Tensor) and r.requires_grad]
    if not terms:
        pytest.skip(f"{op}: its PyTorch oracle is not written in torch (checked by finite differences only)")
    want = torch.autograd.grad(sum(terms), [leaves[id(inputs[i])] for i in wrt], allow_unused=True)
    got = _run_grad(op, case, inputs, cots)
    for i, w in zip(wrt, want):
        w = np.zeros_like(inputs[i]) if w is None else w.numpy()
        g = got[f"grad.in{i}"]
        scale = max(float(np.abs(w).max(initial=0.0)), 1e-6)
        np.testing.assert_allclose(g, w, rtol=TORCH_RTOL, atol=TORCH_RTOL * scale, err_msg=f"{op} input {i}")


# -- reverse mode itself -------------------------------------------------------------------
def _graph(*shapes):
    g = Graph("t")
    return g, Builder(g), [g.add_input(f"x{i}", TensorType("float64", s)) for i, s in enumerate(shapes)]


def _ort(graph: Graph, feeds: dict) -> dict:
    model = to_onnx(graph)
    onnx.checker.check_model(model, full_check=True)
    return _run_model(model, feeds)


def test_reused_value_sums_contributions_and_prunes():
    g, b, (x, y) = _graph((3,), (3,))
    z = b.sum(b.add(b.mul(x, x), b.exp(x)))  # d/dx = 2x + e^x
    b.sum(b.mul(y, y))  # a branch that does not reach the output
    g.outputs = [z]
    before = len(g.nodes)
    (gx, gy) = gradients(g, [z], [None], [x, y])
    assert gy is None
    assert all(n.role == "backward" for n in g.nodes[before:])
    assert not any(n.op == "mul" and y in n.inputs for n in g.nodes[before:]), "unused branch differentiated"
    g.outputs = [gx]
    xv = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(_ort(g, {"x0": xv, "x1": xv})[gx.name], 2 * xv + np.exp(xv), rtol=1e-12)


def test_deep_graph_is_not_recursive():
    g, b, (x,) = _graph((2,))
    y = x
    for _ in range(5000):
        y = b.mul(y, 1.0)
    g.outputs = [b.sum(y)]
    (gx,) = gradients(g, g.outputs, [None], [x])
    assert gx is not None and sum(n.role == "backward" for n in g.nodes) >= 5000


def test_integer_values_are_skipped():
    g, b, (x,) = _graph((3,))
    k = b.cast(x, to="int64")
    y = b.sum(b.mul(b.cast(k, to="float64"), x))
    g.outputs = [y]
    (gx,) = gradients(g, [y], [None], [x])
    g.outputs = [gx]
    xv = np.array([1.5, 2.5, -3.5])
    np.testing.assert_allclose(_ort(g, {"x0": xv})[gx.name], np.trunc(xv))


def test_no_grad_op_error_names_op_and_location():
    from graphc.errors import Location
    from graphc.ops.registry import OpDef, register

    if "test_opaque" not in OPS:
        register(OpDef("test_opaque", ("x",), lambda ts, a: [ts[0]], lambda ins, a: ins[0], None,
                       no_grad="it is opaque", public=False))
    try:
        g, b, (x,) = _graph((3,))
        with b.scope("mystery", Location("net.yaml", 7, 5)):
            y = b.emit("test_opaque", x)
        g.outputs = [b.sum(y)]
        with pytest.raises(SpecError) as err:
            gradients(g, g.outputs, [None], [x])
        text = str(err.value)
        assert "net.yaml:7:5" in text and "test_opaque" in text and "mystery" in text and "opaque" in text
    finally:
        OPS.pop("test_opaque", None)


def test_nonscalar_output_needs_a_cotangent():
    g, b, (x,) = _graph((3,))
    y = b.exp(x)
    with pytest.raises(Exception, match="scalar"):
        gradients(g, [y], [None], [x])


# -- docs/ops.md ------------------------------------------------------------------------------
def _gen_table():
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "gen_ops_table.py")
    spec = importlib.util.spec_from_file_location("gen_ops_table", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_op_has_every_part():
    """Every OpDef field graphc relies on: shape rule, reference, lowering and the ONNX op types it
    emits, cost rule, doc, a gradient rule or a stated reason for none, valid purity, training
    form, no-op rule and float64 support (`OpDef.missing_parts`)."""
    from graphc.ops.registry import incomplete_ops

    problems = incomplete_ops()
    assert not problems, "\n".join(problems)


def _complete_op(name: str, **changes):
    from dataclasses import replace

    from graphc.ops import cost
    from graphc.ops.common import infer_same, onnx_node
    from graphc.ops.registry import OpDef

    base = OpDef(name, ("x",), infer_same, lambda ins, a: ins[0], onnx_node("Identity"), vjp=lambda b, n, g: [g[0]],
                 doc="x", onnx_ops=("Identity",), cost=cost.free)
    return replace(base, **changes)


@pytest.mark.parametrize("changes,expect", [
    ({"cost": None}, "no cost rule"),
    ({"vjp": None}, "neither vjp nor no_grad"),
    ({"onnx_ops": ()}, "no onnx_ops"),
    ({"onnx_ops": ("exp",)}, "onnx_ops must be ONNX op type names"),
    ({"doc": ""}, "no doc"),
    ({"lower": None}, "no lower rule"),
    ({"float64": "sometimes"}, "float64 must be"),
    ({"train": lambda b, n, c: None}, "train must be a TrainForm"),
    ({"pure": "yes"}, "pure must be True or False"),
    ({"no_grad": "integer output"}, "both vjp and no_grad"),
], ids=["cost", "vjp", "onnx_ops", "onnx_ops_case", "doc", "lower", "float64", "train", "pure", "vjp_and_no_grad"])
def test_completeness_check_reports_a_missing_part(changes, expect):
    """The checker fails on an op with a part missing, registered in a registry of its own."""
    from graphc.ops.registry import incomplete_ops, register

    registry: dict = {}
    register(_complete_op("whole"), registry)
    assert incomplete_ops(registry) == []
    register(_complete_op("broken", **changes), registry)
    problems = incomplete_ops(registry)
    assert len(problems) == 1 and problems[0].startswith("broken: ") and expect in problems[0], problems
    assert "broken" not in OPS and "whole" not in OPS, "the fixture must not touch the global registry"


def test_ops_doc_is_up_to_date():
    gen = _gen_table()
    with open(gen.OUT, encoding="utf-8") as f:
        assert f.read() == gen.render(), "docs/ops.md is out of date: run python docs/gen_ops_table.py"
