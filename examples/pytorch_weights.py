"""PyTorch weights in a graphc model: a state_dict saved as .npz loads into the equivalent spec.

    python examples/pytorch_weights.py [--out DIR]

graphc names parameters `<layer name>.<param>` in PyTorch layouts (dense weight [out, in],
conv weight [out, in, kh, kw]), so a module whose attributes are named like the spec's layers
(`conv`, `logits` in specs/pytorch_cnn.yaml) has a state_dict that maps one to one. The script
builds that module, saves its state_dict to weights.npz, loads it two ways (Model.load_weights
and `graphc compile --weights`) and shows that the outputs agree with PyTorch's.
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
import torch
from torch import nn

import graphc

SPEC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "specs", "pytorch_cnn.yaml")


class PytorchCNN(nn.Module):
    """specs/pytorch_cnn.yaml in PyTorch: attribute names = the spec's layer names."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 16, 3, padding=1)
        self.logits = nn.Linear(16 * 7 * 7, 10)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv(image))
        x = nn.functional.max_pool2d(nn.functional.max_pool2d(x, 2), 2)
        return self.logits(torch.flatten(x, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="output folder (default: a temporary one)")
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="graphc-pytorch-")
    os.makedirs(out, exist_ok=True)

    torch.manual_seed(0)
    net = PytorchCNN().eval()
    weights = os.path.join(out, "weights.npz")
    np.savez(weights, **{k: v.detach().numpy() for k, v in net.state_dict().items()})
    print("state_dict:", ", ".join(f"{k} {list(v.shape)}" for k, v in net.state_dict().items()))

    images = np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32)
    with torch.no_grad():
        want = net(torch.from_numpy(images)).numpy()

    # Python: graphc.load(..., weights=...) or Model.load_weights(path).
    model = graphc.load(SPEC).load_weights(weights)
    got = model.run({"image": images})["logits"]
    print(f"Model.load_weights: max |graphc - torch| = {np.abs(got - want).max():.2e}")

    # Command line: every command takes --weights; the exported file carries the weights.
    onnx_path = os.path.join(out, "pytorch_cnn.onnx")
    subprocess.run([sys.executable, "-m", "graphc", "compile", SPEC, "--weights", weights, "-o", onnx_path],
                   check=True)
    (from_file,) = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"]).run(None, {"image": images})
    print(f"graphc compile --weights: max |onnxruntime - torch| = {np.abs(from_file - want).max():.2e}")

    agree = np.allclose(got, want, rtol=1e-4, atol=1e-5) and np.allclose(from_file, want, rtol=1e-4, atol=1e-5)
    print(f"outputs agree with PyTorch: {agree}")
    sys.exit(0 if agree else 1)


if __name__ == "__main__":
    main()
