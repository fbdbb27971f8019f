"""Every file graphc writes runs on onnxruntime, OpenVINO and tract with the same outputs.

For every spec in specs/: its inference graph, its gradient graph (where it has one: rnn/gru with
a symbolic T have none) and its train step (specs with a training: section), at ONNX opsets 21
(all of them) and 17 / 23 (`slow`: CI runs a fixed sample). The oracle is the other runtimes:
three independent implementations of ONNX must agree to relative 1e-4 (of each output's
scale), and onnxruntime, OpenVINO and tract must print nothing when they load the file.
The known runtime bugs listed in docs/runtimes.md are strict xfails: they fail loudly once fixed.
"""

from __future__ import annotations

import functools
import glob
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import pytest

import graphc
from graphc.runtime.backends import load_session

pytest.importorskip("openvino")
pytest.importorskip("tract")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = sorted(os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(ROOT, "specs", "*.yaml")))
RTOL = 1e-4

# OpenVINO CPU: a square constant weight read both as Gemm(transB=1) and untransposed gives wrong
# products in float32 (docs/runtimes.md): gradient graphs of models with square dense layers.
OV_SQUARE_WEIGHT = {"mlp_keras", "resnet_block", "self_attention", "train_mlp_digits", "train_transformer",
                    "transformer_encoder"}
# The hash PRNG behind dropout and VAE noise: OpenVINO computes uint32 BitShift as signed, tract
# cannot type the data-dependent Reshape of the mask (docs/runtimes.md).
SAMPLING_TRAIN = {"train_keras_cnn_digits", "train_vae"}


@functools.lru_cache(maxsize=None)
def forms(name: str, opset: int) -> dict[str, tuple[bytes, dict]]:
    """{form: (ONNX bytes, initial values of inputs)} for form in infer / grad / train."""
    from graphc.errors import GraphcError, SpecError
    from graphc.export.onnx_export import to_onnx
    from graphc.training.compile import optimized, train_config, train_step_for

    model = graphc.load(os.path.join(ROOT, "specs", f"{name}.yaml"))
    out = {"infer": (model.onnx_bytes(opset=opset), {})}
    try:
        out["grad"] = (model.grad().onnx_bytes(opset=opset), {})
    except (SpecError, GraphcError):
        pass  # no gradient (a symbolic sequence length): nothing to export
    if model.spec.training and train_config(model).gan is None:
        step = train_step_for(model)
        try:
            out["train"] = (to_onnx(optimized(step.graph, 2), opset=opset).SerializeToString(deterministic=True),
                            step.initial)
        except SpecError:  # opset 17 lacks BitwiseXor, which dropout's PRNG needs (a clear error)
            assert opset < 18
    return out


