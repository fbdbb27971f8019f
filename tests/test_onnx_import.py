"""ONNX in: PyTorch exports (both exporters) imported into graphc ops, against torch itself.

Each model (tests/onnx_torch_models.py, random weights) is exported by torch.onnx.export
(legacy with do_constant_folding=False, dynamo with optimize=False), imported with
graphc.load, shape-checked, optimized (-O2) and re-exported (full ONNX checker), and run on
onnxruntime: outputs match torch (float32, relative 1e-5); `grad` of each matches
torch.autograd for every parameter under its state_dict name.
"""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
import torch
from onnx_torch_models import DYNAMIC, MODELS, SLOW, build, export
from onnx_torch_models import assert_close as _close
from onnx_torch_models import ort_session as _session

import graphc
from graphc.cli import main

torch.set_num_threads(1)
CASES = [pytest.param(name, dynamo, id=f"{name}-{'dynamo' if dynamo else 'legacy'}",
                      marks=[pytest.mark.slow] if name in SLOW or dynamo else [])
         for name in MODELS for dynamo in (False, True)]


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """(name, dynamo) -> (path, torch model, input): each model exported once per session."""
    cache: dict = {}
    root = tmp_path_factory.mktemp("onnx_exports")

    def get(name: str, dynamo: bool):
        key = (name, dynamo)
        if key not in cache:
            model = build(name)
            torch.manual_seed(1)
            x = torch.randn(*MODELS[name][1])
            path = export(model, x, str(root / f"{name}-{'dynamo' if dynamo else 'legacy'}.onnx"), dynamo,
                          name in DYNAMIC)
            cache[key] = (path, model, x)
        return cache[key]
    return get


@pytest.mark.parametrize("name,dynamo", CASES)
def test_import_matches_torch(exported, name, dynamo):
    path, model, x = exported(name, dynamo)
    m = graphc.load(path)
    assert all(isinstance(d, int) or d for v in m.graph.nodes for o in v.outputs for d in o.shape)
    with torch.no_grad():
        want = model(x).numpy()
    for level in (0, 2):
        proto = m.to_onnx(opt_level=level)
        onnx.checker.check_model(proto, full_check=True)
        got = _session(proto.SerializeToString())
        y = got.run(None, {"x": x.numpy()})[0]
        _close(y, want)
    # graphc's numpy references agree too (an independent check of the lowering)
    _close(m.evaluate({"x": x.numpy()})["y"], want, rtol=1e-4)
    # parameters keep their state_dict names
    names = set(m.graph.params)
    trainable = {k for k, p in model.named_parameters()}
    assert trainable <= names, sorted(trainable - names)[:5]


@pytest.mark.parametrize("name,dynamo", CASES)
def test_grad_matches_autograd(exported, name, dynamo):
    path, model, x = exported(name, dynamo)
    g = graphc.load(path).grad("params")
    proto = g.to_onnx(opt_level=2)
    onnx.checker.check_model(proto, full_check=True)
    session = _session(proto.SerializeToString())
    rng = np.random.default_rng(0)
    with torch.no_grad():
        shape = model(x).shape
    cot = rng.standard_normal(shape).astype(np.float32)
    outs = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"x": x.numpy(), "grad.y": cot})))
    model.zero_grad()
    (model(x) * torch.from_numpy(cot)).sum().backward()
    for pname, p in model.named_parameters():
        key = f"grad.{pname}"
        assert key in outs, key
        _close(outs[key], p.grad.numpy(), rtol=1e-4)


def test_cli_commands_take_onnx(exported, tmp_path, capsys):
    path, model, x = exported("cnn", False)
    assert main(["check", path]) == 0
    out = capsys.readouterr().out
    assert "conv1" in out and "[N, 4, 10, 10]" in out and "shapes check" in out
    assert main(["compile", path, "-O2", "--explain", "-o", str(tmp_path / "c.onnx")]) == 0
    onnx.checker.check_model(onnx.load(str(tmp_path / "c.onnx")), full_check=True)
    assert main(["grad", path, "--wrt", "conv1.weight", "-o", str(tmp_path / "g.onnx")]) == 0
    outs = [o.name for o in onnx.load(str(tmp_path / "g.onnx")).graph.output]
    assert outs == ["y", "grad.conv1.weight"]
    np.save(tmp_path / "x.npy", x.numpy())
    assert main(["run", path, "-i", f"x={tmp_path / 'x.npy'}", "-o", str(tmp_path / "y.npz")]) == 0
    capsys.readouterr()
    assert main(["summary", path]) == 0
    assert "conv1" in capsys.readouterr().out


