"""A missing optional piece (scikit-learn, torch, Graphviz's dot, CUDA onnxruntime) is one line
saying what to install, never a traceback. Pieces are hidden for real: a PATH without `dot`, an
import hook that makes `import sklearn` / `import torch` fail in the graphc process."""

from __future__ import annotations

import os
import sys
import tomllib

import pytest

from cli_harness import ROOT, assert_user_error, env, run_cli

SPECS = os.path.join(ROOT, "specs")

# Runs the real CLI with some top-level modules made unimportable (as if not installed).
HIDE = """
import sys
hidden = set(sys.argv[1].split(","))
class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in hidden:
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
sys.meta_path.insert(0, Hide())
sys.argv = ["graphc"] + sys.argv[4:]  # after: -c MODULES -m graphc
from graphc.cli import entry
entry()
"""


def _hidden(*modules: str) -> list[str]:
    return [sys.executable, "-c", HIDE, ",".join(modules)]


def test_scikit_learn_is_a_runtime_dependency():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        deps = tomllib.load(f)["project"]["dependencies"]
    assert any(d.startswith("scikit-learn") for d in deps), deps


def test_train_without_scikit_learn(tmp_path):
    r = run_cli(["train", os.path.join(SPECS, "train_mlp_digits.yaml"), "--out", str(tmp_path / "run"), "--quiet"],
                python=_hidden("sklearn"))
    line = assert_user_error(r, located=False)
    assert line.startswith("error: the bundled data set 'digits' needs scikit-learn, which is not installed"), line
    assert line.endswith(": pip install scikit-learn")


def test_commands_that_do_not_need_scikit_learn_or_torch(tmp_path):
    r = run_cli(["compile", os.path.join(SPECS, "train_mlp_digits.yaml"), "-o", str(tmp_path / "m.onnx")],
                python=_hidden("sklearn", "torch"))
    assert r.returncode == 0, r.stderr


def test_require_names_what_to_install(monkeypatch):
    from graphc.util.missing import MissingPiece, require

    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails as if not installed
    with pytest.raises(MissingPiece, match=r"reading \.pt weights needs PyTorch, .*: pip install torch==2\.13\.0$"):
        require("torch", "reading .pt weights")


@pytest.mark.parametrize("ext", ["svg", "png", "pdf"])
def test_viz_without_dot(tmp_path, ext):
    r = run_cli(["viz", os.path.join(SPECS, "mnist_cnn.yaml"), "-o", f"m.{ext}"], cwd=tmp_path,
                environ=env(PATH=str(tmp_path)))  # no dot on this PATH
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    lines = (r.stdout + r.stderr).splitlines()  # the notice (on stdout: the command did its job)
    assert len(lines) == 1 and lines[0].startswith("Graphviz 'dot' not found: wrote m.dot; install Graphviz"), lines
    assert (tmp_path / "m.dot").read_text().startswith("digraph")


def test_cuda_provider_without_cuda_build(tmp_path):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    assert run_cli(["compile", os.path.join(SPECS, "mnist_cnn.yaml"), "-o", "m.onnx"], cwd=tmp_path).returncode == 0
    for args in (["run", "m.onnx", "--provider", "cuda"], ["run", os.path.join(SPECS, "mnist_cnn.yaml"),
                                                            "--provider", "cuda"]):
        line = assert_user_error(run_cli(args, cwd=tmp_path), located=False)
        assert line.startswith("error: --provider cuda: onnxruntime has no CUDA support here (install onnxruntime-gpu"), line
