"""Attribute forms the importer computes itself, against ONNX's own node tests (their expected
outputs are the oracle): Selu with other alpha / gamma, ConvTranspose's output_shape and
auto_pad=SAME_UPPER, Pad's edge / reflect / wrap modes (run with constant pads)."""

from __future__ import annotations

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "docs"))


@pytest.fixture(scope="module")
def conf():
    import gen_onnx_conformance as conf

    return conf, conf.ensure_data()


@pytest.mark.parametrize("reference", [False, True], ids=["onnxruntime", "reference"])
def test_node_tests_pass(conf, reference):
    module, data = conf
    names = ["test_selu", "test_selu_example", "test_convtranspose_output_shape", "test_convtranspose_autopad_same"]
    outcome = module.run(data, names, reference)
    assert all(kind == "pass" for kind, _ in outcome.values()), outcome


def test_pad_modes_with_constant_pads(conf):
    module, data = conf
    names = ["test_edge_pad", "test_reflect_pad", "test_wrap_pad", "test_constant_pad"]
    outcome = module.run_constant_inputs(data, names)
    assert all(kind == "pass" for kind, _ in outcome.values()), outcome