def test_summary_flops_hand_worked(tmp_path):
    """Conv, Gemm, Add, Mul, Sum, Relu: FLOPs per example against values worked by hand."""
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 2, 3, 3), np.float32), "conv.weight")
    b = numpy_helper.from_array(np.ones(4, np.float32), "conv.bias")
    fw = numpy_helper.from_array(np.ones((5, 144), np.float32), "fc.weight")
    nodes = [helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["c"], name="/conv/Conv"),
             helper.make_node("Add", ["c", "c"], ["a"], name="/add/Add"),
             helper.make_node("Mul", ["a", "c"], ["m"], name="/mul/Mul"),
             helper.make_node("Sum", ["m", "a", "c"], ["s"], name="/sum/Sum"),
             helper.make_node("Flatten", ["s"], ["f"], name="/flat/Flatten"),
             helper.make_node("Gemm", ["f", "fc.weight"], ["y"], name="/fc/Gemm", transB=1)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])], [w, b, fw])
    path = str(tmp_path / "f.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    data = graphc.load(path).summary("json")
    import json

    rows = {r["layer"]: r for r in json.loads(data)["layers"]}
    out = 4 * 6 * 6  # conv output elements
    assert rows["conv"]["flops"] == 2 * out * 2 * 9 + out  # 2 * MACs + bias adds
    assert rows["add"]["flops"] == out and rows["mul"]["flops"] == out
    assert rows["sum"]["flops"] == 2 * out  # three inputs: two adds per element
    assert rows["fc"]["flops"] == 2 * 5 * 144


def test_unsupported_nodes_listed_in_one_error(tmp_path, capsys):
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Relu", ["x"], ["a"], name="ok"),
             helper.make_node("Det", ["a"], ["b"], name="det1"),
             helper.make_node("MyOp", ["b"], ["y"], name="custom", domain="com.example")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2])])
    path = str(tmp_path / "u.onnx")
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    onnx.save(model, path)
    assert main(["check", path]) == 2
    err = capsys.readouterr().err
    assert "2 node(s) cannot be imported" in err and "det1: Det (domain 'ai.onnx')" in err
    assert "custom: MyOp (domain 'com.example')" in err and "Traceback" not in err


