"""The `einsum` op beyond the registry harnesses (tests/test_ops_forward.py, test_grad_ops.py run
its shape rule, reference, lowering and gradient over the sample cases there): equation errors,
symbolic dims, the cost rule (hand-worked), the spec and Python front ends, imports of
torch.onnx.export (both exporters) of modules using torch.einsum, and ONNX's Einsum node tests."""

from __future__ import annotations

import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx_torch_models import export
from torch import nn

import graphc
from graphc.errors import ShapeError
from graphc.ir.types import TensorType
from graphc.ops import OPS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
torch.set_num_threads(1)


def _infer(equation, *shapes, dtype="float32"):
    return OPS["einsum"].infer([TensorType(dtype, s) for s in shapes], {"equation": equation})[0]


@pytest.mark.parametrize("equation,shapes,want", [
    ("bij,bjk->bik", [("N", 2, 3), ("N", 3, 4)], ("N", 2, 4)),
    ("...ij,...jk->...ik", [("N", 1, 3, 4), (5, 4, 2)], ("N", 5, 3, 2)),
    ("...ii->...i", [("N", "T", 5, 5)], ("N", "T", 5)),
    ("ij,jk", [(2, "K"), ("K", 4)], (2, 4)),
    ("i,i", [("D",), ("D",)], ()),
    ("ba,B", [(2, 3), (4,)], (4, 3, 2)),
])
def test_shape_rule_symbolic(equation, shapes, want):
    assert _infer(equation, *shapes).shape == want


@pytest.mark.parametrize("equation,shapes,match", [
    ("ij,jk->ik", [(2, 3)], "2 input term"),
    ("ij->ij", [(2, 3, 4)], "operand 0 has rank 3"),
    ("ij,jk->ik", [(2, 3), (4, 5)], "dims 3 and 4 must be equal"),
    ("ij,jk->ik", [(2, "A"), ("B", 5)], "dims A and B must be equal"),
    ("ij->ii", [(2, 2)], "repeats 'i'"),
    ("ij->k", [(2, 2)], "'k' is in no input"),
    ("...ij->ij", [(5, 2, 2)], "must appear in the output"),
    ("i1->i", [(2, 2)], "'1'"),
    ("....i->i", [(2, 2)], "more than one"),
    ("...i,...i->...i", [(2, 3), (4, 3)], "do not broadcast"),
    (3, [(2,)], "must be a string"),
])
def test_shape_rule_errors(equation, shapes, match):
    with pytest.raises(ShapeError, match=match):
        _infer(equation, *shapes)


def test_dtype_errors():
    with pytest.raises(ShapeError, match="different dtypes"):
        OPS["einsum"].infer([TensorType("float32", (2,)), TensorType("float64", (2,))], {"equation": "i,i"})
    with pytest.raises(ShapeError, match="bool"):
        _infer("i->i", (2,), dtype="bool")


@pytest.mark.parametrize("equation,shapes,want", [
    ("ij,jk->ik", [(3, 4), (4, 5)], (60, 120)),  # 3*4*5 MACs, as a matmul
    ("ab,bc,cd->ad", [(2, 3), (3, 4), (4, 5)], (240, 480)),  # 2 multiplies at each of 2*3*4*5 points
    ("ij->i", [(3, 4)], (0, 9)),  # 12 elements summed into 3: 9 adds
    ("ij->ji", [(3, 4)], (0, 0)),
    ("bij,bjk->bik", [("N", 2, 3), ("N", 3, 4)], (24, 48)),  # per example
])
def test_cost_hand_worked(equation, shapes, want):
    ins = [TensorType("float32", s) for s in shapes]
    outs = OPS["einsum"].infer(ins, {"equation": equation})
    assert OPS["einsum"].cost(ins, outs, {"equation": equation}) == want


def test_spec_layer_and_python_front_end(tmp_path):
    spec = tmp_path / "m.yaml"
    spec.write_text("graphc: 1\nname: m\ninputs: {a: {shape: [N, 3, 4]}, b: {shape: [4, 5]}}\nlayers:\n"
                    "  - einsum: {equation: 'nij,jk->nik', in: [a, b]}\n")
    m = graphc.load(str(spec))
    assert m.graph.outputs[0].shape == ("N", 3, 5)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3, 4)).astype(np.float32), rng.standard_normal((4, 5)).astype(np.float32)
    (y,) = m.evaluate({"a": a, "b": b}).values()
    np.testing.assert_allclose(y, np.einsum("nij,jk->nik", a, b), rtol=1e-5, atol=1e-6)
    bad = tmp_path / "bad.yaml"
    bad.write_text(spec.read_text().replace("nij,jk->nik", "nij,jk->nix"))
    with pytest.raises(graphc.SpecError, match=r"bad.yaml:\d+:\d+: error: .*'x' is in no input"):
        graphc.load(str(bad))


