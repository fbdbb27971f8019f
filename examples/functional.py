"""The functional Python API: build a small CNN (and its training section) in Python, check shapes
as you go, write the equivalent YAML, compile, and train a few epochs.

    python examples/functional.py [--epochs 3] [--out DIR]

`gc.layers.<op>` applies a layer at once (its output shape is known right away); `gc.Model`
builds the same graphc.Model that `graphc.load` returns; `to_yaml()` writes a spec that loads
back to byte-identical ONNX. Files go to DIR (default: a new temporary folder).
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np

import graphc as gc


def cnn(filters: int = 16) -> gc.Model:
    image = gc.Input("image", ["N", 1, 8, 8])
    label = gc.Input("label", ["N"], dtype="int64")  # used only by the training section
    h = gc.layers.conv2d(image, filters, 3, padding=1, activation="relu", name="conv")
    print("conv output:", h.shape)
    h = gc.layers.maxpool2d(h, 2, name="pool")
    h = gc.layers.flatten(h)
    logits = gc.layers.dense(h, 10, name="logits")
    model = gc.Model("cnn_digits", inputs=[image, label], outputs=[logits], doc="Small CNN on the 8x8 digits")
    return model.training(data={"dataset": "digits", "test_split": 0.2},
                          validation=0.1,  # shorthand for {split: 0.1}
                          loss={"cross_entropy": {"logits": "logits", "target": "label"}},
                          optimizer={"adam": {"lr": 0.003}},
                          batch_size=64, epochs=30, metrics=["accuracy", "f1"], seed=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs to train (the spec says 30)")
    parser.add_argument("--out", help="output folder (default: a temporary one)")
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="graphc-functional-")
    os.makedirs(out, exist_ok=True)

    model = cnn(filters=8)
    text = model.to_yaml()
    print(text)
    path = os.path.join(out, "cnn.yaml")
    with open(path, "w") as f:  # `graphc train` / `graphc viz` ... take this file
        f.write(text)
    print(model)
    onnx_path = model.export(os.path.join(out, "cnn.onnx"))
    print(f"wrote {path} and {onnx_path}")
    # The YAML file is the same model: the same ONNX bytes.
    assert gc.load(path).onnx_bytes() == model.onnx_bytes()

    try:  # a mistake is a SpecError at this file's line, with the message YAML would give
        gc.layers.dense(gc.layers.conv2d(gc.Input("x", ["N", 784]), 8, 3), 10)
    except gc.SpecError as e:
        print("caught:", e)

    history = model.fit(epochs=args.epochs, verbose=False)
    print(f"trained {len(history)} epochs: loss {history[0]['loss']:.3f} -> {history[-1]['loss']:.3f}, "
          f"test accuracy {model.last_fit.final['accuracy']:.3f}")
    logits = model.run({"image": np.zeros((1, 1, 8, 8), np.float32)})["logits"]
    print("logits of a blank image:", " ".join(f"{v:.2f}" for v in logits[0]))


if __name__ == "__main__":
    main()
