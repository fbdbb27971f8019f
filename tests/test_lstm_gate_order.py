"""lstm's `gate_order` attribute and the ONNX LSTM import that uses it.

Oracles: torch.nn.LSTM (weights permuted into the tested gate order by hand, gradients by
autograd, permuted back) and onnx.reference (ONNX's own LSTM) for imported ONNX LSTM nodes.
"""

from __future__ import annotations


import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import graphc
from graphc.errors import SpecError
from graphc.export.onnx_export import to_onnx
from graphc.ir.graph import Graph

from graphc.ir.types import TensorType
from graphc.ops import OPS, Builder, interpret
from graphc.ops.recurrent import unrolled

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
C, H, N, T = 3, 4, 2, 5


def _perm_rows(a: np.ndarray, order: str) -> np.ndarray:
    """PyTorch's gate chunks (i, f, g, o) re-ordered to `order`."""
    chunks = dict(zip("ifgo", np.split(a, 4, axis=0)))
    return np.concatenate([chunks[g] for g in order], axis=0)


def _torch_case(bi: bool, seed: int = 3):
    torch.manual_seed(seed)
    net = torch.nn.LSTM(C, H, bidirectional=bi, batch_first=True)
    names = [f"{p}{s}" for s in (["_l0", "_l0_reverse"] if bi else ["_l0"])
             for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    return net, names, [net.state_dict()[k].numpy() for k in names]


@pytest.mark.parametrize("order,bi", [("iofg", False), ("iofg", True), ("gfoi", False)])
def test_gate_order_every_part_matches_torch(order, bi):
    """reference, ONNX lowering (onnxruntime), unrolled form and gradient of lstm(gate_order=order)."""
    net, names, params = _torch_case(bi)
    graph = Graph("g")
    b = Builder(graph)
    x = graph.add_input("x", TensorType("float32", ("N", T, C)))
    ps = [graph.add_param(f"p{i}", _perm_rows(p, order)) for i, p in enumerate(params)]
    node = b.emit_node("lstm", x, *ps, gate_order=order)
    cots = [graph.add_input(f"g{i}", o.type) for i, o in enumerate(node.outputs)]
    grads = OPS["lstm"].vjp(b, node, cots)
    unroll = unrolled(b, "lstm", list(node.inputs), node.attrs)
    graph.outputs = list(node.outputs) + grads + unroll
    rng = np.random.default_rng(4)
    xv = rng.standard_normal((N, T, C)).astype(np.float32)
    gv = [rng.standard_normal((N,) + tuple(o.shape[1:])).astype(np.float32) for o in node.outputs]
    feeds = {"x": xv, **{f"g{i}": v for i, v in enumerate(gv)}}
    got = list(interpret(graph, feeds).values())

    xt = torch.from_numpy(xv).requires_grad_()
    y, (h, c) = net(xt)
    want_fwd = [y, torch.cat(list(h), -1), torch.cat(list(c), -1)]
    loss = sum((w * torch.from_numpy(g)).sum() for w, g in zip(want_fwd, gv))
    loss.backward()
    want_fwd = [w.detach().numpy() for w in want_fwd]
    want_grads = [xt.grad.numpy()] + [_perm_rows(dict(net.named_parameters())[k].grad.numpy(), order) for k in names]
    for a, w in zip(got[:3], want_fwd):
        np.testing.assert_allclose(a, w, rtol=1e-5, atol=1e-6)
    for i, (a, w) in enumerate(zip(got[3:3 + len(grads)], want_grads)):
        np.testing.assert_allclose(a, w, rtol=1e-4, atol=1e-5, err_msg=f"gradient {i}")
    for a, w in zip(got[3 + len(grads):], want_fwd):
        np.testing.assert_allclose(a, w, rtol=1e-5, atol=1e-6)
    # the lowering, on onnxruntime; ONNX's own order needs no re-ordering nodes
    fwd = Graph("f")
    fb = Builder(fwd)
    fx = fwd.add_input("x", TensorType("float32", ("N", T, C)))
    fwd.outputs = fb.emit_node("lstm", fx, *[fwd.add_param(f"p{i}", _perm_rows(p, order))
                                            for i, p in enumerate(params)], gate_order=order).outputs
    model = to_onnx(fwd)
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for a, w in zip(session.run(None, {"x": xv}), want_fwd):
        np.testing.assert_allclose(a, w, rtol=1e-5, atol=1e-6)
    ops = [n.op_type for n in model.graph.node]
    assert ("Split" in ops) == (order != "iofg")


def test_gate_order_is_checked():
    graph = Graph("g")
    x = graph.add_input("x", TensorType("float32", ("N", T, C)))
    ps = [graph.add_param(f"p{i}", np.zeros(s, np.float32)) for i, s in enumerate([(16, C), (16, H), (16,), (16,)])]
    with pytest.raises(Exception, match="gate_order must be an order of the gates"):
        Builder(graph).emit_node("lstm", x, *ps, gate_order="ifgx")


# -- ONNX LSTM import against onnx.reference ------------------------------------------------
def _onnx_lstm(tmp_path, direction="forward", layout=0, seq_lens=None, peep=None, name="lstm_node"):
    rng = np.random.default_rng(7)
    d = 2 if direction == "bidirectional" else 1
    inits = {"W": rng.standard_normal((d, 4 * H, C)).astype(np.float32) * 0.4,
             "R": rng.standard_normal((d, 4 * H, H)).astype(np.float32) * 0.4,
             "B": rng.standard_normal((d, 8 * H)).astype(np.float32) * 0.4}
    ins = ["X", "W", "R", "B"]
    if seq_lens is not None or peep is not None:
        ins.append("seq" if seq_lens is not None else "")
        if seq_lens is not None:
            inits["seq"] = np.asarray(seq_lens, np.int32)
    if peep is not None:
        ins += ["", "", "P"]
        inits["P"] = np.full((d, 3 * H), peep, np.float32)
    xshape = [N, T, C] if layout else [T, N, C]
    node = helper.make_node("LSTM", ins, ["Y", "Y_h", "Y_c"], name=name, hidden_size=H, direction=direction,
                            layout=layout)
    yshape = [N, T, d, H] if layout else [T, d, N, H]
    sshape = [N, d, H] if layout else [d, N, H]
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, xshape)],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, yshape),
                               helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, sshape),
                               helper.make_tensor_value_info("Y_c", TensorProto.FLOAT, sshape)],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    path = str(tmp_path / "lstm.onnx")
    onnx.save(model, path)
    return path, model, rng.standard_normal(xshape).astype(np.float32)


