"""The streaming ONNX writer (graphc/export/onnx_write.py) and external data.

Oracles: protobuf's own `SerializeToString(deterministic=True)` of the whole model built with
onnx's `numpy_helper`, `onnx.load` with external data, onnxruntime, and numpy.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import zlib

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

import graphc
from graphc.errors import SpecError
from graphc.export import onnx_export, onnx_write
from graphc.export.onnx_export import model_bytes, to_onnx_parts, write_onnx
from graphc.ir.types import np_dtype
from graphc.layers.base import draw

from conftest import SPECS

SPEC_FILES = sorted(glob.glob(os.path.join(SPECS, "*.yaml")))


def _reference_bytes(graph) -> bytes:
    """The whole model as one protobuf message, weights first among the initializers."""
    model, weights = to_onnx_parts(graph)
    full = onnx.ModelProto()
    full.CopyFrom(model)
    tensors = [numpy_helper.from_array(np.asarray(w.data, order="C"), w.header.name) if w.data is not None
               else w.header for w in weights]
    own = list(full.graph.initializer)
    del full.graph.initializer[:]
    full.graph.initializer.extend(tensors + own)
    return full.SerializeToString(deterministic=True)


@pytest.mark.parametrize("path", SPEC_FILES, ids=os.path.basename)
def test_streamed_bytes_equal_protobuf_serialization(path):
    graph = graphc.load(path).inference_graph()
    assert model_bytes(graph) == _reference_bytes(graph)


@pytest.mark.parametrize("name", ["mlp_small", "mnist_cnn", "transformer_encoder"])
def test_nodes_and_value_infos_streamed_in_chunks_keep_the_bytes(monkeypatch, name):
    """Nodes and value infos serialized a few at a time (CHUNK 3 here: every chunk boundary is
    crossed) give protobuf's serialization of the whole model, in memory and in a file."""
    graph = graphc.load(os.path.join(SPECS, f"{name}.yaml")).inference_graph()
    reference = _reference_bytes(graph)
    monkeypatch.setattr(onnx_export, "CHUNK", 3)
    assert model_bytes(graph) == reference


def test_compile_in_place_writes_the_bytes_of_an_export(tmp_path):
    """`graphc compile` optimizes the model's own graph (no copy); the file is the one
    Model.export writes from a copy, with or without --save-weights (which keeps the graph whole)."""
    spec = os.path.join(SPECS, "transformer_encoder.yaml")
    expected = graphc.load(spec).onnx_bytes()
    for extra in ([], ["--save-weights", str(tmp_path / "w.npz")]):
        out = tmp_path / "m.onnx"
        subprocess.run([sys.executable, "-m", "graphc", "compile", spec, "-o", str(out), *extra], check=True,
                       capture_output=True)
        assert out.read_bytes() == expected, extra
    assert sorted(np.load(tmp_path / "w.npz").files) == sorted(graphc.load(spec).graph.params)