def test_unsupported_attribute_is_an_error(tmp_path, capsys):
    from onnx import TensorProto, helper

    node = helper.make_node("Cast", ["x"], ["y"], name="c", to=TensorProto.FLOAT, saturate=0)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    path = str(tmp_path / "a.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), path)
    assert main(["check", path]) == 2
    assert "attribute saturate=0 is not supported" in capsys.readouterr().err


def test_value_info_disagreement_warns(tmp_path):
    from onnx import TensorProto, helper

    node = helper.make_node("Relu", ["x"], ["r"], name="relu1")
    node2 = helper.make_node("Neg", ["r"], ["y"], name="neg1")
    graph = helper.make_graph([node, node2], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
                              value_info=[helper.make_tensor_value_info("r", TensorProto.FLOAT, [2, 4])])
    path = str(tmp_path / "v.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    with pytest.warns(UserWarning, match="relu1.*\\[2, 4\\]"):
        graphc.load(path)


def test_value_info_warning_is_one_cli_line(tmp_path):
    """`graphc check` prints the disagreement as one graphc-style stderr line (not Python's
    warnings format) and still succeeds."""
    import subprocess
    import sys

    from onnx import TensorProto, helper

    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu1"), helper.make_node("Neg", ["r"], ["y"], name="neg1")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
                              value_info=[helper.make_tensor_value_info("r", TensorProto.FLOAT, ["N", 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "model.onnx"))
    r = subprocess.run([sys.executable, "-m", "graphc", "check", "model.onnx"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines() == ["model.onnx: warning: node 'relu1' (Relu): file says [N, 4], graphc infers [N, 3]"]


def test_old_opset_is_upgraded(tmp_path):
    from onnx import TensorProto, helper

    w = onnx.numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "w")
    nodes = [helper.make_node("Unsqueeze", ["x"], ["u"], axes=[0], name="u"),
             helper.make_node("MatMul", ["u", "w"], ["m"], name="mm"),
             helper.make_node("Softmax", ["m"], ["y"], axis=1, name="sm")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 3])], [w])
    path = str(tmp_path / "o.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)], ir_version=4), path)
    x = np.random.default_rng(0).standard_normal((4, 2)).astype(np.float32)
    m = (x[None] @ onnx.numpy_helper.to_array(w)).reshape(1, 12)  # opset 9 Softmax: over axes 1.. together
    want = (np.exp(m - m.max()) / np.exp(m - m.max()).sum()).reshape(1, 4, 3)
    np.testing.assert_allclose(graphc.load(path).run({"x": x})["y"], want, rtol=1e-5)


def test_training_file_lowers_the_loss(exported, tmp_path):
    path, model, x = exported("mlp", False)
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((64, 12)).astype(np.float32)
    np.savez(tmp_path / "data.npz", x=xs, label=(xs[:, 0] > 0).astype(np.int64) + (xs[:, 1] > 0))
    (tmp_path / "train.yaml").write_text(
        "training:\n  data: {npz: data.npz}\n  loss: {cross_entropy: {logits: y, target: label}}\n"
        "  optimizer: {adam: {lr: 0.01}}\n  batch_size: 16\n  epochs: 8\n")
    out = tmp_path / "run"
    assert main(["train", path, "--training", str(tmp_path / "train.yaml"), "--out", str(out), "--quiet"]) == 0
    import json

    history = json.loads((out / "history.json").read_text())
    history = history["history"] if isinstance(history, dict) else history
    assert history[-1]["loss"] < history[0]["loss"]


def test_training_file_errors_are_located(tmp_path, exported, capsys):
    path, _, _ = exported("mlp", False)
    bad = tmp_path / "bad.yaml"
    bad.write_text("training:\n  loss: {mse: [y, t]}\nlayers: []\n")
    assert main(["train", path, "--training", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3:1: error:" in err and "only 'training:'" in err


def test_layer_view_groups_modules(exported, tmp_path):
    path, _, _ = exported("resnet_block", False)
    m = graphc.load(path)
    blocks = {l.name for l in m.graph.layers if l.block}
    assert {"0", "1"} <= blocks or {"0.downsample"} & blocks
    assert any(l.name == "0.conv1" for l in m.graph.layers)
    assert os.path.basename(path).endswith(".onnx")


def test_pad_and_clip_import(tmp_path):
    """Pad (constant, negative pads crop) and Clip against numpy, on onnxruntime and the references."""
    from onnx import TensorProto, helper

    inits = [onnx.numpy_helper.from_array(np.array([0, 0, 1, 2, 0, 0, 2, -1], np.int64), "p"),
             onnx.numpy_helper.from_array(np.array(1.5, np.float32), "v"),
             onnx.numpy_helper.from_array(np.array(0.2, np.float32), "lo")]
    nodes = [helper.make_node("Pad", ["x", "p", "v"], ["q"], mode="constant", name="pad"),
             helper.make_node("Clip", ["q", "lo"], ["y"], name="clip")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 7, 6])], inits)
    path = str(tmp_path / "p.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    want = np.maximum(np.pad(x, [(0, 0), (0, 0), (1, 2), (2, 0)], constant_values=1.5)[..., :-1], 0.2)
    m = graphc.load(path)
    assert m.graph.outputs[0].shape == ("N", 3, 7, 6)
    np.testing.assert_allclose(m.run({"x": x})["y"], want, rtol=1e-6)
    np.testing.assert_allclose(m.evaluate({"x": x})["y"], want, rtol=1e-6)


def test_bench_import_quick(tmp_path):
    import json
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, GRAPHC_BENCH_RESULTS=str(tmp_path))
    proc = subprocess.run([sys.executable, os.path.join(root, "bench", "import.py"), "--quick"], cwd=str(tmp_path),
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads((tmp_path / "import.json").read_text())
    assert data["benchmark"] == "import" and data["machine"]["cpu"]
    assert all(r["nodes_graphc_O2"] <= r["nodes_onnxsim"] for r in data["rows"])


def test_opset9_constant_of_shape_weights_fold(tmp_path):
    """Model-zoo style: opset 9, weights made by ConstantOfShape nodes: folded, not drawn."""
    from onnx import TensorProto, helper

    from graphc.viz import to_dot

    nodes = [helper.make_node("Constant", [], ["ws"], value=onnx.numpy_helper.from_array(np.array([4, 2, 3, 3], np.int64)),
                              name="w_shape"),
             helper.make_node("ConstantOfShape", ["ws"], ["w"], name="w_fill",
                              value=onnx.numpy_helper.from_array(np.array([0.5], np.float32))),
             helper.make_node("Conv", ["x", "w"], ["c"], name="conv1", kernel_shape=[3, 3]),
             helper.make_node("Relu", ["c"], ["y"], name="relu1")]
    graph = helper.make_graph(nodes, "zoo", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 4, 4])])
    path = str(tmp_path / "zoo.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)], ir_version=4), path)
    m = graphc.load(path)
    assert [l.name for l in m.graph.layers] == ["conv1", "relu1"]
    assert "ConstantOfShape" not in to_dot(m.graph) and "w_fill" not in to_dot(m.graph)
    x = np.random.default_rng(0).standard_normal((1, 2, 6, 6)).astype(np.float32)
    want = np.maximum(torch.nn.functional.conv2d(torch.from_numpy(x), torch.full((4, 2, 3, 3), 0.5)).numpy(), 0)
    np.testing.assert_allclose(m.run({"x": x})["y"], want, rtol=1e-5)
