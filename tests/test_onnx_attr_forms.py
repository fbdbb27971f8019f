"""Attribute forms the importer computes itself, against ONNX's own node tests (their expected
outputs are the oracle): Selu with other alpha / gamma, ConvTranspose's output_shape and
auto_pad=SAME_UPPER, Gelu's approximate='tanh' (also against torch), Pad's edge / reflect / wrap
modes (run with constant pads)."""

from __future__ import annotations

import os
import sys

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper

from graphc.export.onnx_export import to_onnx
from graphc.onnx_in import import_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "docs"))


@pytest.fixture(scope="module")
def conf():
    import gen_onnx_conformance as conf

    return conf, conf.ensure_data()


@pytest.mark.parametrize("reference", [False, True], ids=["onnxruntime", "reference"])
def test_node_tests_pass(conf, reference):
    module, data = conf
    names = ["test_selu", "test_selu_example", "test_convtranspose_output_shape", "test_convtranspose_autopad_same",
             "test_gelu_tanh_1", "test_gelu_tanh_2"]
    outcome = module.run(data, names, reference)
    assert all(kind == "pass" for kind, _ in outcome.values()), outcome


def test_pad_modes_with_constant_pads(conf):
    module, data = conf
    names = ["test_edge_pad", "test_reflect_pad", "test_wrap_pad", "test_constant_pad"]
    outcome = module.run_constant_inputs(data, names)
    assert all(kind == "pass" for kind, _ in outcome.values()), outcome


def test_gelu_tanh_against_torch():
    graph = helper.make_graph([helper.make_node("Gelu", ["x"], ["y"], approximate="tanh")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 7])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 7])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    x = np.linspace(-6, 6, 35, dtype=np.float32).reshape(5, 7)
    got = ort.InferenceSession(to_onnx(import_model(model)).SerializeToString(),
                               providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, F.gelu(torch.from_numpy(x), approximate="tanh").numpy(), rtol=1e-6, atol=1e-6)
