"""Every examples/*.py runs as a user would run it (a subprocess, a tiny workload) and says what it should.

The examples check themselves against independent oracles (PyTorch for loaded weights, finite
differences for gradients, onnxruntime on scikit-learn's test split for training) and print the
verdict; these tests check the exit status and those lines. They run with the temporary folder
(TMPDIR) and the working directory set to pytest's tmp_path, and check the files land there.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = sorted(glob.glob(os.path.join(ROOT, "examples", "*.py")))

# script -> (arguments for a tiny workload, regexes its output must match, files it must write)
CASES: dict[str, tuple[list[str], list[str], list[str]]] = {
    "quickstart.py": ([], [r"onnxruntime: logits \(2, 10\)", r"Model.run agrees with the exported file: True",
                           r"Total params: 1,199,882"], ["mnist_cnn.onnx"]),
    "pytorch_weights.py": ([], [r"max \|graphc - torch\| = \d", r"outputs agree with PyTorch: True"],
                           ["weights.npz", "pytorch_cnn.onnx"]),
    "train_digits.py": (["--epochs", "2"], [r"(?m)^    2  \d\.\d{4}", r"test accuracy 0\.\d{3} \(f1",
                                            r"onnxruntime test accuracy 0\.\d{3}"],
                        ["mlp_digits.onnx", "run/weights.npz", "run/history.json"]),
    "gradients.py": ([], [r"grad\.h\.weight .*graphc grad file agrees: True",
                          r"gradients match finite differences: True"], ["tiny_loss.grad.onnx"]),
    "gan.py": (["--epochs", "1", "--samples", "2"], [r"epoch 1: d_loss \d", r"sampled 2 digits of shape \(64,\)"],
               ["samples.npy", "run/generator.onnx", "run/weights.npz"]),
    "functional.py": (["--epochs", "1"], [r"conv output: \('N', 8, 8, 8\)",
                                          r"training:\n  data: \{dataset: digits, test_split: 0.2\}",
                                          r"caught: .*functional.py:\d+:\d+: error: conv2d_1: input x has shape",
                                          r"trained 1 epochs: loss \d\.\d{3} -> \d\.\d{3}, test accuracy 0\.\d{3}"],
                      ["cnn.yaml", "cnn.onnx"]),
}
# Scripts that regenerate files of the repository itself by design: not run here.
SKIP = {"render_readme_diagram.py": "regenerates docs/images/ in the repository"}


def test_every_documented_example_exists_and_is_listed():
    names = {os.path.basename(p) for p in EXAMPLES}
    assert set(CASES) <= names
    with open(os.path.join(ROOT, "examples", "README.md")) as f:
        readme = f.read()
    for name in names:
        assert f"examples/{name}" in readme, f"{name} is not in examples/README.md"


@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_example_runs(path, tmp_path):
    name = os.path.basename(path)
    if name in SKIP:
        pytest.skip(SKIP[name])
    with open(path) as f:
        assert f.read().lstrip().startswith('"""'), f"{name} needs a module docstring saying what it shows"
    args, patterns, files = CASES.get(name, ([], [], []))
    env = dict(os.environ, TMPDIR=str(tmp_path), PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, path, *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    for pattern in patterns:
        assert re.search(pattern, proc.stdout), f"{name}: no match for {pattern!r} in:\n{proc.stdout[-3000:]}"
    # Files go to a new temporary folder (under TMPDIR, i.e. tmp_path) unless --out says otherwise.
    written = {os.path.relpath(os.path.join(d, f), tmp_path) for d, _, fs in os.walk(tmp_path) for f in fs}
    for want in files:
        assert any(w.endswith(os.sep + want) for w in written), f"{name} did not write {want}: {sorted(written)}"


def test_out_argument(tmp_path):
    out = tmp_path / "here"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "quickstart.py"), "--out", str(out)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "mnist_cnn.onnx").exists()
