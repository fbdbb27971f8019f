"""Random graphs (hypothesis, seeded and small): chains of elementwise, matmul, reshape, transpose,
concat/slice, constant, dense (matmul + bias, batch norm) ops, with neutral constants, duplicates and the layernorm / gelu
patterns mixed in so that every pass has something to do. The -O2 graph must give the outputs of
the original on the numpy references and on onnxruntime, stay valid (verified after every pass),
and a second optimization must change nothing.
"""

from __future__ import annotations

import math

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphc.export.onnx_export import to_onnx
from graphc.ir.graph import Graph
from graphc.ops import Builder
from graphc.ir.types import TensorType
from graphc.ops import interpret
from graphc.passes import optimize

SHAPE = ("N", 3, 4)
RTOL, ATOL = 1e-4, 1e-4


@pytest.fixture(autouse=True)
def _debug(monkeypatch):
    monkeypatch.setenv("GRAPHC_DEBUG", "1")


def _layernorm(b, x):
    d = b.sub(x, b.mean(x, axis=-1, keepdims=True))
    return b.div(d, b.sqrt(b.add(b.mean(b.mul(d, d), axis=-1, keepdims=True), 1e-5)))


def _gelu(b, x):
    return b.mul(b.mul(x, 0.5), b.add(1.0, b.erf(b.div(x, math.sqrt(2.0)))))


def _const(draw, rng, shape):
    kind = draw(st.sampled_from(["zero", "one", "scalar", "full"]))
    if kind == "zero":
        return 0.0
    if kind == "one":
        return 1.0
    if kind == "scalar":
        return float(np.float32(rng.uniform(0.5, 2.0)))
    return rng.uniform(0.5, 2.0, shape[1:]).astype(np.float32)


@st.composite
def graphs(draw):
    """A random graph over x [N, 3, 4] (every value keeps that shape between steps)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    g = Graph("random")
    x = g.add_input("x", TensorType("float32", SHAPE))
    b = Builder(g, layer="r")
    pool = [x]
    for step in range(draw(st.integers(1, 10))):
        v = draw(st.sampled_from(pool))
        op = draw(st.sampled_from(["unary", "noop", "const", "binary", "self", "dup", "transpose", "reshape",
                                   "matmul", "concat", "constant", "layernorm", "gelu", "dense2d"]))
        with b.scope(f"l{step}"):
            if op == "unary":
                y = b.emit(draw(st.sampled_from(["relu", "neg", "tanh", "sigmoid"])), v)
            elif op == "noop":
                kind = draw(st.sampled_from(["identity", "dropout", "cast"]))
                y = b.cast(v, to="float32") if kind == "cast" else b.emit(kind, v)
            elif op == "const":
                fn = draw(st.sampled_from(["add", "sub", "mul", "div"]))
                c = _const(draw, rng, SHAPE)
                y = b.emit(fn, c, v) if fn in ("add", "mul") and draw(st.booleans()) else b.emit(fn, v, c)
            elif op == "binary":
                y = b.emit(draw(st.sampled_from(["add", "sub", "mul"])), v, draw(st.sampled_from(pool)))
            elif op == "self":
                y = b.sub(v, v)
            elif op == "dup":
                y = b.add(b.tanh(v), b.tanh(v))
            elif op == "transpose":
                perm = draw(st.permutations([1, 2]))
                t = b.transpose(v, perm=[0, *perm])
                y = b.transpose(b.relu(t) if draw(st.booleans()) else t, perm=np.argsort([0, *perm]).tolist())
            elif op == "reshape":
                y = b.reshape(b.flatten(v, axis=1), shape=[0, 3, 4])
            elif op == "matmul":
                y = b.matmul(v, b.const(rng.standard_normal((4, 4)).astype(np.float32)))
            elif op == "concat":
                cat = b.concat(v, draw(st.sampled_from(pool)), axis=-1)
                start = draw(st.sampled_from([0, 4, 2]))
                y = b.slice(cat, starts=[start], ends=[start + 4], axes=[2])
            elif op == "constant":
                k = b.emit("constant", value=rng.uniform(-1, 1, (3, 4)).astype(np.float32).tolist())
                y = b.add(v, b.mul(k, 2.0))
            elif op == "layernorm":
                y = _layernorm(b, v)
            elif op == "dense2d":  # [N, 12] @ W (maybe transposed) + bias, maybe batch norm: gemm, fold-batchnorm
                h = b.reshape(v, shape=[0, 12])
                w = g.add_param(f"l{step}.weight", (rng.standard_normal((12, 12)) * 0.3).astype(np.float32))
                h = b.matmul(h, b.transpose(w, perm=[1, 0]) if draw(st.booleans()) else w)
                h = b.add(h, g.add_param(f"l{step}.bias", rng.standard_normal(12).astype(np.float32)))
                if draw(st.booleans()):
                    stats = [rng.uniform(0.5, 1.5, 12), rng.standard_normal(12), rng.standard_normal(12),
                             rng.uniform(0.5, 1.5, 12)]
                    h = b.batchnorm(h, *[g.add_param(f"l{step}.bn{i}", s.astype(np.float32))
                                         for i, s in enumerate(stats)])
                y = b.reshape(h, shape=[0, 3, 4])
            else:
                y = _gelu(b, v)
        pool.append(y)
    outs = [pool[-1]] + ([pool[len(pool) // 2]] if len(pool) > 2 and pool[len(pool) // 2] is not pool[-1] else [])
    g.outputs = [o for o in outs if o.kind == "node"] or [b.relu(x)]
    return g


def _ort(g: Graph, feeds) -> list[np.ndarray]:
    model = to_onnx(g)
    onnx.checker.check_model(model, full_check=True)
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_random_graphs_keep_their_outputs(g):
    feeds = {"x": np.random.default_rng(3).standard_normal((2, *SHAPE[1:])).astype(np.float32)}
    expected = list(interpret(g, feeds).values())
    before_ort = _ort(g, feeds)
    names = [v.name for v in g.outputs]
    opt = optimize(g.clone(), level=2)
    assert [v.name for v in opt.outputs] == names  # the interface keeps its names
    assert len(opt.nodes) <= len(g.nodes)
    after_ref = list(interpret(opt, feeds).values())
    after_ort = _ort(opt, feeds)
    for e, a0, r, a in zip(expected, before_ort, after_ref, after_ort):
        np.testing.assert_allclose(a0, e, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(r, e, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(a, e, rtol=RTOL, atol=ATOL)
    again: list[str] = []
    optimize(opt, level=2, explain=again)
    assert all("(no change)" in line for line in again[:-1]), again