@pytest.mark.parametrize("kw", [{}, {"layout": 1}, {"direction": "reverse"}, {"direction": "bidirectional"},
                                {"direction": "bidirectional", "layout": 1}, {"seq_lens": [T] * N},
                                {"peep": 0.0}])
def test_onnx_lstm_import_matches_onnx_reference(tmp_path, kw):
    path, model, x = _onnx_lstm(tmp_path, **kw)
    want = ReferenceEvaluator(model).run(None, {"X": x})
    m = graphc.load(path)
    exported = m.to_onnx(2)
    onnx.checker.check_model(exported, full_check=True)
    got = ort.InferenceSession(exported.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"X": x})
    for a, w in zip(got, want):
        np.testing.assert_allclose(a, w, rtol=1e-5, atol=1e-6)
    for a, w in zip(m.evaluate({"X": x}).values(), want):
        np.testing.assert_allclose(a, w, rtol=1e-5, atol=1e-6)
    ops = [n.op_type for n in exported.graph.node]
    assert "Split" not in ops  # W, R, B stay in ONNX's gate order


@pytest.mark.parametrize("kw,message", [
    ({"peep": 0.5}, "node lstm_node \\(LSTM\\): .*peepholes \\(input P"),
    ({"seq_lens": [T, T - 2]}, "node lstm_node \\(LSTM\\): .*sequence_lens"),
])
def test_onnx_lstm_unsupported_is_a_clear_error(tmp_path, kw, message):
    path, _, _ = _onnx_lstm(tmp_path, **kw)
    with pytest.raises(SpecError, match=message):
        graphc.load(path)


def test_onnx_lstm_bad_layout_and_clip_refused(tmp_path):
    path, model, _ = _onnx_lstm(tmp_path)
    model.graph.node[0].attribute.append(helper.make_attribute("clip", 3.0))
    onnx.save(model, path)
    with pytest.raises(SpecError, match="node lstm_node \\(LSTM\\): .*clip"):
        graphc.load(path)


def test_torch_export_lstm_takes_state_dict_weights(tmp_path):
    """torch.onnx (legacy) re-orders the state_dict weights into W, R, B by Slice/Concat; the
    import sees through it: the lstm reads the named parameters in PyTorch's gate order, so the
    re-export has none of those Slices, and outputs still match torch."""
    from onnx_torch_models import build, export

    torch.manual_seed(1)
    x = torch.randn(2, 5, 6)
    net = build("lstm")
    path = export(net, x, str(tmp_path / "l.onnx"), False)
    m = graphc.load(path)
    node = next(n for n in m.graph.nodes if n.op == "lstm")
    assert [v.name for v in node.inputs[1:]] == ["lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0",
                                                "lstm.bias_hh_l0"]
    assert node.attrs.get("gate_order", "ifgo") == "ifgo"
    exported = m.onnx_bytes()
    ops = [n.op_type for n in onnx.load_from_string(exported).graph.node]
    assert ops.count("Slice") <= 1 and len(ops) <= 26  # 50 before; onnxsim folds the weights into 6
    with torch.no_grad():
        want = net(x).numpy()
    got = ort.InferenceSession(exported, providers=["CPUExecutionProvider"]).run(None, {"x": x.numpy()})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)



def test_torch_export_bidirectional_lstm_takes_state_dict_weights(tmp_path):
    """The same for a bidirectional nn.LSTM (legacy exporter): both directions' named weights."""
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.l = torch.nn.LSTM(C, H, batch_first=True, bidirectional=True)

        def forward(self, x):
            return self.l(x)[0]

    torch.manual_seed(0)
    net, x = Net().eval(), torch.randn(N, T, C)
    path = str(tmp_path / "b.onnx")
    torch.onnx.export(net, (x,), path, dynamo=False, do_constant_folding=False, input_names=["x"])
    m = graphc.load(path)
    node = next(n for n in m.graph.nodes if n.op == "lstm")
    assert [v.name for v in node.inputs[1:]] == [f"l.{p}_l0{s}" for s in ("", "_reverse")
                                                for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    got = ort.InferenceSession(m.onnx_bytes(), providers=["CPUExecutionProvider"]).run(None, {"x": x.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, net(x).numpy(), rtol=1e-5, atol=1e-6)
