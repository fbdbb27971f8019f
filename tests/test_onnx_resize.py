"""ONNX Resize import (graphc/onnx_in/resize.py): constant interpolation matrices per axis.

Oracles: torch.nn.functional.interpolate (and its autograd) for PyTorch exports, onnxruntime and
onnx.reference running the original Resize node for hand-built models, and ONNX's own
test_resize_* node tests with their scales/sizes/roi made constants.
"""

from __future__ import annotations

import glob
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from onnx_torch_models import export
from torch import nn

import graphc
from graphc.cli import main
from graphc.export.onnx_export import to_onnx
from graphc.onnx_in import import_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
torch.set_num_threads(1)


def _session(proto: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])


class Interp(nn.Module):
    def __init__(self, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.kwargs = kwargs

    def forward(self, x):
        return F.interpolate(self.conv(x), **self.kwargs)


INTERP = {
    "bilinear_x2": dict(scale_factor=2, mode="bilinear", align_corners=False),
    "bilinear_align": dict(scale_factor=2, mode="bilinear", align_corners=True),
    "bilinear_size": dict(size=(7, 5), mode="bilinear", align_corners=False),
    "bilinear_down": dict(size=(3, 2), mode="bilinear", align_corners=False),
    "nearest_x1_5": dict(scale_factor=1.5, mode="nearest"),
    "bicubic": dict(scale_factor=2, mode="bicubic", align_corners=False),
}


@pytest.mark.parametrize("dynamo", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["legacy", "dynamo"])
@pytest.mark.parametrize("case", list(INTERP))
def test_torch_interpolate_export(tmp_path, case, dynamo):
    torch.manual_seed(0)
    model = Interp(**INTERP[case]).eval()
    x = torch.randn(2, 2, 4, 6)
    path = export(model, x, str(tmp_path / f"{case}.onnx"), dynamo)
    m = graphc.load(path)
    with torch.no_grad():
        want = model(x).numpy()
    proto = m.to_onnx(opt_level=2)
    onnx.checker.check_model(proto, full_check=True)
    got = _session(proto).run(None, {"x": x.numpy()})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # the gradient (the matrices' transposes) against torch.autograd, for the input and the conv
    g = m.grad("inputs").to_onnx(opt_level=2)
    cot = np.random.default_rng(1).standard_normal(want.shape).astype(np.float32)
    outs = dict(zip([o.name for o in g.graph.output], _session(g).run(None, {"x": x.numpy(), "grad.y": cot})))
    xt = x.clone().requires_grad_(True)
    (model(xt) * torch.from_numpy(cot)).sum().backward()
    np.testing.assert_allclose(outs["grad.x"], xt.grad.numpy(), rtol=1e-4, atol=1e-4)


def _resize_model(shape, attrs: dict, scales=None, sizes=None, roi=None, dtype=TensorProto.FLOAT):
    inits = []
    names = ["x", "", "", ""]
    for i, (name, value) in enumerate((("roi", roi), ("scales", scales), ("sizes", sizes)), start=1):
        if value is not None:
            arr = np.asarray(value, np.int64 if name == "sizes" else np.float32)
            inits.append(numpy_helper.from_array(arr, name))
            names[i] = name
    while names[-1] == "":
        names.pop()
    node = helper.make_node("Resize", names, ["y"], **attrs)
    graph = helper.make_graph([node], "r", [helper.make_tensor_value_info("x", dtype, list(shape))],
                              [helper.make_tensor_value_info("y", dtype, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])


GRID = [
    ({"mode": "linear"}, [1, 1, 2.0, 2.0], None),
    ({"mode": "linear", "coordinate_transformation_mode": "align_corners"}, None, [2, 3, 7, 9]),
    ({"mode": "linear", "coordinate_transformation_mode": "asymmetric"}, [1, 1, 3.0, 0.5], None),
    ({"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"}, None, [2, 3, 1, 11]),
    ({"mode": "linear", "coordinate_transformation_mode": "half_pixel_symmetric"}, [1, 1, 1.5, 1.25], None),
    ({"mode": "linear", "antialias": 1}, None, [2, 3, 2, 3]),
    ({"mode": "cubic"}, [1, 1, 2.0, 0.5], None),
    ({"mode": "cubic", "cubic_coeff_a": -0.5, "exclude_outside": 1}, None, [2, 3, 9, 4]),
    ({"mode": "cubic", "coordinate_transformation_mode": "align_corners"}, [1, 1, 1.5, 2.0], None),
    ({"mode": "nearest", "nearest_mode": "ceil"}, [1, 1, 1.5, 2.5], None),
    ({"mode": "nearest", "coordinate_transformation_mode": "align_corners", "nearest_mode": "floor"}, None,
     [2, 3, 7, 3]),
    ({"mode": "nearest"}, [1, 1, 2.0, 2.0], None),  # graphc's upsample op
    ({"mode": "linear", "axes": [3]}, [0.75], None),
    ({"mode": "linear", "axes": [2, 3], "keep_aspect_ratio_policy": "not_larger"}, None, [9, 9]),
    ({"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize", "extrapolation_value": 2.5},
     None, [2, 3, 5, 5], [0, 0, -0.2, 0.1, 1, 1, 0.8, 1.3]),
]


@pytest.mark.parametrize("attrs,scales,sizes,roi", [g + (None,) if len(g) == 3 else g for g in GRID],
                         ids=[str(i) for i in range(len(GRID))])
def test_resize_node_against_onnxruntime_and_reference(attrs, scales, sizes, roi):
    model = _resize_model((2, 3, 4, 6), attrs, scales, sizes, roi)
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 6)).astype(np.float32)
    want_ref = ReferenceEvaluator(model).run(None, {"x": x})[0]
    graph = import_model(model)
    proto = to_onnx(graph)
    onnx.checker.check_model(proto, full_check=True)
    got = _session(proto).run(None, {"x": x})[0]
    assert got.shape == want_ref.shape
    np.testing.assert_allclose(got, want_ref, rtol=1e-5, atol=1e-5)
    want_ort = _session(model).run(None, {"x": x})[0]  # onnxruntime's own Resize kernel
    np.testing.assert_allclose(got, want_ort, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("attrs,inputs,match", [
    ({"mode": "linear"}, "runtime_scales", "must be a constant"),
    ({"mode": "linear"}, "symbolic", "symbolic size"),
    ({"mode": "linear", "coordinate_transformation_mode": "crazy"}, "scales", "coordinate_transformation_mode"),
    ({"mode": "area"}, "scales", "mode='area' is not supported"),
])
def test_resize_unsupported_is_a_clear_error(tmp_path, capsys, attrs, inputs, match):
    if inputs == "runtime_scales":
        node = helper.make_node("Resize", ["x", "", "scales"], ["y"], **attrs)
        graph = helper.make_graph([node], "r", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 2]),
                                                helper.make_tensor_value_info("scales", TensorProto.FLOAT, [4])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    else:
        shape = ["N", 1, "H", 4] if inputs == "symbolic" else [1, 1, 2, 4]
        model = _resize_model(shape, attrs, [1, 1, 2.0, 2.0])
    path = tmp_path / "r.onnx"
    onnx.save(model, str(path))
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith(f"{path}:1:1: error: ") and match in err[0], err


