"""What tf2onnx emits for a Keras CNN and a Keras LSTM, built by hand with onnx.helper (no
TensorFlow here): NHWC inputs with Transposes around Conv, MatMul + Add for Dense, time-major
LSTM with Keras's initializer names. Oracles: torch with the same weights (reordered by hand)."""

from __future__ import annotations

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

import graphc

RNG = np.random.default_rng(3)


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
