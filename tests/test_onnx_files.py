"""Hostile .onnx files through `graphc summary`, `viz` and `run` (graphc.export.onnx_load): a
malformed or truncated protobuf, external data that points outside the model's folder (`..`,
an absolute path, a symlink), and declared tensor sizes that the bytes do not back. Each is exit
2 with one line, and an audit hook in the graphc process shows nothing outside the folder is opened."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from cli_harness import assert_user_error, run_cli

# Runs the real CLI with an audit hook that logs every file the process opens.
AUDIT = """
import sys
log = open(sys.argv[1], "w")
def hook(event, args):
    if event == "open" and isinstance(args[0], str):
        log.write(args[0] + "\\n"); log.flush()
sys.addaudithook(hook)
sys.argv = ["graphc"] + sys.argv[4:]  # after: -c LOG -m graphc
from graphc.cli import entry
entry()
"""


def _model(tmp_path, name="m.onnx", external: bool = False) -> str:
    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(3, 4), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 3])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 4])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    path = tmp_path / name
    if external:
        onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location="w.bin", size_threshold=0)
    else:
        path.write_bytes(model.SerializeToString())
    return str(path)


def _set_location(path: str, location: str, **fields: str) -> None:
    model = onnx.load(path, load_external_data=False)
    for tensor in model.graph.initializer:
        entries = {e.key: e.value for e in tensor.external_data}
        entries.update(location=location, **fields)
        del tensor.external_data[:]
        for k, v in entries.items():
            tensor.external_data.add(key=k, value=v)
    with open(path, "wb") as f:
        f.write(model.SerializeToString())


def _audited(tmp_path, args):
    log = tmp_path.parent / f"{tmp_path.name}.opened.log"
    r = run_cli(args, cwd=tmp_path, python=[sys.executable, "-c", AUDIT, str(log)])
    opened = [os.path.realpath(p) for p in log.read_text().splitlines()]
    return r, opened


COMMANDS = [["summary"], ["viz", "-o", "out.dot"], ["run"]]


@pytest.fixture
def folder(tmp_path):
    """tmp/outside/secret.bin (must never be read) and tmp/model/ (where the model is)."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.bin").write_bytes(np.arange(12, dtype=np.float32).tobytes())
    (tmp_path / "model").mkdir()
    return tmp_path


def _never_read_outside(opened, folder):
    secret = os.path.realpath(folder / "outside" / "secret.bin")
    assert secret not in opened


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize("attack", ["dotdot", "absolute", "symlink", "symlinked_folder"])
def test_external_data_outside_folder_refused(folder, command, attack):
    model_dir = folder / "model"
    path = _model(model_dir, external=True)
    secret = str(folder / "outside" / "secret.bin")
    if attack == "dotdot":
        _set_location(path, "../outside/secret.bin")
    elif attack == "absolute":
        _set_location(path, secret)
    elif attack == "symlink":
        os.symlink(secret, model_dir / "link.bin")
        _set_location(path, "link.bin")
    else:
        os.symlink(folder / "outside", model_dir / "data")
        _set_location(path, "data/secret.bin")
    r, opened = _audited(model_dir, [command[0], "m.onnx", *command[1:]])
    line = assert_user_error(r, located=False)
    assert "outside the model's folder" in line or "leads outside the model's folder" in line, line
    _never_read_outside(opened, folder)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_external_data_inside_folder_works(folder, command):
    model_dir = folder / "model"
    _model(model_dir, external=True)
    if command[0] == "run":
        np.save(model_dir / "x.npy", np.ones((2, 3), np.float32))
        command = ["run", "--input", "x=x.npy"]
    r = run_cli([command[0], "m.onnx", *command[1:]], cwd=model_dir)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("case", ["short_length", "length_mismatch", "offset_past_end", "missing_file"])
def test_external_sizes_checked(folder, case):
    model_dir = folder / "model"
    path = _model(model_dir, external=True)
    fields = {"short_length": {"length": "8"}, "length_mismatch": {"length": "4000"},
              "offset_past_end": {"offset": "4096"}, "missing_file": {}}[case]
    _set_location(path, "nope.bin" if case == "missing_file" else "w.bin", **fields)
    for command in COMMANDS:
        line = assert_user_error(run_cli([command[0], "m.onnx", *command[1:]], cwd=model_dir), located=False)
        assert line.startswith("error: m.onnx: tensor 'w'"), line


def test_inline_size_mismatch_and_huge_dims(tmp_path):
    path = _model(tmp_path)
    model = onnx.load(path)
    model.graph.initializer[0].dims[:] = [3, 4, 1000000, 1000000]  # 12 floats of data claim 4.8e13 bytes
    (tmp_path / "big.onnx").write_bytes(model.SerializeToString())
    model.graph.initializer[0].dims[:] = [2 ** 62, 2 ** 62]
    (tmp_path / "overflow.onnx").write_bytes(model.SerializeToString())
    for name, fragment in (("big.onnx", "but holds 48 bytes"), ("overflow.onnx", "more elements than int64 can count")):
        for command in COMMANDS:
            line = assert_user_error(run_cli([command[0], name, *command[1:]], cwd=tmp_path), located=False)
            assert fragment in line, line


def test_truncated_and_garbage_files(tmp_path):
    data = open(_model(tmp_path), "rb").read()
    cases = {"truncated.onnx": data[: len(data) // 2], "empty.onnx": b"", "garbage.onnx": b"\xff" * 100,
             "text.onnx": b"graphc: 1\nname: m\n"}
    for name, blob in cases.items():
        (tmp_path / name).write_bytes(blob)
        for command in COMMANDS:
            line = assert_user_error(run_cli([command[0], name, *command[1:]], cwd=tmp_path), located=False)
            assert line.startswith(f"error: {name} is not"), line


def test_load_model_file_api(tmp_path):
    from graphc import SpecError
    from graphc.export.onnx_load import load_model_file

    path = _model(tmp_path, external=True)
    model = load_model_file(path)
    np.testing.assert_array_equal(numpy_helper.to_array(model.graph.initializer[0]),
                                  np.arange(12, dtype=np.float32).reshape(3, 4))
    _set_location(path, "../w.bin")
    with pytest.raises(SpecError, match="outside the model's folder"):
        load_model_file(path)
    assert json.dumps(str(tmp_path))  # nothing else to clean up