def _inlined(test_dir: str):
    """A node test with every input after the first made an initializer (as exporters write them)."""
    model = onnx.load(os.path.join(test_dir, "model.onnx"))
    data = sorted(glob.glob(os.path.join(test_dir, "test_data_set_*")))[0]
    arrays = [numpy_helper.to_array(onnx.load_tensor(p)) for p in
              sorted(glob.glob(os.path.join(data, "input_*.pb")), key=lambda p: int(p.rsplit("_", 1)[1][:-3]))]
    outputs = [numpy_helper.to_array(onnx.load_tensor(p)) for p in sorted(glob.glob(os.path.join(data, "output_*.pb")))]
    g = model.graph
    first = g.input[0]
    for vi, arr in list(zip(g.input, arrays))[1:]:
        g.initializer.append(numpy_helper.from_array(arr, vi.name))
    del g.input[1:]
    assert g.input[0] is first or g.input[0].name == first.name
    return model, arrays[0], outputs[0]


def test_onnx_resize_node_tests_with_constant_scales():
    """Every test_resize_* node test (and test_upsample_nearest) passes once its scales, sizes and roi
    are constants: the conformance runner feeds them at run time, which graphc refuses."""
    sys.path.insert(0, os.path.join(ROOT, "docs"))
    import gen_onnx_conformance as conf

    node_dir = os.path.join(conf.ensure_data(), "node")
    names = sorted(n for n in os.listdir(node_dir) if n.startswith(("test_resize_", "test_upsample_nearest")))
    assert len(names) >= 39
    import graphc.onnx_backend as backend

    for name in names:
        model, x, want = _inlined(os.path.join(node_dir, name))
        (got,) = backend.run_model(model, [x])
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6, err_msg=name)