def test_functional_layer():
    import graphc as gc

    x, w = gc.Input("x", ["N", 3, 4]), gc.Input("w", [4, 2])
    y = gc.layers.einsum(x, w, equation="nij,jk->nik")
    assert tuple(y.shape) == ("N", 3, 2)
    m = gc.Model("e", inputs=[x, w], outputs=[y])
    assert "einsum" in m.to_yaml()


class Attn(nn.Module):
    """Attention-like einsums with a parameter: projection, scores, weighted sum, a trace term."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 6) * 0.5)
        self.m = nn.Parameter(torch.randn(6, 6) * 0.5)

    def forward(self, x):
        h = torch.einsum("bti,ij->btj", x, self.w)
        a = torch.einsum("btj,bsj->bts", h, h).softmax(-1)
        y = torch.einsum("bts,bsj->btj", a, h)
        return y + torch.einsum("ii", self.m)


@pytest.mark.parametrize("dynamo", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["legacy", "dynamo"])
def test_import_torch_einsum(tmp_path, dynamo):
    torch.manual_seed(0)
    model = Attn().eval()
    x = torch.randn(2, 5, 4)
    path = export(model, x, str(tmp_path / "attn.onnx"), dynamo)
    types = {n.op_type for n in onnx.load(path).graph.node}
    if not dynamo:
        assert "Einsum" in types, types
    m = graphc.load(path)
    assert not dynamo or "einsum" in {n.op for n in m.graph.nodes} or "Einsum" not in types
    with torch.no_grad():
        want = model(x).numpy()
    proto = m.to_onnx(opt_level=2)
    onnx.checker.check_model(proto, full_check=True)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    got = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"]).run(
        None, {"x": x.numpy()})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    g = m.grad("params").to_onnx(opt_level=2)
    onnx.checker.check_model(g, full_check=True)
    session = ort.InferenceSession(g.SerializeToString(), options, providers=["CPUExecutionProvider"])
    cot = np.random.default_rng(1).standard_normal(want.shape).astype(np.float32)
    outs = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"x": x.numpy(), "grad.y": cot})))
    (model(x) * torch.from_numpy(cot)).sum().backward()
    for name, p in model.named_parameters():
        np.testing.assert_allclose(outs[f"grad.{name}"], p.grad.numpy(), rtol=1e-4, atol=1e-4, err_msg=name)


def test_onnx_einsum_node_tests():
    """ONNX's own test_einsum_* node tests through graphc.onnx_backend: all pass, bfloat16 refused."""
    sys.path.insert(0, os.path.join(ROOT, "docs"))
    import gen_onnx_conformance as conf

    data = conf.ensure_data()
    names = sorted(n for n in conf.claimed_tests(data) if n.startswith("test_einsum"))
    assert len(names) >= 6
    for reference in (False, True):
        outcome = conf.run(data, names, reference)
        for name, (kind, reason) in outcome.items():
            if "bfloat16" in name:
                assert kind == "refused" and "BFLOAT16" in reason, (name, kind, reason)
            else:
                assert kind == "pass", (name, kind, reason)


def test_spec_language_einsum_example_runs_as_written():
    """The einsum example of docs/spec-language.md, as written, against numpy einsum + softmax."""
    import re

    doc = open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs",
                            "spec-language.md"), encoding="utf-8").read()
    text = re.search(r"<!-- example: einsum -->\n```yaml\n(.*?)```", doc, re.S).group(1)
    m = graphc.loads(text)
    assert m.graph.outputs[0].shape == ("N", "T", "S")
    rng = np.random.default_rng(0)
    q, k = rng.standard_normal((2, 3, 8)).astype(np.float32), rng.standard_normal((2, 5, 8)).astype(np.float32)
    s = np.einsum("nti,nsi->nts", q, k)
    want = np.exp(s - s.max(-1, keepdims=True))
    want /= want.sum(-1, keepdims=True)
    (y,) = m.run({"q": q, "k": k}).values()
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
