"""Same input, same bytes: compiling under different PYTHONHASHSEEDs, on repeated runs and with
--set given in a different order; training with the same seed gives identical weights."""

from __future__ import annotations

import hashlib
import os

import numpy as np

from cli_harness import ROOT, env, run_cli

SPEC = os.path.join(ROOT, "specs", "mnist_cnn.yaml")
PARAMS = ("graphc: 1\nname: p\nparams: {a: 8, b: 0.5, act: relu}\ninputs: {x: [N, 4]}\nlayers:\n"
          "  - dense: {units: $a, activation: $act}\n  - dropout: {rate: $b}\n  - dense: {units: 3}\n")


def _digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_hash_seeds_and_repeats_give_identical_bytes(tmp_path):
    digests = set()
    for k, seed in enumerate(["0", "1", "12345", "random", "0"]):
        out = tmp_path / f"m{k}.onnx"
        r = run_cli(["compile", SPEC, "-o", str(out)], environ=env(PYTHONHASHSEED=seed))
        assert r.returncode == 0, r.stderr
        digests.add(_digest(out))
    assert len(digests) == 1


def test_set_order_gives_identical_bytes(tmp_path):
    (tmp_path / "p.yaml").write_text(PARAMS)
    orders = [["--set", "a=16", "--set", "b=0.25", "--set", "act=tanh"],
              ["--set", "act=tanh", "--set", "a=16", "--set", "b=0.25"],
              ["--set", "b=0.25", "--set", "act=tanh", "--set", "a=16"]]
    digests = set()
    for k, sets in enumerate(orders):
        r = run_cli(["compile", "p.yaml", "-o", f"p{k}.onnx", *sets], cwd=tmp_path,
                    environ=env(PYTHONHASHSEED=str(k)))
        assert r.returncode == 0, r.stderr
        digests.add(_digest(tmp_path / f"p{k}.onnx"))
    assert len(digests) == 1
    default = run_cli(["compile", "p.yaml", "-o", "d.onnx"], cwd=tmp_path)
    assert default.returncode == 0 and _digest(tmp_path / "d.onnx") not in digests  # --set did change it


def test_training_same_seed_identical_weights(tmp_path):
    spec = os.path.join(ROOT, "specs", "train_logistic_breast_cancer.yaml")
    for k, hashseed in enumerate(["1", "2"]):
        r = run_cli(["train", spec, "--quiet", "--epochs", "2", "--out", str(tmp_path / f"r{k}")],
                    environ=env(PYTHONHASHSEED=hashseed), timeout=600)
        assert r.returncode == 0, r.stderr
    a, b = np.load(tmp_path / "r0" / "weights.npz"), np.load(tmp_path / "r1" / "weights.npz")
    assert sorted(a.files) == sorted(b.files) and a.files
    for name in a.files:
        assert a[name].tobytes() == b[name].tobytes(), name
    assert _digest(tmp_path / "r0" / "model.onnx") == _digest(tmp_path / "r1" / "model.onnx")
