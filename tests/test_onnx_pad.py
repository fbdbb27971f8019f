"""ONNX Pad import in every mode (constant, edge, reflect, wrap), negative pads, and its gradient.

Oracles: onnxruntime and onnx.reference running the original node, numpy.pad, and torch.nn.functional.pad
(replicate / reflect / circular) with autograd for the gradient."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import graphc
from graphc.export.onnx_export import to_onnx
from graphc.onnx_in import import_model

SHAPE = (2, 3, 4, 5)


def _pad_model(mode: str, pads: list[int], shape=SHAPE):
    p = numpy_helper.from_array(np.array(pads, np.int64), "p")
    graph = helper.make_graph([helper.make_node("Pad", ["x", "p"], ["y"], mode=mode, name="pad")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [p])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])


def _session(proto):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "wrap"])
@pytest.mark.parametrize("pads", [[0, 0, 1, 2, 0, 0, 3, 1], [0, 1, -1, 2, 0, 0, 2, -2], [0, 0, 3, 4, 0, 0, 3, 4]],
                         ids=["mixed", "negative", "wide"])
def test_pad_modes_match_onnxruntime_reference_and_numpy(mode, pads):
    model = _pad_model(mode, pads)
    x = np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)
    proto = to_onnx(import_model(model))
    onnx.checker.check_model(proto, full_check=True)
    got = _session(proto).run(None, {"x": x})[0]
    np.testing.assert_array_equal(got, _session(model).run(None, {"x": x})[0])
    if min(pads) >= 0:  # onnx.reference's Pad passes negative pads to numpy.pad, which rejects them
        np.testing.assert_array_equal(got, ReferenceEvaluator(model).run(None, {"x": x})[0])
        np_mode = {"wrap": "wrap", "edge": "edge", "reflect": "reflect", "constant": "constant"}[mode]
        np.testing.assert_array_equal(got, np.pad(x, [(pads[i], pads[i + 4]) for i in range(4)], mode=np_mode))


def test_pad_unsupported_mode_and_too_wide_reflect_are_errors():
    with pytest.raises(graphc.SpecError, match="mode='mirror' is not supported"):
        import_model(_pad_model("mirror", [0] * 8))
    with pytest.raises(graphc.SpecError, match="mode=reflect padding 4 on axis 2 of size 4"):
        import_model(_pad_model("reflect", [0, 0, 4, 0, 0, 0, 0, 0]))


@pytest.mark.parametrize("mode,torch_mode", [("edge", "replicate"), ("reflect", "reflect"), ("wrap", "circular")])
def test_pad_gradient_matches_torch(tmp_path, mode, torch_mode):
    pads = [0, 0, 1, 2, 0, 0, 3, 1]
    path = str(tmp_path / "pad.onnx")
    onnx.save(_pad_model(mode, pads), path)
    g = graphc.load(path).grad("inputs").to_onnx(opt_level=2)
    onnx.checker.check_model(g, full_check=True)
    x = np.random.default_rng(1).standard_normal(SHAPE).astype(np.float32)
    out_shape = (2, 3, 4 + pads[2] + pads[6], 5 + pads[3] + pads[7])
    cot = np.random.default_rng(2).standard_normal(out_shape).astype(np.float32)
    outs = dict(zip([o.name for o in g.graph.output], _session(g).run(None, {"x": x, "grad.y": cot})))
    xt = torch.from_numpy(x).requires_grad_(True)
    y = F.pad(xt, (pads[3], pads[7], pads[2], pads[6]), mode=torch_mode)  # last axis first
    (y * torch.from_numpy(cot)).sum().backward()
    np.testing.assert_allclose(outs["grad.x"], xt.grad.numpy(), rtol=1e-5, atol=1e-5)
