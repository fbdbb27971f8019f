"""graphc.onnx_backend on onnx's Backend interface, and ONNX's node conformance tests.

The node tests of every op graphc imports run through onnx's own runner
(`onnx.backend.test.runner.Runner`, via docs/gen_onnx_conformance.py); each must pass or be
refused with an import error, never give a wrong result. CI runs a fixed sample (every 8th
claimed test); GRAPHC_SLOW=1 runs them all. The data is generated once
(tools/onnx_node_data.py) into ~/.cache/graphc/onnx-node-data (GRAPHC_ONNX_NODE_DATA).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import graphc.onnx_backend as backend

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "docs"))


def _model():
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Relu", ["m"], ["y"])]
    w = onnx.numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(3, 2) - 2, "w")
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("be", [backend.GraphcBackend, backend.GraphcReferenceBackend])
def test_backend_interface(be):
    assert be.supports_device("CPU") and not be.supports_device("CUDA")
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    w = np.arange(6, dtype=np.float32).reshape(3, 2) - 2
    (y,) = be.run_model(_model(), [x])
    np.testing.assert_allclose(y, np.maximum(x @ w, 0), rtol=1e-6)
    rep = be.prepare(_model())
    assert rep.graph.inputs[0].shape == ("N", 3)  # graphc's IR, symbolic dim kept


@pytest.fixture(scope="module")
def node_data():
    import gen_onnx_conformance as conf

    return conf, conf.ensure_data()


def _check(conf, data_dir, names):
    outcome = conf.run(data_dir, names)
    wrong = {n: r for n, (k, r) in outcome.items() if k == "wrong"}
    assert not wrong, wrong
    for name, (kind, reason) in outcome.items():
        assert kind in ("pass", "refused"), (name, kind, reason)
        if kind == "refused":
            assert "error:" in reason, (name, reason)  # a clear import error, said why
    return outcome


def test_node_conformance_sample(node_data):
    conf, data_dir = node_data
    claimed = sorted(conf.claimed_tests(data_dir))
    outcome = _check(conf, data_dir, claimed[::8])
    passed = [n for n, (k, _) in outcome.items() if k == "pass"]
    assert len(passed) >= len(outcome) // 3
    for name in ("test_relu", "test_conv_with_strides_padding", "test_gemm_default_no_bias"):
        if name in claimed:
            assert conf.run(data_dir, [name])[name][0] == "pass"


@pytest.mark.slow
def test_node_conformance_all(node_data):
    conf, data_dir = node_data
    _check(conf, data_dir, sorted(conf.claimed_tests(data_dir)))
