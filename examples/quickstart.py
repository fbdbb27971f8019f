"""Quickstart: load a spec, check its shapes, export ONNX, run it on onnxruntime, print a summary.

    python examples/quickstart.py [--out DIR]

The same as `graphc check`, `graphc compile -o` and `graphc summary` on the command line.
Files go to DIR (default: a new temporary folder), never into the repository.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np
import onnx
import onnxruntime as ort

import graphc

SPECS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "specs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="output folder (default: a temporary one)")
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="graphc-quickstart-")
    os.makedirs(out, exist_ok=True)

    # 1. Load the spec (params override the spec's `params:`, like --set dropout=0.3).
    model = graphc.load(os.path.join(SPECS, "mnist_cnn.yaml"), params={"dropout": 0.3})
    print(model)

    # 2. Building the model already checked every shape; check() lists them per layer.
    for layer, op, shape in model.check():
        print(f"  {layer:12s} {op:10s} {shape}")

    # 3. Export standard ONNX (opset 21) and validate it with onnx's own checker.
    path = model.export(os.path.join(out, "mnist_cnn.onnx"))
    onnx.checker.check_model(onnx.load(path), full_check=True)
    print(f"wrote {path}")

    # 4. Run the file on plain onnxruntime (graphc is not needed at inference time).
    images = np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"image": images})
    print(f"onnxruntime: logits {logits.shape}, predicted classes {logits.argmax(axis=1).tolist()}")

    # Model.run does the same in one call (it exports in memory and caches the session).
    same = np.allclose(model.run({"image": images})["logits"], logits, rtol=1e-5, atol=1e-6)
    print(f"Model.run agrees with the exported file: {same}")

    # 5. Layers, output shapes, parameter counts and FLOPs.
    print(model.summary())


if __name__ == "__main__":
    main()