def feeds(data: bytes, initial: dict, batch: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    result = {}
    for info in load_session(data, "onnxruntime").inputs:
        if info.name in initial:
            result[info.name] = np.asarray(initial[info.name])
            continue
        shape = [d if isinstance(d, int) else batch for d in info.shape]
        if np.issubdtype(info.dtype, np.integer):
            result[info.name] = rng.integers(0, 2, size=shape).astype(info.dtype)
        else:
            result[info.name] = rng.standard_normal(shape).astype(info.dtype)
    return result


def captured_stderr(fn):
    """(fn(), what the C/C++/Rust code wrote to file descriptor 2 meanwhile)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            result = fn()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        return result, tmp.read().decode(errors="replace")


def ort_verbose(data: bytes):
    """An onnxruntime session logging warnings (graphc's own sessions log errors only)."""
    import onnxruntime as ort

    from graphc.runtime.backends import OrtSession

    options = ort.SessionOptions()
    options.log_severity_level = 2  # warning
    ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    return OrtSession(onnx.load_from_string(data), data, threads=1)


def compare(name: str, form: str, opset: int, runtime: str) -> None:
    data, initial = forms(name, opset)[form]
    feed = feeds(data, initial)
    want = load_session(data, "onnxruntime", threads=1).run(feed)
    session, noise = captured_stderr(lambda: load_session(data, runtime, threads=1))
    assert noise.strip() == "", f"{runtime} printed at load: {noise[:300]}"
    got = session.run(feed)
    lr = 0.01 if form == "train" else 0.0
    for key, ref in want.items():
        assert got[key].shape == ref.shape, key
        if not np.issubdtype(ref.dtype, np.floating):
            np.testing.assert_array_equal(got[key], ref, err_msg=key)
            continue
        scale = max(1.0, float(np.abs(ref).max()) if ref.size else 0.0)
        # Adam's first step moves a parameter by about lr whatever its gradient's size: one whose true
        # gradient is 0 (attention's key bias) moves by +-lr from float noise on any runtime
        atol = RTOL * scale + (lr if key.startswith("new.param.") else 0.0)
        np.testing.assert_allclose(got[key], ref, rtol=RTOL, atol=atol, err_msg=f"{name} {form} {key} on {runtime}")


def _cases(opsets, slow: bool):
    for opset in opsets:
        for name in SPECS:
            for form in ("infer", "grad", "train"):
                marks = [pytest.mark.slow] if slow else []
                yield pytest.param(name, form, opset, marks=marks, id=f"{name}-{form}-{opset}")


CASES = list(_cases([21], False)) + list(_cases([17, 23], True))


def _known(name: str, form: str, runtime: str):
    if runtime == "openvino" and form == "grad" and name in OV_SQUARE_WEIGHT:
        return "OpenVINO: square constant weight used transposed and untransposed (docs/runtimes.md)"
    if form == "train" and name in SAMPLING_TRAIN and runtime in ("openvino", "tract"):
        return f"{runtime}: the dropout/noise hash PRNG (docs/runtimes.md)"
    return None


@pytest.mark.parametrize("runtime", ["openvino", "tract"])
@pytest.mark.parametrize("name,form,opset", CASES)
def test_same_outputs_on_every_runtime(name, form, opset, runtime):
    if form not in forms(name, opset):
        pytest.skip(f"{name} has no {form} graph at opset {opset}")
    reason = _known(name, form, runtime)
    if reason:  # in a child process: after its own error OpenVINO's next session may crash the process
        code = f"import test_runtimes as t; t.compare({name!r}, {form!r}, {opset}, {runtime!r})"
        result = subprocess.run([sys.executable, "-c", code], cwd=os.path.dirname(__file__), capture_output=True,
                                text=True, timeout=600)
        assert result.returncode != 0, f"{reason}: now passes; drop it from the known bugs"
        pytest.xfail(reason)
    compare(name, form, opset, runtime)


@pytest.mark.parametrize("name", SPECS)
def test_onnxruntime_loads_without_warnings(name):
    """No unused initializers or other warnings at onnxruntime's warning log level."""
    for form, (data, _) in forms(name, 21).items():
        _, noise = captured_stderr(lambda: ort_verbose(data))
        assert noise.strip() == "", f"{name} {form}: {noise[:300]}"


def test_symbolic_dims_stay_symbolic():
    """The batch dim N of an input is a dim_param in every opset; OpenVINO and tract see it as dynamic."""
    for opset in (17, 21, 23):
        data, _ = forms("mnist_cnn", opset)["infer"]
        dims = onnx.load_from_string(data).graph.input[0].type.tensor_type.shape.dim
        assert dims[0].dim_param == "N"
        for runtime in ("openvino", "tract"):
            session = load_session(data, runtime)
            for batch in (1, 5):
                x = np.random.default_rng(batch).standard_normal((batch, 1, 28, 28)).astype(np.float32)
                assert session.run({"image": x})["logits"].shape == (batch, 10)


@pytest.mark.parametrize("opset", [17, 18, 19, 20, 21, 22, 23])
def test_every_opset_checks_and_matches_the_reference(opset):
    """Each opset's file passes the full checker, declares that opset, and gives onnx.reference's outputs."""
    from onnx.reference import ReferenceEvaluator

    for name in ("transformer_encoder", "mnist_cnn", "rnn"):
        data, _ = forms(name, opset)["infer"]
        proto = onnx.load_from_string(data)
        onnx.checker.check_model(proto, full_check=True)
        assert [o.version for o in proto.opset_import] == [opset]
        ops = {n.op_type for n in proto.graph.node}
        if name == "transformer_encoder":
            assert ("Gelu" in ops) == (opset >= 20)
            assert ("Attention" in ops) == (opset >= 23)
        feed = feeds(data, {})
        want = ReferenceEvaluator(proto).run(None, feed)
        got = load_session(data, "onnxruntime").run(feed)
        for w, g in zip(want, got.values()):
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_target_onnxruntime_keeps_the_scan_form():
    """rnn: the portable default is the RNN op; --target onnxruntime writes the Scan loop, same outputs."""
    model = graphc.load(os.path.join(ROOT, "specs", "rnn.yaml"))
    portable = onnx.load_from_string(model.onnx_bytes())
    fast = onnx.load_from_string(model.onnx_bytes(target="onnxruntime"))
    assert "RNN" in {n.op_type for n in portable.graph.node} and "Scan" not in {n.op_type for n in portable.graph.node}
    assert "Scan" in {n.op_type for n in fast.graph.node}
    feed = feeds(portable.SerializeToString(), {})
    a = load_session(portable.SerializeToString(), "onnxruntime").run(feed)
    b = load_session(fast.SerializeToString(), "onnxruntime").run(feed)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6)


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "graphc", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600, env={**os.environ, **(env or {})})


