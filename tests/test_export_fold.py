"""-O2's export fold (graphc/export/fold.py): ONNX nodes that compute on initializers alone become
initializers. Each case checks the file's nodes and initializers, and its outputs on onnxruntime
against numpy or PyTorch."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

import graphc
from graphc.export.fold import FOLD_ALL, FOLD_CONSTANTS, Folder
from graphc.export.onnx_export import to_onnx
from graphc.ir.graph import Graph
from graphc.ir.types import TensorType
from graphc.ops import Builder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RNG = np.random.default_rng(3)


def _run(model: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    onnx.checker.check_model(model, full_check=True)
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


def _weight_graph():
    """y = x @ transpose(w) + b, and z = transpose(w) itself as a second output."""
    g = Graph("t")
    x = g.add_input("x", TensorType("float32", ("N", 4)))
    b = Builder(g, layer="l")
    w = g.add_param("l.w", RNG.standard_normal((3, 4)).astype(np.float32))
    bias = g.add_param("l.b", RNG.standard_normal(3).astype(np.float32))
    wt = b.transpose(w, perm=[1, 0])
    g.outputs = [b.add(b.matmul(x, wt), bias)]
    return g, w.data, bias.data


def test_a_transposed_weight_becomes_one_initializer():
    g, w, bias = _weight_graph()
    plain, folded = to_onnx(g), to_onnx(g, fold=FOLD_ALL)
    assert to_onnx(g, fold=FOLD_CONSTANTS) == plain  # parameters are left alone
    assert [n.op_type for n in plain.graph.node] == ["Transpose", "MatMul", "Add"]
    assert [n.op_type for n in folded.graph.node] == ["MatMul", "Add"]
    inits = {t.name: numpy_helper.to_array(t) for t in folded.graph.initializer}
    assert "l.w" not in inits and "l.b" in inits  # only the transpose read the original
    matmul = folded.graph.node[0]
    np.testing.assert_array_equal(inits[matmul.input[1]], w.T)
    x = RNG.standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(_run(folded, {"x": x})[0], x @ w.T + bias, rtol=1e-5, atol=1e-6)
    assert folded.SerializeToString(deterministic=True) == to_onnx(g, fold=FOLD_ALL).SerializeToString(
        deterministic=True)


def test_a_graph_output_is_never_folded_away():
    g, w, _ = _weight_graph()
    b = Builder(g, layer="m")
    g.outputs.append(b.transpose(g.params["l.w"], perm=[1, 0]))
    model = to_onnx(g, fold=FOLD_ALL)
    assert [n.op_type for n in model.graph.node].count("Transpose") == 1  # the output's; the MatMul's folded
    out = _run(model, {"x": np.zeros((2, 4), np.float32)})
    np.testing.assert_array_equal(out[1], w.T)


def test_results_much_larger_than_their_inputs_stay_nodes():
    shape = np.asarray([1024, 1024], np.int64)  # 8 MiB of zeros from 16 bytes
    small = np.asarray([2, 3], np.int64)
    folder = Folder({"big": lambda: shape, "small": lambda: small}, set(), 21)
    g = onnx.GraphProto()
    g.node.extend([helper.make_node("ConstantOfShape", ["big"], ["zeros_big"]),
                   helper.make_node("ConstantOfShape", ["small"], ["zeros_small"])])
    folder.fold_new(g.node, 0)
    assert [n.output[0] for n in g.node] == ["zeros_big"]
    np.testing.assert_array_equal(folder.folded["zeros_small"], np.zeros((2, 3), np.float32))
    assert folder.read == {"big"} and folder.unread() == {"small"}


def test_values_read_inside_a_scan_body_stay_in_the_file():
    # the rnn's onnxruntime form transposes w_hh outside its Scan and reads it in the body
    m = graphc.load(os.path.join(ROOT, "specs", "rnn.yaml"))
    x = RNG.integers(0, 96, (3, 7)).astype(np.int64)  # chars [N, T]
    model = to_onnx(m.inference_graph(), target="onnxruntime", fold=FOLD_ALL)
    assert "Scan" in [n.op_type for n in model.graph.node]
    assert "Transpose" not in [n.op_type for n in model.graph.node if n.input and n.input[0] in m.graph.params]
    feeds = {m.graph.inputs[0].name: x}
    want = graphc.ops.interpret(m.graph, feeds, outputs=m.graph.outputs)
    for v, got in zip(m.graph.outputs, _run(model, feeds)):
        np.testing.assert_allclose(got, want[v.name], rtol=1e-4, atol=1e-4)


def test_an_imported_pytorch_lstm_exports_no_more_nodes_than_onnxsim(tmp_path):
    """tests/onnx_torch_models.py's LSTM (static shapes, legacy exporter): onnxsim leaves 6 nodes
    (Transpose, LSTM, Squeeze, Transpose, Gather, Gemm); so does graphc at -O2."""
    torch = pytest.importorskip("torch")
    from onnx_torch_models import MODELS, build, export

    torch.manual_seed(1)
    x = torch.randn(*MODELS["lstm"][1])
    net = build("lstm")
    path = export(net, x, str(tmp_path / "lstm.onnx"), False)
    model = onnx.load_from_string(graphc.load(path).onnx_bytes())
    ops = [n.op_type for n in model.graph.node]
    assert len(ops) <= 6 and not {"Split", "Concat", "Shape", "ConstantOfShape", "Unsqueeze"} & set(ops), ops
    with torch.no_grad():
        want = net(x).numpy()
    np.testing.assert_allclose(_run(model, {"x": x.numpy()})[0], want, rtol=1e-5, atol=1e-5)


def _compile(path: str, level: str, out) -> onnx.ModelProto:
    subprocess.run([sys.executable, "-m", "graphc", "compile", path, level, "-o", str(out)], check=True,
                   capture_output=True, text=True, cwd=ROOT)
    return onnx.load(str(out))


def test_compile_of_a_spec_keeps_the_contract_initializers(tmp_path):
    """specs/lstm_classifier.yaml at -O2: `lstm.weight_ih [4*hidden, in]` and the others stay
    initializers in PyTorch's layout (docs/spec-language.md), so the gate re-order stays nodes;
    the zero state (a constant) is folded."""
    model = _compile(os.path.join(ROOT, "specs", "lstm_classifier.yaml"), "-O2", tmp_path / "m.onnx")
    inits = {t.name: tuple(t.dims) for t in model.graph.initializer}
    assert inits["lstm.weight_ih"] == (128, 8) and inits["lstm.weight_hh"] == (128, 32)
    assert {"lstm.bias_ih", "lstm.bias_hh", "logits.weight", "logits.bias"} <= set(inits)
    assert "Split" in [n.op_type for n in model.graph.node]


def test_compile_of_an_imported_model_folds_at_O2_only(tmp_path):
    torch = pytest.importorskip("torch")
    from onnx_torch_models import MODELS, build, export

    torch.manual_seed(1)
    path = export(build("lstm"), torch.randn(*MODELS["lstm"][1]), str(tmp_path / "lstm.onnx"), True)
    o1, o2 = (_compile(path, level, tmp_path / f"m{level}.onnx") for level in ("-O1", "-O2"))
    assert "Split" in [n.op_type for n in o1.graph.node] and "Split" not in [n.op_type for n in o2.graph.node]
    assert len(o2.graph.node) < len(o1.graph.node)