def _run(model_path_or_bytes, feeds):
    session = ort.InferenceSession(model_path_or_bytes, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


@pytest.mark.parametrize("name", ["mlp_small", "mnist_cnn", "lstm_classifier", "transformer_encoder"])
def test_external_data_round_trip(tmp_path, name):
    model = graphc.load(os.path.join(SPECS, f"{name}.yaml"))
    graph = model.inference_graph()
    path = str(tmp_path / "m.onnx")
    files = write_onnx(graph, path, external=True)
    assert files == [path, path + ".data"]
    onnx.checker.check_model(path, full_check=True)
    loaded = onnx.load(path)  # reads the data file
    stored = {t.name: numpy_helper.to_array(t) for t in loaded.graph.initializer}
    for p in graph.params.values():
        np.testing.assert_array_equal(stored[p.name], p.data)
    lazy = onnx.load(path, load_external_data=False)
    for t in lazy.graph.initializer:
        external = t.data_location == onnx.TensorProto.EXTERNAL
        nbytes = numpy_helper.to_array(loaded.graph.initializer[[i.name for i in loaded.graph.initializer]
                                                                .index(t.name)]).nbytes
        assert external == (nbytes >= onnx_write.EXTERNAL_MIN_BYTES and t.name in stored), t.name
        if external:
            info = {e.key: e.value for e in t.external_data}
            assert info["location"] == "m.onnx.data"
            assert int(info["offset"]) % 64 == 0
    rng = np.random.default_rng(0)
    feeds = {}
    for v in graph.inputs:
        shape = [3 if isinstance(d, str) else d for d in v.shape]
        dtype = np_dtype(v.type.dtype)
        feeds[v.name] = (rng.integers(0, 10, shape) if np.issubdtype(dtype, np.integer)
                         else rng.standard_normal(shape)).astype(dtype)
    for a, b in zip(_run(path, feeds), _run(model_bytes(graph), feeds)):
        np.testing.assert_array_equal(a, b)


def test_compile_external_data_flag(tmp_path):
    out = tmp_path / "mlp.onnx"
    r = subprocess.run([sys.executable, "-m", "graphc", "compile", os.path.join(SPECS, "mlp_small.yaml"),
                        "-o", str(out), "--external-data"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "mlp.onnx.data").exists()
    inline = graphc.load(os.path.join(SPECS, "mlp_small.yaml")).onnx_bytes()
    x = np.random.default_rng(1).standard_normal((4, 64)).astype(np.float32)
    name = onnx.load_model_from_string(inline).graph.input[0].name
    np.testing.assert_array_equal(_run(str(out), {name: x})[0], _run(inline, {name: x})[0])


def test_draw_equals_one_float64_draw():
    for init in ("uniform", "normal"):
        shape = (3, onnx_write.EXTERNAL_MIN_BYTES + 7, 5)
        old = draw.__globals__["DRAW_CHUNK"]
        draw.__globals__["DRAW_CHUNK"] = 1000  # several chunks, a ragged last one
        try:
            got = draw(np.random.default_rng([0, 7]), init, 0.25, shape, np.float32)
        finally:
            draw.__globals__["DRAW_CHUNK"] = old
        rng = np.random.default_rng([0, 7])
        want = (rng.uniform(-0.25, 0.25, size=shape) if init == "uniform" else rng.standard_normal(shape))
        np.testing.assert_array_equal(got, want.astype(np.float32))


def test_failed_write_keeps_previous_files(tmp_path, monkeypatch):
    graph = graphc.load(os.path.join(SPECS, "mlp_small.yaml")).inference_graph()
    path = str(tmp_path / "m.onnx")
    write_onnx(graph, path, external=True)
    before = {p: open(p, "rb").read() for p in (path, path + ".data")}

    def broken(f, plan):
        f.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(onnx_write, "_write_model", broken)
    with pytest.raises(SpecError, match="No space left on device"):
        write_onnx(graph, path, external=True)
    for p, data in before.items():
        assert open(p, "rb").read() == data
    assert sorted(os.listdir(tmp_path)) == ["m.onnx", "m.onnx.data"]  # no temporary files left


def test_over_the_limit_in_memory_is_a_clear_error():
    header = onnx.TensorProto(name="huge", data_type=onnx.TensorProto.FLOAT, dims=[2**29 + 1])
    huge = onnx_write.Weight(header, np.broadcast_to(np.float32(0), (2**29 + 1,)))  # 2 GiB, nothing allocated
    with pytest.raises(SpecError, match="2 GiB"):
        onnx_write.model_bytes(onnx.ModelProto(), [huge])


BIG_SPEC = """graphc: 1
name: big
inputs:
  x: [N, 16384]
layers:
  - dense: {units: 16384, activation: relu}
  - dense: {units: 16384}
"""


def _pytorch_default_init(name: str, shape, fan_in: int) -> np.ndarray:
    """nn.Linear's default init, uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)), from graphc's documented
    seeding (one generator per seed and parameter name), written again here in numpy."""
    rng = np.random.default_rng([0, zlib.crc32(name.encode())])
    bound = 1 / np.sqrt(fan_in)
    out = np.empty(shape, np.float32)
    flat = out.reshape(-1)
    for start in range(0, flat.size, 1 << 22):
        n = min(1 << 22, flat.size - start)
        flat[start:start + n] = rng.uniform(-bound, bound, n)
    return out


def test_model_over_2gb_exports_with_external_data_and_runs(tmp_path):
    """Two dense layers of 16,384 x 16,384 (2.1 GB of weights): compile streams them into
    big.onnx.data; onnxruntime runs it; the result matches numpy; compile's peak memory stays
    under 1.5x the weight bytes plus 300 MB."""
    spec = tmp_path / "big.yaml"
    spec.write_text(BIG_SPEC)
    with open(tmp_path / "stderr.txt", "w+") as err:
        proc = subprocess.Popen([sys.executable, "-m", "graphc", "compile", str(spec), "-o", "big.onnx"],
                                stdout=subprocess.DEVNULL, stderr=err, cwd=tmp_path)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak memory
        err.seek(0)
        assert os.waitstatus_to_exitcode(status) == 0, err.read()
    peak = usage.ru_maxrss * 1024
    weight_bytes = 2 * (16384 * 16384 + 16384) * 4
    assert peak <= 1.5 * weight_bytes + 300e6, f"compile peaked at {peak / 1e9:.2f} GB"
    model_path = tmp_path / "big.onnx"
    data_path = tmp_path / "big.onnx.data"
    assert model_path.stat().st_size < 10_000 and data_path.stat().st_size >= weight_bytes
    onnx.checker.check_model(str(model_path), full_check=True)
    x = np.random.default_rng(3).standard_normal((2, 16384)).astype(np.float32)
    y = _run(str(model_path), {"x": x})[0]
    w1 = _pytorch_default_init("dense_1.weight", (16384, 16384), 16384)
    b1 = _pytorch_default_init("dense_1.bias", (16384,), 16384)
    h = np.maximum(x @ w1.T + b1, 0)
    del w1
    w2 = _pytorch_default_init("dense_2.weight", (16384, 16384), 16384)
    b2 = _pytorch_default_init("dense_2.bias", (16384,), 16384)
    np.testing.assert_allclose(y[:, :64], h @ w2[:64].T + b2[:64], rtol=2e-4, atol=2e-5)
    data_path.unlink()  # 2 GB: do not leave it in pytest's kept temporary folders
