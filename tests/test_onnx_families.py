"""ONNX in, issue 11's coverage list: DenseNet, Inception, SqueezeNet, ShuffleNet v2, VGG,
EfficientNet, a BERT-style encoder and a ViT (tests/onnx_torch_families.py, plain torch, random
weights), exported by both torch.onnx exporters (legacy with do_constant_folding=False, dynamo
with optimize=False) and checked against torch itself, as tests/test_onnx_import.py does for
the seed models: imported, shape-checked, optimized (-O0 and -O2) and re-exported (full ONNX
checker), outputs on onnxruntime equal to torch (float32, relative 1e-5), graphc's numpy
references too, every parameter under its state_dict name, and `grad` equal to torch.autograd
for every parameter (relative 1e-5, tighter than the seed models' 1e-4).

Also the import fixes these models needed, each against a hand-worked oracle: symbolic shape
arithmetic (`N * heads`, `shape == -1`), Expand over a symbolic batch, reshapes of `N*2`-sized
axes, and SplitToSequence / SequenceAt.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper
from onnx_torch_families import DYNAMIC, FAMILIES, build, export, inputs
from onnx_torch_models import assert_close as _close
from onnx_torch_models import ort_session as _session

import graphc
from graphc.cli import main

torch.set_num_threads(1)
SLOW = {"vgg_bn"}  # a second VGG (with batch norm): the plain one is the family's fast case
CASES = [pytest.param(name, dynamo, id=f"{name}-{'dynamo' if dynamo else 'legacy'}",
                      marks=[pytest.mark.slow] if name in SLOW or dynamo else [])
         for name in FAMILIES for dynamo in (False, True)]


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """(name, dynamo) -> (path, torch model, torch inputs): each model exported once per session."""
    cache: dict = {}
    root = tmp_path_factory.mktemp("onnx_families")

    def get(name: str, dynamo: bool):
        key = (name, dynamo)
        if key not in cache:
            model, feeds = build(name), inputs(name)
            path = export(model, feeds, str(root / f"{name}-{'dynamo' if dynamo else 'legacy'}.onnx"), dynamo,
                          name in DYNAMIC)
            cache[key] = (path, model, feeds)
        return cache[key]
    return get


def _numpy(feeds: dict) -> dict:
    return {k: v.numpy() for k, v in feeds.items()}


@pytest.mark.parametrize("name,dynamo", CASES)
def test_family_matches_torch(exported, name, dynamo):
    path, model, feeds = exported(name, dynamo)
    m = graphc.load(path)
    assert all(isinstance(d, int) or d for v in m.graph.nodes for o in v.outputs for d in o.shape)
    if name in DYNAMIC:  # the batch stays symbolic through every op
        assert m.graph.outputs[0].shape[0] == "N"
    with torch.no_grad():
        want = model(*feeds.values()).numpy()
    for level in (0, 2):
        proto = m.to_onnx(opt_level=level)
        onnx.checker.check_model(proto, full_check=True)
        _close(_session(proto.SerializeToString()).run(None, _numpy(feeds))[0], want)
    _close(m.evaluate(_numpy(feeds))["y"], want, rtol=1e-4)  # graphc's numpy references
    names = set(m.graph.params)
    trainable = {k for k, _ in model.named_parameters()}
    assert trainable <= names, sorted(trainable - names)[:5]


@pytest.mark.parametrize("name,dynamo", CASES)
def test_family_grad_matches_autograd(exported, name, dynamo):
    path, model, feeds = exported(name, dynamo)
    proto = graphc.load(path).grad("params").to_onnx(opt_level=2)
    onnx.checker.check_model(proto, full_check=True)
    session = _session(proto.SerializeToString())
    with torch.no_grad():
        shape = model(*feeds.values()).shape
    cot = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    outs = dict(zip([o.name for o in session.get_outputs()], session.run(None, {**_numpy(feeds), "grad.y": cot})))
    model.zero_grad()
    (model(*feeds.values()) * torch.from_numpy(cot)).sum().backward()
    grads = {pname: p.grad.numpy() for pname, p in model.named_parameters()}
    overall = max(float(np.abs(g).max()) for g in grads.values())
    for pname, want in grads.items():
        assert f"grad.{pname}" in outs, pname
        if pname.endswith("attention.key.bias"):
            # zero by symmetry (softmax ignores the key bias, which adds one number to a row of
            # scores): both sides are rounding noise, compared on the scale of the whole gradient
            np.testing.assert_allclose(outs[f"grad.{pname}"], want, atol=1e-5 * overall)
            continue
        _close(outs[f"grad.{pname}"], want, rtol=1e-5)


def test_family_batch_of_another_size(exported):
    """The symbolic batch really is one: the ViT (class token expanded over N, attention reshapes
    of N*heads) re-exported with -O2 runs a batch of 5 and matches torch."""
    path, model, _ = exported("vit", False)
    x = torch.randn(5, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        want = model(x).numpy()
    proto = graphc.load(path).to_onnx(opt_level=2)
    _close(_session(proto.SerializeToString()).run(None, {"x": x.numpy()})[0], want)


def test_family_cli_check(exported, capsys):
    path, _, _ = exported("squeezenet", False)
    assert main(["check", path]) == 0
    out = capsys.readouterr().out
    assert "features.3.expand3x3" in out and "shapes check" in out


# -- the import fixes, each against a hand-worked oracle -----------------------------------
def _save(tmp_path, nodes, inputs_, outputs, inits=(), opset=17, name="m.onnx") -> str:
    graph = helper.make_graph(nodes, "g", inputs_, outputs, list(inits))
    path = str(tmp_path / name)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)
    return path


def _i64(name: str, values) -> onnx.TensorProto:
    return onnx.numpy_helper.from_array(np.asarray(values, np.int64), name)


def test_symbolic_shape_arithmetic_and_equal(tmp_path):
    """Shape(x)[0] * 2 and the legacy exporter's `Where(shape == -1, 1, shape)`: a reshape to
    [N*2, 3] and an Expand to [N, 1, 3], both with a symbolic N, against numpy."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Mul", ["n", "two"], ["n2"]),
             helper.make_node("Unsqueeze", ["n2", "ax0"], ["n2v"]),
             helper.make_node("Concat", ["n2v", "three"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["r"]),  # [N, 2, 3] -> [N*2, 3]
             helper.make_node("Unsqueeze", ["n", "ax0"], ["nv"]),
             helper.make_node("Concat", ["nv", "minus1", "minus1"], ["want"], axis=0),  # [N, -1, -1]
             helper.make_node("Equal", ["want", "minus1"], ["keep"]),
             helper.make_node("Where", ["keep", "one", "want"], ["eshape"]),  # [N, 1, 1]
             helper.make_node("Expand", ["c", "eshape"], ["e"]),
             helper.make_node("Identity", ["r"], ["y"])]
    inits = [_i64("zero", 0), _i64("two", 2), _i64("ax0", [0]), _i64("three", [3]), _i64("minus1", [-1]),
             _i64("one", [1]), onnx.numpy_helper.from_array(np.arange(3, dtype=np.float32).reshape(1, 1, 3), "c")]
    path = _save(tmp_path, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 3])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
                  helper.make_tensor_value_info("e", TensorProto.FLOAT, None)], inits)
    m = graphc.load(path)
    assert m.graph.outputs[0].shape == ("N*2", 3) and m.graph.outputs[1].shape == ("N", 1, 3)
    x = np.random.default_rng(0).standard_normal((4, 2, 3)).astype(np.float32)
    for out in (m.run({"x": x}), m.evaluate({"x": x})):
        np.testing.assert_array_equal(out["y"], x.reshape(8, 3))
        np.testing.assert_array_equal(out["e"], np.broadcast_to(np.arange(3, dtype=np.float32), (4, 1, 3)))


