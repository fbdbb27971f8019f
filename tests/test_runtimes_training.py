"""Training on OpenVINO gives onnxruntime's run: the same history and accuracy, weights to 1e-4
after 3 epochs (the digits MLP through `graphc train --runtime openvino`, the small CNN through
Model.fit), and a checkpoint written on onnxruntime resumes on OpenVINO and finishes.
The oracle is onnxruntime's run of the same train-step graph (an independent ONNX implementation)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import graphc

pytest.importorskip("openvino")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def spec(name: str) -> str:
    return os.path.join(ROOT, "specs", f"{name}.yaml")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "graphc", *args], capture_output=True, text=True, cwd=ROOT, timeout=900)


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        scale = max(1.0, float(np.abs(a[k]).max()))
        np.testing.assert_allclose(b[k], a[k], rtol=1e-4, atol=1e-4 * scale, err_msg=k)


def assert_same_history(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for ra, rb in zip(a, b):
        for key, value in ra.items():
            if key != "seconds":
                assert rb[key] == pytest.approx(value, rel=1e-4, abs=1e-5), key


def test_cli_train_mlp_on_openvino(tmp_path):
    runs = {}
    for runtime in ("onnxruntime", "openvino"):
        out = tmp_path / runtime
        result = cli("train", spec("train_mlp_digits"), "--epochs", "3", "--runtime", runtime, "--out", str(out),
                     "--quiet")
        assert result.returncode == 0, result.stderr
        runs[runtime] = (json.loads((out / "history.json").read_text()), dict(np.load(out / "weights.npz")),
                         result.stdout.split("final")[1].split("wrote")[0])
    (h_ort, w_ort, final_ort), (h_ov, w_ov, final_ov) = runs["onnxruntime"], runs["openvino"]
    assert_same_history(h_ort, h_ov)
    assert_same_weights(w_ort, w_ov)
    assert final_ort == final_ov  # the test accuracy and the other metrics, as printed (4 decimals)


def test_fit_cnn_on_openvino():
    results = {}
    for runtime in ("onnxruntime", "openvino"):
        model = graphc.load(spec("train_cnn_digits"))
        history = model.fit(epochs=3, verbose=False, runtime=runtime)
        results[runtime] = (history, model.weights, model.last_fit.final)
    (h_ort, w_ort, f_ort), (h_ov, w_ov, f_ov) = results["onnxruntime"], results["openvino"]
    assert_same_history(h_ort, h_ov)
    assert_same_weights(w_ort, w_ov)
    assert f_ov["accuracy"] == pytest.approx(f_ort["accuracy"], abs=1e-9)
    assert f_ort["accuracy"] > 0.5  # it learned something in 3 epochs


def test_resume_on_the_other_runtime(tmp_path):
    """2 epochs on onnxruntime, then --resume on OpenVINO to epoch 3: the 3-epoch onnxruntime run's weights."""
    whole, mixed = tmp_path / "whole", tmp_path / "mixed"
    assert cli("train", spec("train_mlp_digits"), "--epochs", "3", "--out", str(whole), "--quiet").returncode == 0
    first = cli("train", spec("train_mlp_digits"), "--epochs", "2", "--out", str(mixed), "--quiet")
    assert first.returncode == 0, first.stderr
    second = cli("train", spec("train_mlp_digits"), "--epochs", "3", "--out", str(mixed), "--quiet", "--resume",
                 "--runtime", "openvino")
    assert second.returncode == 0, second.stderr
    assert "epoch 3/3" in second.stdout and "epoch 1/3" not in second.stdout
    assert_same_weights(dict(np.load(whole / "weights.npz")), dict(np.load(mixed / "weights.npz")))
    assert_same_history(json.loads((whole / "history.json").read_text()),
                        json.loads((mixed / "history.json").read_text()))
