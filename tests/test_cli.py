"""The `graphc` command line: version, help, exit codes, run, atomic outputs."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import onnx
import pytest

import graphc
from graphc.cli import build_parser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST = os.path.join(ROOT, "specs", "mnist_cnn.yaml")
BAD = os.path.join(ROOT, "tests", "bad_specs", "shape", "conv2d_on_flat.yaml")


def graphc_cli(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "graphc", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def _subcommands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sorted(sub.choices)


def test_version():
    r = graphc_cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"graphc {graphc.__version__}"


def test_no_command_prints_help_and_exits_2():
    r = graphc_cli()
    assert r.returncode == 2 and "COMMAND" in r.stdout


@pytest.mark.parametrize("command", ["compile", "check", "summary", "run", "grad", "train", "viz"])
def test_help_of_every_subcommand(command):
    assert command in _subcommands()
    r = graphc_cli(command, "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"usage: graphc {command}") and "spec" in r.stdout and "--set" in r.stdout


def test_unknown_flag_exits_2():
    r = graphc_cli("check", MNIST, "--no-such-flag")
    assert r.returncode == 2 and "graphc: error: unrecognized arguments" in r.stderr


def test_check_mnist():
    r = graphc_cli("check", MNIST)
    assert r.returncode == 0, r.stderr
    assert "logits       dense      [N, 10]" in r.stdout
    assert r.stdout.strip().endswith("ok: mnist_cnn: 8 layers, 1,199,882 parameters, shapes check")


def test_compile_mnist(tmp_path):
    out = tmp_path / "m.onnx"
    r = graphc_cli("compile", MNIST, "-o", str(out), "--save-weights", str(tmp_path / "w.npz"))
    assert r.returncode == 0, r.stderr
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == ["image"]
    weights = np.load(tmp_path / "w.npz", allow_pickle=False)
    assert sorted(weights.files) == sorted(f"{l}.{p}" for l in ("conv2d_1", "conv2d_2", "dense_1", "logits")
                                           for p in ("weight", "bias"))
    r2 = graphc_cli("compile", MNIST, "-o", str(tmp_path / "m2.onnx"))
    assert r2.returncode == 0, r2.stderr
    assert out.read_bytes() == (tmp_path / "m2.onnx").read_bytes()  # byte-identical


def test_compile_default_output_name(tmp_path):
    r = graphc_cli("compile", MNIST, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "mnist_cnn.onnx").exists()


def test_summary_mnist():
    r = graphc_cli("summary", MNIST)
    assert r.returncode == 0, r.stderr
    assert "1,199,882" in r.stdout and "conv2d_1" in r.stdout


def test_run_mnist_against_python_api(tmp_path):
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    r = graphc_cli("run", MNIST, "--input", f"image={tmp_path / 'x.npy'}", "--output", str(tmp_path / "o.npz"),
                   "--provider", "cpu")
    assert r.returncode == 0, r.stderr
    out = np.load(tmp_path / "o.npz", allow_pickle=False)
    assert out["logits"].shape == (2, 10)
    # oracle: the numpy references of the ops (not onnxruntime)
    want = graphc.load(MNIST).evaluate({"image": x})
    np.testing.assert_allclose(out["logits"], want["logits"], rtol=1e-4, atol=1e-5)
    r = graphc_cli("run", MNIST, "-i", f"image={tmp_path / 'x.npy'}")  # printing
    assert r.returncode == 0 and "logits: shape [2, 10] float32" in r.stdout


def _has_cuda() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


@pytest.mark.skipif(_has_cuda(), reason="this machine has CUDA")
def test_run_provider_cuda_without_gpu(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 28, 28), np.float32))
    r = graphc_cli("run", MNIST, "-i", f"image={tmp_path / 'x.npy'}", "--provider", "cuda")
    assert r.returncode == 2
    assert len(r.stderr.splitlines()) == 1 and "Traceback" not in r.stderr
    assert "--provider cuda" in r.stderr and "onnxruntime-gpu" in r.stderr


def test_run_wrong_shape_and_dtype(tmp_path):
    np.save(tmp_path / "flat.npy", np.zeros((2, 784), np.float32))
    np.save(tmp_path / "int.npy", np.zeros((2, 1, 28, 28), np.int64))
    r = graphc_cli("run", MNIST, "-i", f"image={tmp_path / 'flat.npy'}", "--provider", "cpu")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "input image has shape [2, 784], the model needs [N, 1, 28, 28]" in r.stderr
    r = graphc_cli("run", MNIST, "-i", f"image={tmp_path / 'int.npy'}", "--provider", "cpu")
    assert r.returncode == 2 and "dtype int64" in r.stderr
    r = graphc_cli("run", MNIST, "-i", f"imag={tmp_path / 'int.npy'}", "--provider", "cpu")
    assert r.returncode == 2 and "imag" in r.stderr and "Traceback" not in r.stderr


def test_failed_compile_leaves_existing_output_untouched(tmp_path):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"previous contents")
    r = graphc_cli("compile", BAD, "-o", str(out))
    assert r.returncode == 2
    assert out.read_bytes() == b"previous contents"
    assert sorted(os.listdir(tmp_path)) == ["m.onnx"]  # no temporary file left behind


def test_spec_error_exit_code_in_process(capsys):
    from graphc.cli import main

    assert main(["check", BAD]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{BAD}:6:5: error: conv2d_1:")
