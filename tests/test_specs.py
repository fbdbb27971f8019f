"""Every example spec in specs/ compiles deterministically to a model that passes the full ONNX
checker and runs on onnxruntime; specs with a PyTorch twin (tests/torch_models.py) give the
twin's outputs when compiled with its weights through `graphc compile --weights`.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import graphc
from torch_models import TWINS, randomize, save_state

torch.set_num_threads(1)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC_FILES = sorted(glob.glob(os.path.join(ROOT, "specs", "*.yaml")))
SPEC_IDS = [os.path.splitext(os.path.basename(p))[0] for p in SPEC_FILES]
RTOL, ATOL = 1e-5, 1e-5


def spec_path(name: str) -> str:
    return os.path.join(ROOT, "specs", f"{name}.yaml")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "graphc", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


def session(model: bytes | str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


_NP = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
       "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(bool)": np.bool_}


def random_feeds(sess: ort.InferenceSession, batch: int, rng) -> dict[str, np.ndarray]:
    """Inputs for any model: symbolic dims get `batch` (the same size for the same name)."""
    feeds = {}
    for inp in sess.get_inputs():
        shape = [d if isinstance(d, int) else batch for d in inp.shape]
        dtype = _NP[inp.type]
        if np.issubdtype(dtype, np.integer):
            feeds[inp.name] = rng.integers(0, 2, size=shape).astype(dtype)  # valid ids/labels for any vocab
        elif dtype == np.bool_:
            feeds[inp.name] = rng.random(shape) < 0.5
        else:
            feeds[inp.name] = rng.standard_normal(shape).astype(dtype)
    return feeds


def test_there_are_specs():
    assert len(SPEC_FILES) >= 7, SPEC_FILES
    for name in TWINS:
        assert os.path.exists(spec_path(name)), f"tests/torch_models.py has a twin for a missing spec {name}"


@pytest.mark.parametrize("path", SPEC_FILES, ids=SPEC_IDS)
def test_spec_compiles_checks_and_runs(path):
    """Compiles (first model of a several-models spec), full checker, identical bytes twice, runs."""
    first = graphc.load(path).onnx_bytes()
    second = graphc.load(path).onnx_bytes()
    assert first == second, "compiling the same spec twice must give identical bytes"
    model = onnx.load_from_string(first)
    onnx.checker.check_model(model, full_check=True)
    assert all(op.domain in ("", "ai.onnx") for op in model.opset_import), "standard opsets only"
    sess = session(first)
    rng = np.random.default_rng(0)
    for batch in (1, 3):
        outs = sess.run(None, random_feeds(sess, batch, rng))
        for out in outs:
            if np.issubdtype(out.dtype, np.floating):
                assert np.all(np.isfinite(out))


@pytest.mark.parametrize("name", sorted(TWINS))
def test_spec_matches_torch(tmp_path, name):
    """`graphc compile --weights <torch state_dict>` gives the PyTorch model's outputs, batch 1 and 7."""
    factory, inputs = TWINS[name]
    twin = randomize(factory())
    weights = save_state(twin, tmp_path / "w.npz", counters=True)  # the whole state_dict, as torch saves it
    out_path = tmp_path / f"{name}.onnx"
    result = cli("compile", spec_path(name), "--weights", weights, "-o", str(out_path))
    assert result.returncode == 0, result.stderr
    sess = session(str(out_path))
    assert [i.name for i in sess.get_inputs()] == list(inputs), "ONNX inputs are the spec's (used) inputs"
    rng = np.random.default_rng(1)
    for batch in (1, 7):
        feeds = {k: rng.standard_normal((batch,) + shape).astype(dtype) for k, (shape, dtype) in inputs.items()}
        (got,) = sess.run(None, feeds)
        with torch.no_grad():
            want = twin(*[torch.from_numpy(v) for v in feeds.values()]).numpy()
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=f"{name}, batch {batch}")


def test_cli_compile_is_byte_identical(tmp_path):
    """Two `graphc compile` processes write the same bytes, which match the Python API's."""
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    for out in (a, b):
        result = cli("compile", spec_path("mnist_cnn"), "-o", str(out))
        assert result.returncode == 0, result.stderr
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() == graphc.load(spec_path("mnist_cnn")).onnx_bytes()
    model = onnx.load(str(a))
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == ["image"]  # label feeds only the training section
    assert [o.name for o in model.graph.output] == ["logits"]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and [d.dim_value for d in dims[1:]] == [1, 28, 28]


def test_set_overrides_a_param(tmp_path):
    """--set changes the spec's params: mlp_small with hidden=16 loads a 16-unit torch twin."""
    from torch_models import MLPSmall

    twin = randomize(MLPSmall(hidden=16))
    weights = save_state(twin, tmp_path / "w.npz")
    result = cli("compile", spec_path("mlp_small"), "--set", "hidden=16", "--weights", weights,
                 "-o", str(tmp_path / "m.onnx"))
    assert result.returncode == 0, result.stderr
    x = np.random.default_rng(0).standard_normal((7, 64)).astype(np.float32)
    (got,) = session(str(tmp_path / "m.onnx")).run(None, {"x": x})
    with torch.no_grad():
        want = twin(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_resnet_block_keeps_block_structure():
    """The repeated block's copies are named res.0.*, res.1.* (weights and layers)."""
    model = graphc.load(spec_path("resnet_block"))
    names = set(model.weights)
    for i in range(2):
        assert {f"res.{i}.conv1.weight", f"res.{i}.bn2.running_var"} <= names
    assert "res.0.conv1.bias" not in names  # bias: false
    layers = {info.name: info for info in model.graph.layers}
    assert layers["res"].block == "basic_block" and layers["res"].repeat == 2
    twin_names = {k for k in TWINS["resnet_block"][0]().state_dict() if not k.endswith("num_batches_tracked")}
    assert twin_names == names
