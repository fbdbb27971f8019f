"""An imported model re-exports at its own opset (clamped to 17..23), as onnxsim keeps it; a spec at
graphc's OPSET; `--opset` overrides both. The outputs stay the file's (onnxruntime, against numpy)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

import graphc
from graphc.export.onnx_export import OPSET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _avgpool_file(path: str, opset: int) -> str:
    node = helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1])
    graph = helper.make_graph([node], "pool", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4, 6, 6])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def _opset(model: onnx.ModelProto) -> int:
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def _numpy_avgpool(x: np.ndarray) -> np.ndarray:
    """3x3, pad 1, stride 1, ONNX's default count_include_pad=0: the mean of the cells inside."""
    window = lambda a: sum(a[:, :, i:i + 6, j:j + 6] for i in range(3) for j in range(3))  # noqa: E731
    pad = ((0, 0), (0, 0), (1, 1), (1, 1))
    return window(np.pad(x, pad)) / window(np.pad(np.ones_like(x), pad))


@pytest.mark.parametrize("source,want", [(17, 17), (18, 18), (13, 17)])
def test_an_imported_model_keeps_its_opset(tmp_path, source, want):
    m = graphc.load(_avgpool_file(str(tmp_path / "pool.onnx"), source))
    assert m.default_opset == want
    model = onnx.load_from_string(m.onnx_bytes())
    assert _opset(model) == want and _opset(m.to_onnx(opset=21)) == 21
    x = np.random.default_rng(0).standard_normal((2, 4, 6, 6)).astype(np.float32)
    got = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, _numpy_avgpool(x), rtol=1e-5, atol=1e-6)


def test_a_spec_exports_at_graphcs_opset_and_the_cli_overrides(tmp_path):
    assert graphc.load(os.path.join(ROOT, "specs", "mlp_small.yaml")).default_opset == OPSET
    src = _avgpool_file(str(tmp_path / "pool.onnx"), 18)
    for args, want in (([], 18), (["--opset", "21"], 21)):
        out = tmp_path / f"out{want}.onnx"
        subprocess.run([sys.executable, "-m", "graphc", "compile", src, "-o", str(out), *args], check=True,
                       capture_output=True, cwd=ROOT)
        assert _opset(onnx.load(str(out))) == want


def test_gelu_before_opset_20_is_torchs_erf_form():
    """Below opset 20 gelu is x (1 + erf(x / sqrt 2)) 0.5, node for node as torch.onnx writes it (the
    form onnxruntime fuses into one Gelu kernel); values against torch's exact gelu."""
    torch = pytest.importorskip("torch")
    m = graphc.loads("graphc: 1\nname: g\ninputs:\n  x: [N, 8]\nlayers:\n  - gelu: {name: act}\noutputs: [act]\n")
    model = m.to_onnx(opset=17)
    assert [n.op_type for n in model.graph.node] == ["Div", "Erf", "Add", "Mul", "Mul"]
    assert [n.op_type for n in m.to_onnx(opset=20).graph.node] == ["Gelu"]
    x = np.random.default_rng(1).standard_normal((3, 8)).astype(np.float32)
    got = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    want = torch.nn.functional.gelu(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
