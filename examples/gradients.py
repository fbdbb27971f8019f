"""Gradients: Model.grad and `graphc grad`, checked against a finite difference.

    python examples/gradients.py [--out DIR]

A small spec ends in a scalar `loss` output (mean of tanh(dense(x))^2). `Model.grad(loss="loss")`
gives a model that also outputs `grad.<param>` for every parameter; `graphc grad --loss loss`
writes the same graph as an ONNX file. Each gradient entry is compared with the central finite
difference (L(w + eps) - L(w - eps)) / (2 eps) of the loss, evaluated in float64 with numpy.
Files go to DIR (default: a new temporary folder), never into the repository.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime as ort

import graphc

SPEC = """graphc: 1
name: tiny_loss
inputs:
  x: [N, 4]
layers:
  - dense: {units: 3, activation: tanh, name: h}
  - mul: {in: [h, h], name: sq}
  - mean: {name: loss}
outputs: [loss]
"""


def loss_fd(weights: dict[str, np.ndarray], x: np.ndarray) -> float:
    """The spec's loss, written by hand in float64: the finite difference's function."""
    h = np.tanh(x @ weights["h.weight"].T + weights["h.bias"])
    return float(np.mean(h * h))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="output folder (default: a temporary one)")
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="graphc-grad-")
    os.makedirs(out, exist_ok=True)

    spec_path = os.path.join(out, "tiny_loss.yaml")
    with open(spec_path, "w") as f:
        f.write(SPEC)
    model = graphc.load(spec_path, seed=1)
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)

    # Python: the gradient model's outputs are the loss and grad.<param> for each parameter.
    grads = model.grad(wrt="params", loss="loss").run({"x": x})
    print(f"loss {float(grads['loss']):.6f}; outputs: {', '.join(grads)}")

    # Command line: the same gradient graph as a standard ONNX file, run on onnxruntime.
    grad_onnx = os.path.join(out, "tiny_loss.grad.onnx")
    subprocess.run([sys.executable, "-m", "graphc", "grad", spec_path, "--loss", "loss", "--seed", "1",
                    "-o", grad_onnx], check=True)
    session = ort.InferenceSession(grad_onnx, providers=["CPUExecutionProvider"])
    from_file = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"x": x})))

    # Finite differences, entry by entry, in float64.
    weights = {k: v.astype(np.float64) for k, v in model.weights.items()}
    x64, eps, worst, files_agree = x.astype(np.float64), 1e-6, 0.0, True
    for name, w in weights.items():
        fd = np.zeros_like(w)
        for i in np.ndindex(w.shape):
            saved = w[i]
            w[i] = saved + eps
            plus = loss_fd(weights, x64)
            w[i] = saved - eps
            minus = loss_fd(weights, x64)
            w[i] = saved
            fd[i] = (plus - minus) / (2 * eps)
        got = grads[f"grad.{name}"]
        err = float(np.abs(got - fd).max() / max(np.abs(fd).max(), 1e-12))
        worst = max(worst, err)
        same_file = np.allclose(from_file[f"grad.{name}"], got, rtol=1e-6, atol=1e-7)
        files_agree &= same_file
        print(f"grad.{name:9s} {list(got.shape)}: max relative difference to finite differences {err:.1e}; "
              f"graphc grad file agrees: {same_file}")
    ok = worst < 1e-4 and files_agree
    print(f"gradients match finite differences: {ok}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
