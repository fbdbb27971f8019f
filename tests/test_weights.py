"""Weights from the ecosystem: `--weights` takes .npz, .safetensors and PyTorch .pt/.pth state dicts;
`graphc weights convert IN OUT [--spec]` converts between them. The oracles are files written by
torch.save and safetensors themselves, read back by torch.load / safetensors / numpy, and the
PyTorch twins' own outputs."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest
import torch
from safetensors.numpy import load_file as st_load_numpy
from safetensors.torch import save_file as st_save_torch
from torch_models import TWINS, randomize

import graphc
from graphc.cli import main

torch.set_num_threads(1)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MLP = os.path.join(ROOT, "specs", "mlp_small.yaml")
CNN = os.path.join(ROOT, "specs", "resnet_block.yaml")  # batch norm: buffers and num_batches_tracked


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`graphc ARGS` in this process (fast), or in a subprocess with its own environment `env`."""
    if env is not None:
        return subprocess.run([sys.executable, "-m", "graphc", *args], capture_output=True, text=True, cwd=ROOT,
                              timeout=120, env=env)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as e:  # argparse usage errors
            code = e.code
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def _state(name: str) -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    twin = randomize(TWINS[name][0]())
    return twin, twin.state_dict()


def _one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.mark.parametrize("fmt", ["pt", "pth", "safetensors"])
@pytest.mark.parametrize("name", ["mlp_small", "resnet_block"])
def test_compile_with_torch_written_weights_matches_torch(tmp_path, name, fmt):
    """The state dict saved by torch.save / safetensors.torch.save_file, loaded by --weights, gives
    the twin's outputs on onnxruntime."""
    twin, state = _state(name)
    path = str(tmp_path / f"w.{fmt}")
    if fmt == "safetensors":
        st_save_torch({k: v.contiguous() for k, v in state.items()}, path)
    else:
        torch.save(state, path)
    out = tmp_path / "m.onnx"
    result = cli("compile", os.path.join(ROOT, "specs", f"{name}.yaml"), "--weights", path, "-o", str(out))
    assert result.returncode == 0, result.stderr
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    shape, dtype = next(iter(TWINS[name][1].values()))
    x = np.random.default_rng(0).standard_normal((3,) + shape).astype(dtype)
    (got,) = sess.run(None, {sess.get_inputs()[0].name: x})
    with torch.no_grad():
        want = twin(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_python_api_takes_every_format(tmp_path):
    twin, state = _state("mlp_small")
    torch.save(state, tmp_path / "w.pt")
    st_save_torch(state, str(tmp_path / "w.safetensors"))
    np.savez(tmp_path / "w.npz", **{k: v.numpy() for k, v in state.items()})
    for ext in ("pt", "safetensors", "npz"):
        model = graphc.load(MLP, weights=str(tmp_path / f"w.{ext}"))
        for k, v in state.items():
            np.testing.assert_array_equal(model.weights[k], v.numpy())


def test_save_weights_in_each_format_reads_back_with_the_library(tmp_path):
    model = graphc.load(MLP)
    model.save_weights(str(tmp_path / "w.safetensors"))
    model.save_weights(str(tmp_path / "w.pt"))
    st = st_load_numpy(str(tmp_path / "w.safetensors"))
    pt = torch.load(tmp_path / "w.pt", weights_only=True)
    for k, v in model.weights.items():
        np.testing.assert_array_equal(st[k], v)
        np.testing.assert_array_equal(pt[k].numpy(), v)


@pytest.mark.parametrize("dst", ["npz", "safetensors", "pt"])
def test_convert_from_torch_checked_against_the_spec(tmp_path, dst):
    """`weights convert sd.pt OUT --spec`: OUT holds exactly the state dict, read back by numpy /
    safetensors / torch; counters (num_batches_tracked) come along and are ignored by the check."""
    _, state = _state("resnet_block")
    torch.save(state, tmp_path / "sd.pt")
    out = tmp_path / f"out.{dst}"
    result = cli("weights", "convert", str(tmp_path / "sd.pt"), str(out), "--spec", CNN)
    assert result.returncode == 0, result.stderr
    assert "checked against" in result.stdout
    if dst == "npz":
        with np.load(out) as data:
            back = {k: data[k] for k in data.files}
    elif dst == "safetensors":
        back = st_load_numpy(str(out))
    else:
        back = {k: v.numpy() for k, v in torch.load(out, weights_only=True).items()}
    assert sorted(back) == sorted(state)
    for k, v in state.items():
        np.testing.assert_array_equal(back[k], v.numpy())


def test_convert_round_trip_npz_safetensors_pt(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"a.weight": rng.standard_normal((3, 4)).astype(np.float32), "b": np.arange(5, dtype=np.int64),
              "scalar": np.asarray(2.5, np.float64)}
    np.savez(tmp_path / "w.npz", **arrays)
    for src, dst in (("w.npz", "w.safetensors"), ("w.safetensors", "w.pt"), ("w.pt", "back.npz")):
        result = cli("weights", "convert", str(tmp_path / src), str(tmp_path / dst))
        assert result.returncode == 0, result.stderr
    with np.load(tmp_path / "back.npz") as data:
        assert sorted(data.files) == sorted(arrays)
        for k, v in arrays.items():
            assert data[k].dtype == v.dtype and data[k].shape == v.shape
            np.testing.assert_array_equal(data[k], v)


def test_convert_names_every_mismatch(tmp_path):
    """A renamed key, a missing one, an extra one and a wrong shape: one line naming all, exit 2."""
    _, state = _state("mlp_small")
    state = dict(state)
    state["hidden.weights"] = state.pop("hidden.weight")
    del state["logits.bias"]
    state["logits.weight"] = torch.zeros(3, 3)
    torch.save(state, tmp_path / "sd.pt")
    line = _one_error_line(cli("weights", "convert", str(tmp_path / "sd.pt"), str(tmp_path / "o.npz"), "--spec", MLP))
    for part in ("missing: hidden.weight, logits.bias", "not in the model: hidden.weights",
                 "logits.weight has shape [3, 3]"):
        assert part in line, line
    assert not (tmp_path / "o.npz").exists()
    line = _one_error_line(cli("compile", MLP, "--weights", str(tmp_path / "sd.pt"), "-o", str(tmp_path / "m.onnx")))
    assert "missing: hidden.weight, logits.bias" in line


def test_bad_weight_files_give_one_line(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a zip or pickle")
    (tmp_path / "junk.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pt")  # a pickled module: weights_only refuses it
    torch.save({"step": 3, "w": torch.ones(2)}, tmp_path / "mixed.pt")
    cases = [
        ("junk.pt", "cannot read weights"), ("junk.safetensors", "cannot read weights"),
        ("module.pt", "cannot read weights"), ("mixed.pt", "'step' is a int, not a tensor"),
        ("missing.safetensors", "no such weights file"), ("w.bin", "must be a .npz, .safetensors, .pt or .pth"),
    ]
    for name, expect in cases:
        line = _one_error_line(cli("weights", "convert", str(tmp_path / name), str(tmp_path / "o.npz")))
        assert expect in line, (name, line)
        line = _one_error_line(cli("check", MLP, "--weights", str(tmp_path / name)))
        assert expect in line, (name, line)
    line = _one_error_line(cli("weights", "convert", str(tmp_path / "junk.pt"), str(tmp_path / "o.txt")))
    assert "must be a .npz" in line
    usage = cli("weights")  # argparse's usage line, then its error
    assert usage.returncode == 2 and usage.stderr.strip().splitlines()[-1].startswith("graphc: error:")


def test_without_torch_pt_files_say_what_to_install(tmp_path):
    """A Python where `import torch` fails: one line naming `pip install torch`; .npz still works."""
    fake = tmp_path / "fake"
    (fake / "torch").mkdir(parents=True)
    (fake / "torch" / "__init__.py").write_text("raise ImportError('No module named torch')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(fake), ROOT]))
    torch.save(_state("mlp_small")[1], tmp_path / "sd.pt")
    line = _one_error_line(cli("compile", MLP, "--weights", str(tmp_path / "sd.pt"), env=env))
    assert "pip install torch" in line
    line = _one_error_line(cli("weights", "convert", str(tmp_path / "sd.pt"), str(tmp_path / "o.npz"), env=env))
    assert "pip install torch" in line
    graphc.load(MLP).save_weights(str(tmp_path / "w.npz"))
    line = _one_error_line(cli("weights", "convert", str(tmp_path / "w.npz"), str(tmp_path / "o.pt"), env=env))
    assert "pip install torch" in line
    result = cli("weights", "convert", str(tmp_path / "w.npz"), str(tmp_path / "o.safetensors"), env=env)
    assert result.returncode == 0, result.stderr
