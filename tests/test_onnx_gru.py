"""ONNX GRU/RNN import: linear_before_reset 0 (ONNX's default) and 1 (PyTorch's), direction
forward / reverse / bidirectional. Oracles: onnxruntime and onnx.reference running the original
node; finite differences of onnx.reference (float64) for the gradient; ONNX's own node tests."""

from __future__ import annotations

import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import graphc
from graphc.export.onnx_export import to_onnx
from graphc.onnx_in import import_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T_, N_, C_, H_ = 4, 3, 2, 5


def _gru_model(lbr: int, direction: str, bias: bool, dtype=np.float32, op: str = "GRU"):
    rng = np.random.default_rng(0)
    dirs = 2 if direction == "bidirectional" else 1
    gates = 3 if op == "GRU" else 1
    w = rng.uniform(-0.7, 0.7, (dirs, gates * H_, C_)).astype(dtype)
    r = rng.uniform(-0.7, 0.7, (dirs, gates * H_, H_)).astype(dtype)
    inits = [numpy_helper.from_array(w, "W"), numpy_helper.from_array(r, "R")]
    inputs = ["x", "W", "R"]
    if bias:
        inits.append(numpy_helper.from_array(rng.uniform(-0.4, 0.4, (dirs, 2 * gates * H_)).astype(dtype), "B"))
        inputs.append("B")
    attrs = {"hidden_size": H_, "direction": direction}
    if op == "GRU":
        attrs["linear_before_reset"] = lbr
    node = helper.make_node(op, inputs, ["y", "h"], **attrs)
    elem = TensorProto.DOUBLE if dtype == np.float64 else TensorProto.FLOAT
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", elem, [T_, "N", C_])],
                              [helper.make_tensor_value_info("y", elem, None),
                               helper.make_tensor_value_info("h", elem, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])


def _session(proto):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("op,lbr,direction,bias", [
    ("GRU", 0, "forward", True), ("GRU", 0, "forward", False), ("GRU", 0, "reverse", True),
    ("GRU", 0, "bidirectional", True), ("GRU", 1, "forward", True), ("GRU", 1, "reverse", False),
    ("RNN", 0, "reverse", True)])
def test_import_matches_onnxruntime_and_reference(op, lbr, direction, bias):
    model = _gru_model(lbr, direction, bias, op=op)
    x = np.random.default_rng(1).standard_normal((T_, N_, C_)).astype(np.float32)
    want_ort = _session(model).run(None, {"x": x})
    want_ref = ReferenceEvaluator(model).run(None, {"x": x})
    graph = import_model(model)
    assert graph.inputs[0].shape == (T_, "N", C_)
    proto = to_onnx(graph)
    onnx.checker.check_model(proto, full_check=True)
    got = _session(proto).run(None, {"x": x})
    for g, wo, wr in zip(got, want_ort, want_ref):
        np.testing.assert_allclose(g, wo, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(g, wr, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_grad_of_imported_gru_matches_finite_differences(tmp_path, direction):
    """linear_before_reset=0: `grad` wrt the weights W, R, B against central differences of
    onnx.reference's GRU (float64) on the original model."""
    model = _gru_model(0, direction, True, np.float64)  # the oracle (onnxruntime has no float64 GRU)
    model.graph.output.pop()  # y only
    ours = _gru_model(0, direction, True)
    ours.graph.output.pop()
    path = str(tmp_path / "gru.onnx")
    onnx.save(ours, path)
    x = np.random.default_rng(2).standard_normal((T_, N_, C_))
    cot = np.random.default_rng(3).standard_normal((T_, 1, N_, H_))
    g = graphc.load(path).grad("params").to_onnx(opt_level=2)
    onnx.checker.check_model(g, full_check=True)
    feeds = {"x": x.astype(np.float32), "grad.y": cot.astype(np.float32)}
    outs = dict(zip([o.name for o in g.graph.output], _session(g).run(None, feeds)))
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}

    def loss(name, value):
        m = onnx.ModelProto()
        m.CopyFrom(model)
        for t in m.graph.initializer:
            if t.name == name:
                t.CopyFrom(numpy_helper.from_array(value, name))
        return float(np.sum(ReferenceEvaluator(m).run(None, {"x": x})[0] * cot))

    rng = np.random.default_rng(4)
    for name, value in inits.items():
        v = rng.standard_normal(value.shape)
        eps = 1e-6
        fd = (loss(name, value + eps * v) - loss(name, value - eps * v)) / (2 * eps)
        analytic = float(np.sum(outs[f"grad.{name}"] * v))
        assert abs(fd - analytic) <= 1e-4 * max(1.0, abs(fd)), (name, fd, analytic)


def test_onnx_gru_and_rnn_node_tests():
    """ONNX's test_gru_* / test_simple_rnn_* node tests: all pass (layout=1 and reverse included)."""
    sys.path.insert(0, os.path.join(ROOT, "docs"))
    import gen_onnx_conformance as conf

    data = conf.ensure_data()
    names = sorted(n for n in conf.claimed_tests(data) if n.startswith(("test_gru", "test_simple_rnn", "test_rnn")))
    assert len(names) >= 12
    outcome = conf.run(data, names)
    for name, (kind, reason) in outcome.items():
        assert kind == "pass", (name, kind, reason)
