"""Each optimization pass on a small graph: the exact rewrite (ops before and after), numerics on
onnxruntime against a hand-written numpy or PyTorch oracle, a graph the verifier and the full ONNX
checker accept, and idempotence (a second run changes nothing). Then the pass manager: levels,
`--passes`, unknown names, `--explain`, provenance.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from graphc.errors import SpecError
from graphc.export.onnx_export import to_onnx
from graphc.ir.graph import Graph
from graphc.ir.types import TensorType
from graphc.ops import Builder
from graphc.passes import PASSES, InvalidGraph, optimize, verify_graph
from graphc.passes.log import PassLog

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RNG = np.random.default_rng(7)


@pytest.fixture(autouse=True)
def _debug(monkeypatch):
    monkeypatch.setenv("GRAPHC_DEBUG", "1")  # the manager verifies the graph after every pass


# -- helpers --------------------------------------------------------------------------------
def graph(**inputs: tuple) -> tuple[Graph, Builder, list]:
    g = Graph("t")
    xs = [g.add_input(name, TensorType("float32", shape)) for name, shape in inputs.items()]
    return g, Builder(g, layer="l"), xs


def ops(g: Graph) -> list[str]:
    return [n.op for n in g.nodes]


def run_ort(g: Graph, feeds: dict) -> list[np.ndarray]:
    model = to_onnx(g)
    onnx.checker.check_model(model, full_check=True)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def apply(g: Graph, name: str) -> list[str]:
    """Run one pass: it must change the graph, leave it valid, and change nothing a second time."""
    log = PassLog(name)
    assert PASSES[name].run(g, log), f"{name} changed nothing"
    verify_graph(g, name)
    again = PassLog(name)
    assert not PASSES[name].run(g, again), f"{name} is not idempotent: {again.lines}"
    return log.lines


def rand(*shape) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def close(a, b, tol=1e-5):
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


# -- dce ------------------------------------------------------------------------------------
def test_dce_removes_unused_nodes():
    g, b, (x,) = graph(x=(2, 3))
    y = b.relu(x)
    b.exp(b.neg(x))  # nothing reads it
    g.outputs = [y]
    assert ops(g) == ["relu", "neg", "exp"]
    lines = apply(g, "dce")
    assert ops(g) == ["relu"]
    assert lines[0].startswith("dce: removed unused")
    xv = rand(2, 3)
    close(run_ort(g, {"x": xv})[0], np.maximum(xv, 0))


# -- noop -----------------------------------------------------------------------------------
def test_noop_removes_identity_dropout_same_cast_and_shape_noops():
    g, b, (x,) = graph(x=("N", 3, 4))
    v = b.identity(x)
    v = b.dropout(v, rate=0.5)
    v = b.cast(v, to="float32")
    v = b.reshape(v, shape=[0, 3, 4])
    v = b.transpose(v, perm=[0, 1, 2])
    v = b.slice(v, starts=[0], ends=[2**62], axes=[1])
    v = b.concat(v, axis=1)
    y = b.relu(v)
    g.outputs = [y]
    assert ops(g) == ["identity", "dropout", "cast", "reshape", "transpose", "slice", "concat", "relu"]
    apply(g, "noop")
    assert ops(g) == ["relu"]
    xv = rand(2, 3, 4)
    close(run_ort(g, {"x": xv})[0], np.maximum(xv, 0))


def test_noop_output_keeps_its_name():
    g, b, (x,) = graph(x=(2, 3))
    h = b.relu(x)
    y = b.dropout(h, rate=0.1)
    g.rename(y, "probs")
    g.outputs = [y]
    apply(g, "noop")
    assert ops(g) == ["relu"] and g.outputs[0].name == "probs"
    assert [o.name for o in to_onnx(g).graph.output] == ["probs"]


def test_noop_keeps_an_identity_from_input_to_output():
    g, b, (x,) = graph(x=(2, 3))
    g.outputs = [b.identity(x)]
    assert not PASSES["noop"].run(g, PassLog("noop"))
    assert ops(g) == ["identity"]


def test_noop_keeps_real_casts_and_reshapes():
    g, b, (x,) = graph(x=(2, 6))
    g.outputs = [b.reshape(b.cast(x, to="float64"), shape=[3, 4])]
    assert not PASSES["noop"].run(g, PassLog("noop"))
    assert ops(g) == ["cast", "reshape"]


# -- cse ------------------------------------------------------------------------------------
def test_cse_merges_identical_nodes():
    g, b, (x,) = graph(x=(2, 3))
    y = b.add(b.relu(x), b.relu(x))
    g.outputs = [y]
    assert ops(g) == ["relu", "relu", "add"]
    lines = apply(g, "cse")
    assert ops(g) == ["relu", "add"]
    assert g.nodes[1].inputs[0] is g.nodes[1].inputs[1]
    assert lines == ["cse: merged l/relu_2 into l/relu (layer l)"]
    xv = rand(2, 3)
    close(run_ort(g, {"x": xv})[0], 2 * np.maximum(xv, 0))


def test_cse_keeps_different_attributes_and_random_ops_apart():
    g, b, (x,) = graph(x=(2, 3))
    y = b.add(b.softmax(x, axis=0), b.softmax(x, axis=1))
    g.outputs = [y]
    assert not PASSES["cse"].run(g, PassLog("cse"))
    assert ops(g) == ["softmax", "softmax", "add"]


def test_cse_never_merges_two_graph_outputs():
    g, b, (x,) = graph(x=(2, 3))
    g.outputs = [b.relu(x), b.relu(x)]
    assert not PASSES["cse"].run(g, PassLog("cse"))


# -- constfold ------------------------------------------------------------------------------
def test_constfold_folds_constant_subgraphs():
    g, b, (x,) = graph(x=(3, 2))
    c = b.const(np.arange(6, dtype=np.float32).reshape(2, 3))
    y = b.add(x, b.transpose(b.mul(c, 2.0), perm=[1, 0]))
    g.outputs = [y]
    assert ops(g) == ["mul", "transpose", "add"]
    apply(g, "constfold")
    assert ops(g) == ["add"]
    folded = g.nodes[0].inputs[1]
    assert folded.kind == "const"
    np.testing.assert_array_equal(folded.data, (np.arange(6).reshape(2, 3) * 2.0).T)
    xv = rand(3, 2)
    close(run_ort(g, {"x": xv})[0], xv + (np.arange(6).reshape(2, 3) * 2.0).T)


def test_constfold_turns_constant_nodes_into_initializers_and_never_folds_parameters():
    g, b, (x,) = graph(x=(2, 3))
    w = g.add_param("l.weight", rand(4, 3))
    k = b.emit("constant", value=[1.0, 2.0, 3.0, 4.0])
    y = b.add(b.matmul(x, b.transpose(w, perm=[1, 0])), k)
    g.outputs = [y]
    assert ops(g) == ["constant", "transpose", "matmul", "add"]
    apply(g, "constfold")
    assert ops(g) == ["transpose", "matmul", "add"]  # the parameter's transpose stays
    assert list(g.params) == ["l.weight"]
    xv = rand(2, 3)
    close(run_ort(g, {"x": xv})[0], xv @ g.params["l.weight"].data.T + np.array([1, 2, 3, 4], np.float32))


def test_constfold_leaves_huge_results_to_the_runtime():
    from graphc.passes.constfold import FOLD_LIMIT

    side = int(math.isqrt(FOLD_LIMIT)) + 1
    g, b, (x,) = graph(x=(side, side))
    c = b.const(np.ones((side, 1), np.float32))
    g.outputs = [b.add(x, b.expand_as(c, b.const(np.zeros((1, side), np.float32))))]
    assert not PASSES["constfold"].run(g, PassLog("constfold"))
    assert ops(g) == ["expand_as", "add"]


# -- shapes ---------------------------------------------------------------------------------
def test_shapes_folds_static_shape_computations():
    g, b, (x, z) = graph(x=(2, 6), z=(3, 4))
    count = b.shape_size(x, axes=[0, 1], dtype="float32")
    y = b.reshape_as(b.div(x, count), z)
    g.outputs = [y]
    assert ops(g) == ["shape_size", "div", "reshape_as"]
    apply(g, "shapes")
    assert ops(g) == ["div", "reshape"]
    assert g.nodes[1].attrs["shape"] == [3, 4]
    xv, zv = rand(2, 6), rand(3, 4)
    close(run_ort(g, {"x": xv, "z": zv})[0], (xv / 12.0).reshape(3, 4))


def test_shapes_reshape_as_with_symbolic_dims():
    g, b, (x, like) = graph(x=("N", 6), like=("N", 2, 3))
    g.outputs = [b.relu(b.reshape_as(x, like))]
    apply(g, "shapes")
    assert ops(g) == ["reshape", "relu"] and g.nodes[0].attrs["shape"] == [0, 2, 3]
    xv = rand(5, 6)
    close(run_ort(g, {"x": xv, "like": rand(5, 2, 3)})[0], np.maximum(xv.reshape(5, 2, 3), 0))


# -- simplify -------------------------------------------------------------------------------
NEUTRAL = [
    ("mul", lambda b, x: b.mul(x, 1.0)),
    ("mul", lambda b, x: b.mul(1.0, x)),
    ("add", lambda b, x: b.add(x, 0.0)),
    ("add", lambda b, x: b.add(0.0, x)),
    ("sub", lambda b, x: b.sub(x, 0.0)),
    ("div", lambda b, x: b.div(x, 1.0)),
    ("pow", lambda b, x: b.pow(x, 1.0)),
]


@pytest.mark.parametrize("op,build", NEUTRAL, ids=[f"{op}{i}" for i, (op, _) in enumerate(NEUTRAL)])
def test_simplify_neutral_elements(op, build):
    g, b, (x,) = graph(x=(2, 3))
    g.outputs = [b.tanh(build(b, x))]
    assert ops(g) == [op, "tanh"]
    apply(g, "simplify")
    assert ops(g) == ["tanh"]
    xv = rand(2, 3)
    close(run_ort(g, {"x": xv})[0], np.tanh(xv))


def test_simplify_keeps_a_neutral_element_that_broadcasts():
    g, b, (x,) = graph(x=(3,))
    g.outputs = [b.mul(x, b.const(np.ones((2, 3), np.float32)))]  # [3] * ones[2, 3] is [2, 3]
    assert not PASSES["simplify"].run(g, PassLog("simplify"))


def test_simplify_x_minus_x_and_involutions():
    g, b, (x,) = graph(x=(2, 3))
    g.outputs = [b.add(b.sub(x, x), b.relu(b.relu(b.neg(b.neg(x)))))]
    assert ops(g) == ["sub", "neg", "neg", "relu", "relu", "add"]
    apply(g, "simplify")
    assert ops(g) == ["relu"]  # x - x became zeros, then zeros + relu(x) became relu(x)
    xv = rand(2, 3)
    close(run_ort(g, {"x": xv})[0], np.maximum(xv, 0))


def test_simplify_double_transpose():
    g, b, (x,) = graph(x=(2, 3, 4))
    back = b.transpose(b.transpose(x, perm=[1, 0, 2]), perm=[1, 0, 2])
    turned = b.transpose(b.transpose(b.exp(x), perm=[2, 0, 1]), perm=[0, 2, 1])
    g.outputs = [b.relu(back), turned]
    assert ops(g) == ["transpose", "transpose", "exp", "transpose", "transpose", "relu"]
    apply(g, "simplify")
    assert ops(g) == ["exp", "transpose", "relu"]
    xv = rand(2, 3, 4)
    out = run_ort(g, {"x": xv})
    close(out[0], np.maximum(xv, 0))
    close(out[1], np.exp(xv).transpose(2, 0, 1).transpose(0, 2, 1))


def test_simplify_reshape_chains():
    g, b, (x,) = graph(x=("N", 2, 3, 4))
    y = b.unsqueeze(b.reshape(b.flatten(x, axis=1), shape=[0, 6, 4]), axes=[1])
    back = b.reshape(b.flatten(b.exp(x), axis=1), shape=[0, 2, 3, 4])
    g.outputs = [y, back]
    assert ops(g) == ["flatten", "reshape", "unsqueeze", "exp", "flatten", "reshape"]
    apply(g, "simplify")
    assert ops(g) == ["reshape", "exp"]
    assert g.nodes[0].attrs["shape"] == [0, 1, 6, 4]
    xv = rand(3, 2, 3, 4)
    out = run_ort(g, {"x": xv})
    close(out[0], xv.reshape(3, 1, 6, 4))
    close(out[1], np.exp(xv))


def test_simplify_exporter_layout_chain_collapses():
    # PyTorch's LSTM export, re-imported: y [N, T, H] -> [N, T, 1, H] -> [T, 1, N, H] -> [T, N, H] -> [N, T, H]
    g, b, (x,) = graph(x=("N", 5, 4))
    y = b.exp(x)
    chain = b.transpose(b.squeeze(b.transpose(b.reshape(y, shape=[0, 5, 1, 4]), perm=[1, 2, 0, 3]), axes=[1]),
                        perm=[1, 0, 2])
    g.outputs = [b.relu(chain)]
    apply(g, "simplify")
    assert ops(g) == ["exp", "relu"]
    xv = rand(3, 5, 4)
    close(run_ort(g, {"x": xv})[0], np.maximum(np.exp(xv), 0))


def test_simplify_transpose_moves_over_unit_reshape_to_meet_another():
    g, b, (x,) = graph(x=(2, 3, 4))
    t = b.transpose(b.exp(x), perm=[2, 0, 1])  # [4, 2, 3]
    u = b.transpose(b.unsqueeze(t, axes=[0]), perm=[0, 3, 1, 2])  # [1, 3, 4, 2]
    g.outputs = [u]
    apply(g, "simplify")
    assert ops(g) == ["exp", "transpose", "reshape"]
    assert g.nodes[1].attrs["perm"] == [1, 2, 0]
    xv = rand(2, 3, 4)
    close(run_ort(g, {"x": xv})[0], np.exp(xv).transpose(2, 0, 1)[None].transpose(0, 3, 1, 2))


def test_simplify_leaves_transposes_over_real_reshapes_and_lone_ones():
    g, b, (x,) = graph(x=(2, 3, 4))
    merged = b.transpose(b.reshape(b.transpose(x, perm=[1, 0, 2]), shape=[6, 4]), perm=[1, 0])  # dims merged
    lone = b.transpose(b.unsqueeze(b.exp(x), axes=[1]), perm=[1, 0, 2, 3])  # nothing to meet on either side
    g.outputs = [merged, lone]
    log = PassLog("simplify")
    assert not PASSES["simplify"].run(g, log), log.lines


def test_simplify_one_index_slice_and_squeeze_is_a_gather():
    g, b, (x,) = graph(x=(1, 5, 4))
    last = b.squeeze(b.slice(x, starts=[4], ends=[5], axes=[1]), axes=[1])  # x[:, 4] (x[:, -1] on import)
    pair = b.squeeze(b.slice(x, starts=[1], ends=[3], axes=[1]), axes=[0])  # not one index: stays
    g.outputs = [last, pair]
    apply(g, "simplify")
    assert ops(g) == ["gather", "slice", "squeeze"]
    assert g.nodes[0].attrs["axis"] == 1
    xv = rand(1, 5, 4)
    out = run_ort(g, {"x": xv})
    close(out[0], xv[:, 4])
    close(out[1], xv[0, 1:3])


def test_simplify_slices_of_concat():
    g, b, (p, q, r) = graph(p=("N", 2), q=("N", 3), r=("N", 4))
    cat = b.concat(p, q, r, axis=1)
    whole_q = b.slice(cat, starts=[2], ends=[5], axes=[1])
    q_and_r = b.slice(cat, starts=[2], ends=[9], axes=[1])
    inside_r = b.slice(cat, starts=[6], ends=[8], axes=[-1])
    g.outputs = [b.relu(whole_q), b.relu(q_and_r), b.relu(inside_r)]
    apply(g, "simplify")
    assert ops(g) == ["concat", "slice", "relu", "relu", "relu"]  # the 9-wide concat is gone
    assert [len(n.inputs) for n in g.nodes[:1]] == [2]
    pv, qv, rv = rand(2, 2), rand(2, 3), rand(2, 4)
    out = run_ort(g, {"p": pv, "q": qv, "r": rv})
    close(out[0], np.maximum(qv, 0))
    close(out[1], np.maximum(np.concatenate([qv, rv], 1), 0))
    close(out[2], np.maximum(rv[:, 1:3], 0))


def test_simplify_global_avgpool_then_flatten_is_one_mean():
    g, b, (x,) = graph(x=("N", 3, 4, 5))
    g.outputs = [b.relu(b.flatten(b.global_avgpool(x), axis=1))]
    assert ops(g) == ["global_avgpool", "flatten", "relu"]
    apply(g, "simplify")
    assert ops(g) == ["mean", "relu"] and g.nodes[0].attrs["axis"] == [2, 3]
    xv = rand(2, 3, 4, 5)
    close(run_ort(g, {"x": xv})[0], np.maximum(xv.mean(axis=(2, 3)), 0))


def test_long_chains_collapse():
    """12,000 nodes, 12,000 rewrites (each pass edits in batches: ~0.4 s; per-rewrite list edits took minutes)."""
    g, b, (x,) = graph(x=("N", 4))
    v = x
    for _ in range(3000):
        v = b.relu(b.identity(b.dropout(b.mul(v, 1.0), rate=0.1)))
    g.outputs = [v]
    optimize(g, level=2, verify=False)
    assert ops(g) == ["relu"]  # relu(relu(x)) -> relu(x), 3000 times
    xv = rand(3, 4)
    close(run_ort(g, {"x": xv})[0], np.maximum(xv, 0))


# -- fold-batchnorm -------------------------------------------------------------------------
def _bn_params(g, name, c):
    return [g.add_param(f"{name}.weight", rand(c) + 1.5), g.add_param(f"{name}.bias", rand(c)),
            g.add_param(f"{name}.running_mean", rand(c), trainable=False),
            g.add_param(f"{name}.running_var", np.abs(rand(c)) + 0.5, trainable=False)]


def test_fold_batchnorm_into_conv():
    g, b, (x,) = graph(x=("N", 3, 6, 6))
    w, bias = g.add_param("conv2d_1.weight", rand(4, 3, 3, 3)), g.add_param("conv2d_1.bias", rand(4))
    with b.scope("conv2d_1"):
        h = b.conv(x, w, bias, strides=[1, 1], pads=[1, 1, 1, 1], dilations=[1, 1])
    bn = _bn_params(g, "batchnorm_1", 4)
    with b.scope("batchnorm_1"):
        y = b.batchnorm(h, *bn, eps=1e-3)
    g.outputs = [b.relu(y)]
    raw = {k: v.data.copy() for k, v in g.params.items()}
    assert ops(g) == ["conv", "batchnorm", "relu"]
    lines = apply(g, "fold-batchnorm")
    assert ops(g) == ["conv", "relu"]
    assert sorted(g.params) == ["conv2d_1.bias+batchnorm_1", "conv2d_1.weight+batchnorm_1"]
    assert g.nodes[0].layer == "conv2d_1" and g.nodes[0].sources == ("batchnorm_1",)
    assert lines == ["fold-batchnorm: folded batchnorm batchnorm_1/batchnorm into conv conv2d_1/conv "
                     "(layers conv2d_1, batchnorm_1)"]
    xv = rand(2, 3, 6, 6)
    t = lambda k: torch.from_numpy(raw[k])  # noqa: E731
    ref = F.batch_norm(F.conv2d(torch.from_numpy(xv), t("conv2d_1.weight"), t("conv2d_1.bias"), padding=1),
                       t("batchnorm_1.running_mean"), t("batchnorm_1.running_var"), t("batchnorm_1.weight"),
                       t("batchnorm_1.bias"), eps=1e-3)
    close(run_ort(g, {"x": xv})[0], torch.relu(ref).numpy(), 1e-4)


def test_fold_batchnorm_into_dense_gemm_without_bias():
    g, b, (x,) = graph(x=("N", 5))
    w = g.add_param("dense_1.weight", rand(4, 5))
    with b.scope("dense_1"):
        h = b.gemm(x, w, trans_b=1)
    bn = _bn_params(g, "bn", 4)
    with b.scope("bn"):
        g.outputs = [b.batchnorm(h, *bn)]
    raw = {k: v.data.copy() for k, v in g.params.items()}
    apply(g, "fold-batchnorm")
    assert ops(g) == ["gemm"]
    assert sorted(g.params) == ["dense_1.bias+bn", "dense_1.weight+bn"]
    xv = rand(3, 5)
    t = lambda k: torch.from_numpy(raw[k])  # noqa: E731
    ref = F.batch_norm(F.linear(torch.from_numpy(xv), t("dense_1.weight")), t("bn.running_mean"),
                       t("bn.running_var"), t("bn.weight"), t("bn.bias"), eps=1e-5)
    close(run_ort(g, {"x": xv})[0], ref.numpy(), 1e-4)


def test_fold_batchnorm_skips_a_conv_read_elsewhere():
    g, b, (x,) = graph(x=(1, 2, 4, 4))
    h = b.conv(x, g.add_param("c.weight", rand(2, 2, 1, 1)), strides=[1, 1], pads=[0] * 4, dilations=[1, 1])
    g.outputs = [b.add(b.batchnorm(h, *_bn_params(g, "bn", 2)), h)]
    assert not PASSES["fold-batchnorm"].run(g, PassLog("fold-batchnorm"))


# -- gemm -----------------------------------------------------------------------------------
def test_matmul_add_becomes_gemm():
    g, b, (x,) = graph(x=("N", 5))
    w, c = g.add_param("d.weight", rand(5, 4)), g.add_param("d.bias", rand(4))
    g.outputs = [b.relu(b.add(b.matmul(x, w), c))]
    assert ops(g) == ["matmul", "add", "relu"]
    apply(g, "gemm")
    assert ops(g) == ["gemm", "relu"]
    xv = rand(3, 5)
    close(run_ort(g, {"x": xv})[0], np.maximum(xv @ w.data + c.data, 0))


def test_transposes_become_gemm_flags():
    g, b, (x, y) = graph(x=(5, 3), y=(4, 5))
    g.outputs = [b.matmul(b.transpose(x, perm=[1, 0]), b.transpose(y, perm=[1, 0]))]
    assert ops(g) == ["transpose", "transpose", "matmul"]
    apply(g, "gemm")
    assert ops(g) == ["gemm"] and g.nodes[0].attrs["trans_a"] == 1 and g.nodes[0].attrs["trans_b"] == 1
    xv, yv = rand(5, 3), rand(4, 5)
    close(run_ort(g, {"x": xv, "y": yv})[0], xv.T @ yv.T)


def test_transposed_matmul_and_bias_become_one_gemm():
    g, b, (x,) = graph(x=("N", 5))
    w, c = g.add_param("d.weight", rand(4, 5)), g.add_param("d.bias", rand(4))
    g.outputs = [b.add(c, b.matmul(x, b.transpose(w, perm=[1, 0])))]
    assert ops(g) == ["transpose", "matmul", "add"]
    apply(g, "gemm")
    assert ops(g) == ["gemm"] and g.nodes[0].attrs["trans_b"] == 1 and g.nodes[0].inputs == [x, w, c]
    xv = rand(3, 5)
    close(run_ort(g, {"x": xv})[0], xv @ w.data.T + c.data)


def test_gemm_leaves_batched_matmul_alone():
    g, b, (x,) = graph(x=("N", 2, 5))
    g.outputs = [b.add(b.matmul(x, g.add_param("d.weight", rand(5, 4))), g.add_param("d.bias", rand(4)))]
    assert not PASSES["gemm"].run(g, PassLog("gemm"))


# -- fusions --------------------------------------------------------------------------------
def _layernorm_prims(b, x, gamma=None, beta=None, square="pow", eps=1e-5):
    mu = b.mean(x, axis=-1, keepdims=True)
    d = b.sub(x, mu)
    sq = b.pow(d, 2.0) if square == "pow" else b.mul(d, d)
    y = b.div(d, b.sqrt(b.add(b.mean(sq, axis=-1, keepdims=True), eps)))
    if gamma is not None:
        y = b.mul(y, gamma)
    if beta is not None:
        y = b.add(y, beta)
    return y


@pytest.mark.parametrize("square", ["pow", "mul"])
def test_layernorm_pattern_is_fused(square):
    g, b, (x,) = graph(x=("N", 3, 8))
    gamma, beta = g.add_param("ln.weight", rand(8)), g.add_param("ln.bias", rand(8))
    g.outputs = [b.relu(_layernorm_prims(b, x, gamma, beta, square))]
    assert ops(g) == ["mean", "sub", square, "mean", "add", "sqrt", "div", "mul", "add", "relu"]
    lines = apply(g, "fuse-layernorm")
    assert ops(g) == ["layernorm", "relu"]
    assert g.nodes[0].inputs[1:] == [gamma, beta] and g.nodes[0].attrs["axis"] == -1
    assert lines[0].startswith(f"fuse-layernorm: mean/sub/{square}/mean/add/sqrt/div/mul/add -> layernorm")
    xv = rand(2, 3, 8)
    ref = F.layer_norm(torch.from_numpy(xv), (8,), torch.from_numpy(gamma.data), torch.from_numpy(beta.data), 1e-5)
    close(run_ort(g, {"x": xv})[0], torch.relu(ref).numpy(), 1e-4)


def test_layernorm_without_affine_and_over_two_axes():
    g, b, (x,) = graph(x=("N", 3, 4))
    mu = b.mean(x, axis=[1, 2], keepdims=True)
    d = b.sub(x, mu)
    y = b.div(d, b.sqrt(b.add(1e-5, b.mean(b.mul(d, d), axis=[-2, -1], keepdims=True))))
    g.outputs = [y]
    apply(g, "fuse-layernorm")
    assert ops(g) == ["layernorm"] and g.nodes[0].attrs["axis"] == -2
    xv = rand(2, 3, 4)
    ref = F.layer_norm(torch.from_numpy(xv), (3, 4), eps=1e-5)
    close(run_ort(g, {"x": xv})[0], ref.numpy(), 1e-4)


def test_layernorm_not_fused_over_leading_axes():
    g, b, (x,) = graph(x=(2, 3, 4))
    mu = b.mean(x, axis=1, keepdims=True)
    d = b.sub(x, mu)
    g.outputs = [b.div(d, b.sqrt(b.add(b.mean(b.mul(d, d), axis=1, keepdims=True), 1e-5)))]
    assert not PASSES["fuse-layernorm"].run(g, PassLog("fuse-layernorm"))


GELUS = {
    "torch": lambda b, x: b.mul(b.mul(x, 0.5), b.add(1.0, b.erf(b.mul(x, 1 / math.sqrt(2))))),
    "x*t*half": lambda b, x: b.mul(b.mul(x, b.add(b.erf(b.div(x, math.sqrt(2))), 1.0)), 0.5),
    "half*(x*t)": lambda b, x: b.mul(0.5, b.mul(b.add(b.erf(b.div(x, 1.4142135)), 1.0), x)),
    "x*(t*half)": lambda b, x: b.mul(x, b.mul(b.add(b.erf(b.div(x, math.sqrt(2))), 1.0), 0.5)),
}


@pytest.mark.parametrize("form", GELUS)
def test_gelu_pattern_is_fused(form):
    g, b, (x,) = graph(x=("N", 6))
    g.outputs = [b.neg(GELUS[form](b, x))]
    n_before = len(g.nodes)
    apply(g, "fuse-gelu")
    assert ops(g) == ["gelu", "neg"] and n_before == 6
    assert g.nodes[0].inputs == [g.inputs[0]]
    xv = rand(4, 6)
    close(run_ort(g, {"x": xv})[0], -F.gelu(torch.from_numpy(xv)).numpy(), 1e-5)


def test_gelu_not_fused_with_a_wrong_constant():
    g, b, (x,) = graph(x=(2, 3))
    g.outputs = [b.mul(b.mul(x, 0.5), b.add(1.0, b.erf(b.mul(x, 0.8))))]
    assert not PASSES["fuse-gelu"].run(g, PassLog("fuse-gelu"))


# -- the manager ----------------------------------------------------------------------------
def _mixed_graph():
    g, b, (x,) = graph(x=("N", 4))
    y = b.add(b.relu(b.dropout(x, rate=0.5)), b.relu(b.dropout(x, rate=0.5)))
    g.outputs = [b.mul(y, 1.0)]
    return g


def test_levels():
    g = _mixed_graph()
    assert ops(optimize(g, level=0)) == ["dropout", "relu", "dropout", "relu", "add", "mul"]
    assert ops(optimize(g, level=1)) == ["relu", "add", "mul"]  # cleanups: no algebra
    assert ops(optimize(g, level=2)) == ["relu", "add"]
    xv = rand(3, 4)
    close(run_ort(g, {"x": xv})[0], 2 * np.maximum(xv, 0))


def test_chosen_passes_run_exactly():
    g = _mixed_graph()
    optimize(g, passes=["simplify"])
    assert ops(g) == ["dropout", "relu", "dropout", "relu", "add"]


def test_unknown_pass_is_a_spec_error_with_a_suggestion():
    with pytest.raises(SpecError, match="unknown pass 'simplfy'.*did you mean 'simplify'"):
        optimize(_mixed_graph(), passes=["simplfy"])
    with pytest.raises(SpecError, match="-O3"):
        optimize(_mixed_graph(), level=3)


def test_explain_lines_and_provenance():
    g, b, (x,) = graph(x=("N", 8))
    gamma = g.add_param("ln.weight", rand(8))
    layers = iter(["mu", "d", "sq", "var", "ve", "sd", "xn", "scaled"])
    mu = d = None
    with b.scope(next(layers)):
        mu = b.mean(x, axis=-1, keepdims=True)
    with b.scope(next(layers)):
        d = b.sub(x, mu)
    with b.scope(next(layers)):
        sq = b.pow(d, 2.0)
    with b.scope(next(layers)):
        var = b.mean(sq, axis=-1, keepdims=True)
    with b.scope(next(layers)):
        ve = b.add(var, 1e-5)
    with b.scope(next(layers)):
        sd = b.sqrt(ve)
    with b.scope(next(layers)):
        xn = b.div(d, sd)
    with b.scope(next(layers)):
        y = b.mul(xn, gamma)
    g.outputs = [y]
    explain: list[str] = []
    optimize(g, explain=explain)
    assert ops(g) == ["layernorm"]
    node = g.nodes[0]
    assert node.layer == "scaled" and set(node.sources) == {"mu", "d", "sq", "var", "ve", "sd", "xn"}
    assert g.outputs[0].name == "scaled/mul"  # the fused value keeps the name of the one it replaces
    assert "fuse-layernorm: 8 -> 1 nodes" in explain
    assert "  fuse-layernorm: mean/sub/pow/mean/add/sqrt/div/mul -> layernorm scaled/layernorm " \
           "(layers mu, d, sq, var, ve, sd, xn, scaled)" in explain
    assert explain[-1].startswith("optimized t: 8 -> 1 nodes")


def test_verifier_catches_a_broken_graph():
    g, b, (x,) = graph(x=(2, 3))
    y = b.relu(b.exp(x))
    g.outputs = [y]
    g.nodes.reverse()
    with pytest.raises(InvalidGraph, match="before it is produced"):
        verify_graph(g, "oops")
    g.nodes.reverse()
    g.nodes[1].outputs[0].type = TensorType("float32", (3, 2))
    with pytest.raises(InvalidGraph, match="relu.*infers"):
        verify_graph(g)


SPEC = """\
graphc: 1
name: explained
inputs:
  x: [N, 8]