def test_symbolic_equal_against_a_size_is_refused(tmp_path, capsys):
    """`N == 2` is not known at import time: a one-line error, not a guess."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Equal", ["s", "two"], ["k"]),
             helper.make_node("Where", ["k", "s", "s"], ["t"]),
             helper.make_node("Reshape", ["x", "t"], ["y"])]
    path = _save(tmp_path, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [_i64("two", [2, 2])])
    assert main(["check", path]) == 2
    err = capsys.readouterr().err
    assert "computed at run time" in err and "Traceback" not in err


def test_reshape_of_a_symbolic_multiple(tmp_path):
    """[N*2, 4] -> [-1, 2, 4] infers N (the static factor inside `N*2` counts)."""
    from graphc.ops.shape import reshape_shape

    assert reshape_shape(("N*2", 4), [-1, 2, 4]) == ("N", 2, 4)
    assert reshape_shape(("N*6", 5), [-1, 3, 5]) == ("N*2", 3, 5)
    with pytest.raises(graphc.errors.ShapeError):
        reshape_shape(("N", 4), [-1, 8])  # N/2 is not a whole dim


def test_split_to_sequence_and_sequence_at(tmp_path):
    """torch.chunk as the dynamo exporter writes it: SplitToSequence (a chunk size) + SequenceAt,
    and the sizes / no-split forms, against numpy."""
    nodes = [helper.make_node("SplitToSequence", ["x", "chunk"], ["seq"], axis=1),
             helper.make_node("SequenceAt", ["seq", "p0"], ["a"]),
             helper.make_node("SequenceAt", ["seq", "pm1"], ["b"]),
             helper.make_node("SplitToSequence", ["x", "sizes"], ["seq2"], axis=1),
             helper.make_node("ConcatFromSequence", ["seq2"], ["c"], axis=1),
             helper.make_node("SplitToSequence", ["x"], ["seq3"], axis=2, keepdims=0),
             helper.make_node("SequenceAt", ["seq3", "p1"], ["d"]),
             helper.make_node("SequenceLength", ["seq3"], ["n"]),
             helper.make_node("Cast", ["n"], ["nf"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["d", "nf"], ["d3"])]
    inits = [_i64("chunk", 3), _i64("p0", 0), _i64("pm1", -1), _i64("p1", 1), _i64("sizes", [1, 4])]
    path = _save(tmp_path, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 5, 3])],
                 [helper.make_tensor_value_info(k, TensorProto.FLOAT, None) for k in ("a", "b", "c", "d3")], inits)
    m = graphc.load(path)
    x = np.random.default_rng(1).standard_normal((2, 5, 3)).astype(np.float32)
    for out in (m.run({"x": x}), m.evaluate({"x": x})):
        np.testing.assert_array_equal(out["a"], x[:, :3])
        np.testing.assert_array_equal(out["b"], x[:, 3:])
        np.testing.assert_array_equal(out["c"], x)
        np.testing.assert_allclose(out["d3"], x[:, :, 1] * 3)


def test_sequence_into_another_op_is_refused(tmp_path, capsys):
    nodes = [helper.make_node("SplitToSequence", ["x"], ["seq"], axis=0),
             helper.make_node("Identity", ["seq"], ["y"])]
    path = _save(tmp_path, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    assert main(["check", path]) == 2
    err = capsys.readouterr().err
    assert "reads a sequence" in err and "Traceback" not in err
