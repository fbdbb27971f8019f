"""What tf2onnx emits for a Keras CNN and a Keras LSTM.

Real exports first: tests/data/tf2onnx/ holds tf2onnx 1.17 conversions (opset 13) of a small Keras
CNN (Conv2D, MaxPooling2D, Flatten, Dropout, Dense softmax) and a Keras LSTM, written by
tools/make_tf2onnx_fixtures.py in a separate TensorFlow venv, with Keras's own output for a fixed
input and Keras's gradients (tf.GradientTape) of sum(y * dy) wrt every weight, mapped into the
initializers' layouts by value matching. Those are the oracles (TensorFlow is not needed here).
Then the same patterns built by hand with onnx.helper, against torch with the same weights."""

from __future__ import annotations

import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

import graphc

RNG = np.random.default_rng(3)


DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "tf2onnx")
REAL = ("keras_cnn", "keras_lstm")


def _real(name: str):
    return os.path.join(DATA, f"{name}.onnx"), dict(np.load(os.path.join(DATA, f"{name}_io.npz")))


def _ort(data: bytes, feeds: dict) -> dict:
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))


@pytest.mark.parametrize("name", REAL)
def test_real_tf2onnx_matches_keras(name):
    """Import, check, -O0/-O2 re-export (full checker), onnxruntime and the numpy interpreter
    against Keras's output (float32: rtol 1e-5 on onnxruntime; the interpreter computes in float64)."""
    path, io = _real(name)
    m = graphc.load(path)
    assert m.check()  # every value's shape from graphc's rules
    assert isinstance(m.graph.inputs[0].shape[0], str)  # tf2onnx's symbolic batch kept
    out = m.graph.outputs[0].name
    for level in (0, 2):
        model = m.to_onnx(level)
        onnx.checker.check_model(model, full_check=True)
        got = _ort(model.SerializeToString(), {"x": io["x"]})[out]
        np.testing.assert_allclose(got, io["y"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.evaluate({"x": io["x"]})[out], io["y"], rtol=1e-5, atol=1e-6)
    assert len(m.to_onnx(2).graph.node) <= {"keras_cnn": 11, "keras_lstm": 22}[name]  # measured; file: 18, 14


@pytest.mark.parametrize("name", REAL)
def test_real_tf2onnx_grad_matches_keras(name):
    """`grad` wrt every initializer that holds a Keras weight against tf.GradientTape's
    (float32 on both sides, different summation orders: rtol 1e-4)."""
    path, io = _real(name)
    g = graphc.load(path).grad("params")
    out = graphc.load(path).graph.outputs[0].name
    outs = _ort(g.onnx_bytes(), {"x": io["x"], f"grad.{out}": io["dy"]})
    assert len(io["grad_names"]) == {"keras_cnn": 6, "keras_lstm": 5}[name]  # every Keras weight has an oracle
    for init in io["grad_names"]:
        np.testing.assert_allclose(outs[f"grad.{init}"], io[f"grad/{init}"], rtol=1e-4, atol=1e-6, err_msg=init)


def test_real_tf2onnx_views_group_by_keras_layer():
    """Layers come from the TF scopes; tf2onnx's own nodes (LSTM__75, Transpose__36) join their
    neighbour's layer; summary and the layer view work."""
    cnn = graphc.load(_real("keras_cnn")[0])
    names = {l.name for l in cnn.graph.layers}
    assert {"cnn_1.conv1_1", "cnn_1.conv2_1", "cnn_1.pool1_1", "cnn_1.flatten_1", "cnn_1.dense_1"} <= names
    # conv1 3x3x3 -> 4 on 14x14, conv2 3x3x4 -> 8 on 5x5, dense 32 -> 10: MACs by hand
    assert "28,688" in cnn.summary()  # 14*14*4*27 + 5*5*8*36 + 32*10 = 21168 + 7200 + 320
    assert "cnn_1" in cnn.to_dot("layer")
    lstm = graphc.load(_real("keras_lstm")[0])
    assert "lstm_model_1.lstm_1.lstm" in {l.name for l in lstm.graph.layers}
    assert not {"lstm_", "squeeze_", "transpose_"} & {l.name for l in lstm.graph.layers}  # unscoped before
    assert "digraph" in lstm.to_dot("layer")


def test_real_tf2onnx_lstm_keeps_onnx_gate_order():
    """The imported LSTM keeps W, R, B in ONNX's gate order: no re-ordering Split/Concat on them."""
    m = graphc.load(_real("keras_lstm")[0])
    node = next(n for n in m.graph.nodes if n.op == "lstm")
    assert node.attrs["gate_order"] == "iofg"
    ops = [n.op_type for n in m.to_onnx(2).graph.node]
    assert "Split" not in ops and ops.count("LSTM") == 1


def _f(*shape):
    return RNG.standard_normal(shape).astype(np.float32) * 0.3


def _save(tmp_path, nodes, inputs, outputs, inits, name):
    graph = helper.make_graph(nodes, "tf2onnx", inputs, outputs, [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="tf2onnx")
    onnx.checker.check_model(model)
    path = str(tmp_path / name)
    onnx.save(model, path)
    return path


def test_keras_cnn(tmp_path):
    k = _f(8, 1, 3, 3)
    cb, dk, db = _f(8), _f(8 * 13 * 13, 10), _f(10)
    inits = {"sequential/conv2d/Conv2D/ReadVariableOp:0": k, "sequential/conv2d/BiasAdd/ReadVariableOp:0": cb,
             "sequential/dense/MatMul/ReadVariableOp:0": dk, "sequential/dense/BiasAdd/ReadVariableOp:0": db,
             "const_fold_opt__12": np.asarray([-1, 8 * 13 * 13], np.int64)}
    nodes = [
        helper.make_node("Transpose", ["input_1"], ["t0"], name="sequential/conv2d/Conv2D__6", perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["t0", "sequential/conv2d/Conv2D/ReadVariableOp:0",
                                  "sequential/conv2d/BiasAdd/ReadVariableOp:0"], ["c"], name="sequential/conv2d/BiasAdd",
                         kernel_shape=[3, 3], strides=[1, 1], auto_pad="VALID", dilations=[1, 1], group=1),
        helper.make_node("Relu", ["c"], ["r"], name="sequential/conv2d/Relu"),
        helper.make_node("MaxPool", ["r"], ["p"], name="sequential/max_pooling2d/MaxPool", kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node("Transpose", ["p"], ["t1"], name="sequential/max_pooling2d/MaxPool__16", perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", ["t1", "const_fold_opt__12"], ["f"], name="sequential/flatten/Reshape"),
        helper.make_node("MatMul", ["f", "sequential/dense/MatMul/ReadVariableOp:0"], ["m"],
                         name="sequential/dense/MatMul"),
        helper.make_node("Add", ["m", "sequential/dense/BiasAdd/ReadVariableOp:0"], ["a"], name="sequential/dense/BiasAdd"),
        helper.make_node("Softmax", ["a"], ["dense"], name="sequential/dense/Softmax", axis=-1)]
    path = _save(tmp_path, nodes, [helper.make_tensor_value_info("input_1", TensorProto.FLOAT, ["unk__20", 28, 28, 1])],
                 [helper.make_tensor_value_info("dense", TensorProto.FLOAT, ["unk__21", 10])], inits, "cnn.onnx")
    m = graphc.load(path)
    layers = {l.name for l in m.graph.layers}
    assert {"sequential.conv2d", "sequential.dense", "sequential.flatten"} <= layers
    x = _f(2, 28, 28, 1)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2)
    y = torch.relu(torch.nn.functional.conv2d(xt, torch.from_numpy(k), torch.from_numpy(cb)))
    y = torch.nn.functional.max_pool2d(y, 2).permute(0, 2, 3, 1).reshape(2, -1)
    want = torch.softmax(y @ torch.from_numpy(dk) + torch.from_numpy(db), -1).numpy()
    for level in (0, 2):
        onnx.checker.check_model(m.to_onnx(level), full_check=True)
    np.testing.assert_allclose(m.run({"input_1": x})["dense"], want, rtol=1e-5, atol=1e-6)
    assert m.graph.inputs[0].shape[0] == "unk__20"  # symbolic batch kept


def test_keras_lstm(tmp_path):
    hidden, feat, steps = 4, 3, 5
    W, R, B = _f(1, 4 * hidden, feat), _f(1, 4 * hidden, hidden), _f(1, 8 * hidden)
    dk, db = _f(hidden, 2), _f(2)
    inits = {"W": W, "R": R, "B": B, "sequential/dense/MatMul/ReadVariableOp:0": dk,
             "sequential/dense/BiasAdd/ReadVariableOp:0": db, "starts": np.asarray([-1], np.int64),
             "ends": np.asarray([2**63 - 1], np.int64), "axes": np.asarray([0], np.int64),
             "sq_axes": np.asarray([0, 1], np.int64)}
    nodes = [
        helper.make_node("Transpose", ["lstm_input"], ["tm"], name="sequential/lstm/transpose", perm=[1, 0, 2]),
        helper.make_node("LSTM", ["tm", "W", "R", "B"], ["Y", "Y_h"], name="sequential/lstm/LSTM", hidden_size=hidden,
                         direction="forward"),
        helper.make_node("Slice", ["Y", "starts", "ends", "axes"], ["last"], name="sequential/lstm/strided_slice"),
        helper.make_node("Squeeze", ["last", "sq_axes"], ["h"], name="sequential/lstm/Squeeze"),
        helper.make_node("MatMul", ["h", "sequential/dense/MatMul/ReadVariableOp:0"], ["m"], name="sequential/dense/MatMul"),
        helper.make_node("Add", ["m", "sequential/dense/BiasAdd/ReadVariableOp:0"], ["dense"],
                         name="sequential/dense/BiasAdd")]
    path = _save(tmp_path, nodes, [helper.make_tensor_value_info("lstm_input", TensorProto.FLOAT, ["N", steps, feat])],
                 [helper.make_tensor_value_info("dense", TensorProto.FLOAT, ["N", 2])], inits, "lstm.onnx")
    m = graphc.load(path)
    x = _f(3, steps, feat)
    lstm = torch.nn.LSTM(feat, hidden, batch_first=True)
    order = np.concatenate([np.arange(hidden) + g * hidden for g in (0, 2, 3, 1)])  # ONNX i,o,f,c -> torch i,f,g,o
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(W[0][order]))
        lstm.weight_hh_l0.copy_(torch.from_numpy(R[0][order]))
        lstm.bias_ih_l0.copy_(torch.from_numpy(B[0, :4 * hidden][order]))
        lstm.bias_hh_l0.copy_(torch.from_numpy(B[0, 4 * hidden:][order]))
        y, _ = lstm(torch.from_numpy(x))
        want = (y[:, -1] @ torch.from_numpy(dk) + torch.from_numpy(db)).numpy()
    onnx.checker.check_model(m.to_onnx(2), full_check=True)
    np.testing.assert_allclose(m.run({"lstm_input": x})["dense"], want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.evaluate({"lstm_input": x})["dense"], want, rtol=1e-4, atol=1e-5)