layers:
  - dense: {units: 8, name: fc}
  - batchnorm: {name: bn}
  - dropout: {rate: 0.5}
  - gelu: {}
outputs: [gelu_1]
"""


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "graphc", *args], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, GRAPHC_DEBUG="1"), timeout=120)


def test_cli_explain_and_passes(tmp_path):
    spec = tmp_path / "explained.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "m.onnx"
    proc = _cli("compile", str(spec), "-o", str(out), "--explain")
    assert proc.returncode == 0, proc.stderr
    assert "noop: 4 -> 3 nodes" in proc.stdout
    assert "  fold-batchnorm: folded batchnorm bn/batchnorm into gemm fc/gemm (layers fc, bn)" in proc.stdout
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    assert [n.op_type for n in model.graph.node] == ["Gemm", "Gelu"]
    assert sorted(i.name for i in model.graph.initializer) == ["fc.bias+bn", "fc.weight+bn"]
    proc = _cli("compile", str(spec), "-o", str(out), "-O1")
    assert proc.returncode == 0
    assert sorted(i.name for i in onnx.load(str(out)).graph.initializer)[:2] == ["bn.bias", "bn.running_mean"]
    proc = _cli("compile", str(spec), "-o", str(out), "--passes", "cse,dcee")
    assert proc.returncode == 2 and "did you mean 'dce'" in proc.stderr and "Traceback" not in proc.stderr


# -- rewrites outside the levels (train steps) ----------------------------------------------
TRAIN_SPECS = ["train_cnn_digits", "train_keras_cnn_digits", "train_lstm", "train_mlp_digits", "train_transformer",
               "train_vae", "train_linear_regression"]


@pytest.mark.parametrize("name", TRAIN_SPECS)
def test_train_step_rewrites_are_verified_passes(name, monkeypatch):
    """build_train_step runs unroll_recurrent, training_mode and pool_before_relu through the pass
    manager; with GRAPHC_DEBUG=1 each is verified, and a broken rewrite would raise InvalidGraph."""
    import graphc
    from graphc.training.compile import train_config
    from graphc.training.step import build_train_step

    calls = []
    real = verify_graph
    monkeypatch.setattr("graphc.passes.manager.verify_graph", lambda g, after="": (calls.append(after), real(g, after)))
    model = graphc.load(os.path.join(ROOT, "specs", f"{name}.yaml"))
    step = build_train_step(model.graph, train_config(model))
    verify_graph(step.graph, "train step")
    assert calls == ["unroll_recurrent", "training_mode", "pool_before_relu"]


def test_unroll_recurrent_matches_the_gru_reference():
    """The unrolled gru computes what the op's numpy reference (a per-step loop) does."""
    from graphc.ops import interpret
    from graphc.passes import rewrite

    g, b, (x,) = graph(x=(2, 3, 4))
    h = 5
    ws = [b.const(rand(3 * h, 4)), b.const(rand(3 * h, h)), b.const(rand(3 * h)), b.const(rand(3 * h))]
    g.outputs = list(b.gru(x, *ws))
    feeds = {"x": rand(2, 3, 4)}
    want = interpret(g, feeds)
    assert rewrite(g, "unroll_recurrent", verify=True) == 1
    assert "gru" not in ops(g) and ops(g).count("sigmoid") == 6
    got = interpret(g, feeds)
    for k in want:
        close(got[k], want[k])
    close(run_ort(g, feeds)[0], want[g.outputs[0].name])
    assert rewrite(g, "unroll_recurrent", verify=True) == 0


def test_pool_before_relu_keeps_values_and_moves_the_relu():
    from graphc.passes import rewrite

    g, b, (x,) = graph(x=(1, 2, 4, 4))
    y = b.maxpool(b.relu(x), kernel=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0])
    g.outputs = [y]
    feeds = {"x": rand(1, 2, 4, 4)}
    want = np.maximum(feeds["x"], 0).reshape(1, 2, 2, 2, 2, 2).max(axis=(3, 5))
    assert rewrite(g, "pool_before_relu", verify=True) == 1
    assert ops(g) == ["maxpool", "relu"] and g.outputs[0].name == y.name
    close(run_ort(g, feeds)[0], want)