def test_cli_opset_and_target(tmp_path):
    out = tmp_path / "r.onnx"
    result = cli("compile", "specs/rnn.yaml", "--opset", "17", "--target", "onnxruntime", "-o", str(out))
    assert result.returncode == 0, result.stderr
    proto = onnx.load(str(out))
    assert proto.opset_import[0].version == 17 and "Scan" in {n.op_type for n in proto.graph.node}
    bad = cli("compile", "specs/rnn.yaml", "--opset", "16")
    assert bad.returncode == 2 and "invalid choice: 16" in bad.stderr and "Traceback" not in bad.stderr
    dropout = cli("compile", "specs/train_keras_cnn_digits.yaml", "--train", "--opset", "17", "-o", str(tmp_path / "t.onnx"))
    assert dropout.returncode == 2 and "opset 18" in dropout.stderr and "Traceback" not in dropout.stderr


def test_run_on_openvino_matches_onnxruntime(tmp_path):
    x = np.random.default_rng(0).standard_normal((4, 64)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    outs = {}
    for runtime in ("onnxruntime", "openvino"):
        out = tmp_path / f"{runtime}.npz"
        result = cli("run", "specs/mlp_small.yaml", "-i", f"x={tmp_path / 'x.npy'}", "--runtime", runtime,
                     "-o", str(out))
        assert result.returncode == 0, result.stderr
        outs[runtime] = np.load(out)["logits"]
    np.testing.assert_allclose(outs["openvino"], outs["onnxruntime"], rtol=1e-5, atol=1e-6)


def test_missing_openvino_is_one_line(tmp_path):
    """Without the package, --runtime openvino says in one line what to install (exit 2)."""
    (tmp_path / "openvino.py").write_text("raise ImportError('No module named openvino')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", ROOT)])}
    for args in (("run", "specs/mlp_small.yaml"), ("train", "specs/train_mlp_digits.yaml", "--epochs", "1",
                                                   "--out", str(tmp_path / "run"))):
        result = cli(*args, "--runtime", "openvino", env=env)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "pip install 'graphc[openvino]'" in lines[0], result.stderr


def test_openvino_refuses_train_steps_that_sample(tmp_path):
    """OpenVINO's uint32 shifts would change dropout masks: one line, exit 2, pointing at the layer."""
    result = cli("train", "specs/train_vae.yaml", "--runtime", "openvino", "--epochs", "1", "--out", str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "layer 'z'" in result.stderr


def test_openvino_uint32_shift_bug_is_still_there():
    """The OpenVINO bug behind that refusal (docs/runtimes.md), against numpy: fails once it is fixed."""
    from onnx import TensorProto, helper, numpy_helper

    node = helper.make_node("BitShift", ["x", "s"], ["y"], direction="RIGHT")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.UINT32, ["N"])],
                              [helper.make_tensor_value_info("y", TensorProto.UINT32, ["N"])],
                              [numpy_helper.from_array(np.asarray(16, np.uint32), "s")])
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], ir_version=10).SerializeToString()
    x = np.array([1, 0x80000001, 0xFFFFFFFF], np.uint32)
    np.testing.assert_array_equal(load_session(data, "onnxruntime").run({"x": x})["y"], x >> 16)
    assert not np.array_equal(load_session(data, "openvino").run({"x": x})["y"], x >> 16)


def test_tract_relu_rnn_bug_is_still_there():
    """tract runs every RNN with tanh (docs/runtimes.md); onnxruntime and OpenVINO honour relu."""
    spec = ("graphc: 1\nname: r\ninputs:\n  x: [N, T, 3]\nlayers:\n"
            "  - rnn: {hidden: 5, activation: relu, name: rnn}\noutputs: [rnn.h]\n")
    data = graphc.loads(spec).onnx_bytes()
    x = np.random.default_rng(0).random((2, 4, 3)).astype(np.float32)
    want = load_session(data, "onnxruntime").run({"x": x})["rnn.h"]
    np.testing.assert_allclose(load_session(data, "openvino").run({"x": x})["rnn.h"], want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(load_session(data, "tract").run({"x": x})["rnn.h"], want, atol=1e-3)


@pytest.mark.slow
def test_bench_runtimes_quick(tmp_path):
    """bench/runtimes.py --quick writes its JSON with every runtime's time and the CPU model."""
    import json

    env = dict(os.environ, GRAPHC_BENCH_RESULTS=str(tmp_path))
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "runtimes.py"), "--quick"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads((tmp_path / "runtimes.json").read_text())
    assert data["machine"]["cpu"] and data["quick"] is True
    (row,) = data["inference"]
    assert set(row["ms"]) == {"onnxruntime", "openvino", "tract", "torch_eager"} and row["outputs_match"]
    assert {"onnxruntime", "openvino", "torch_eager"} <= set(data["train_step"][0]["ms"])
