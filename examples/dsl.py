"""The Python DSL: build a model (and its training section) with graphc.dsl, write the YAML, compile.

    python examples/dsl.py [--epochs 3] [--out DIR]

`graphc.dsl.Spec` writes exactly the YAML you would write by hand (so the file can be edited,
diffed, and used with every `graphc` command); `spec.build()` compiles it into a graphc.Model.
This script writes a small CNN for the 8x8 digits with a `training:` section, saves it as
cnn.yaml, exports ONNX, and trains it for a few epochs with Model.fit.
Files go to DIR (default: a new temporary folder), never into the repository.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np

import graphc
from graphc.dsl import Spec


def cnn_spec() -> Spec:
    return (Spec("cnn_digits", params={"filters": 16}, doc="Small CNN on the 8x8 digits")
            .input("image", ["N", 1, 8, 8])
            .input("label", ["N"], dtype="int64")  # used only by the training section
            .conv2d(filters="$filters", kernel=3, padding=1, activation="relu", name="conv")
            .maxpool2d(size=2, name="pool")
            .flatten()
            .dense(units=10, name="logits")
            .output("logits")
            .training(data={"dataset": "digits", "test_split": 0.2},
                      validation=0.1,  # shorthand for {split: 0.1}
                      loss={"cross_entropy": {"logits": "logits", "target": "label"}},
                      optimizer={"adam": {"lr": 0.003}},
                      batch_size=64, epochs=30, metrics=["accuracy", "f1"], seed=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs to train (the spec says 30)")
    parser.add_argument("--out", help="output folder (default: a temporary one)")
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="graphc-dsl-")
    os.makedirs(out, exist_ok=True)

    spec = cnn_spec()
    print(spec.to_yaml())
    path = spec.save(os.path.join(out, "cnn.yaml"))  # `graphc train` / `graphc viz` ... take this file

    model = spec.build(params={"filters": 8})  # params override the spec's, like --set filters=8
    print(model)
    onnx_path = model.export(os.path.join(out, "cnn.onnx"))
    print(f"wrote {path} and {onnx_path}")

    # The saved file is the same model: the same ONNX bytes.
    assert graphc.load(path, params={"filters": 8}).onnx_bytes() == model.onnx_bytes()

    history = model.fit(epochs=args.epochs, verbose=False)
    print(f"trained {len(history)} epochs: loss {history[0]['loss']:.3f} -> {history[-1]['loss']:.3f}, "
          f"test accuracy {model.last_fit.final['accuracy']:.3f}")
    logits = model.run({"image": np.zeros((1, 1, 8, 8), np.float32)})["logits"]
    print("logits of a blank image:", " ".join(f"{v:.2f}" for v in logits[0]))


if __name__ == "__main__":
    main()
