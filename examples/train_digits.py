"""Training: Model.fit on specs/train_mlp_digits.yaml (an MLP on scikit-learn's 8x8 digits).

    python examples/train_digits.py [--epochs 10] [--out DIR]

`Model.fit` compiles the whole train step (forward, loss, gradients, Adam) into one ONNX graph
and runs it on onnxruntime, as `graphc train specs/train_mlp_digits.yaml --epochs 10` does.
The spec asks for 30 epochs; `fit(epochs=...)` overrides that (a `params:` value would work too,
with `training: {epochs: $epochs}`). The script prints the per-epoch history and the test
accuracy, then exports the trained model and checks it on onnxruntime.
Files go to DIR (default: a new temporary folder), never into the repository.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np
import onnxruntime as ort
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import graphc

SPEC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "specs", "train_mlp_digits.yaml")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10, help="epochs to train (the spec says 30)")
    parser.add_argument("--out", help="output folder (default: a temporary one)")
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="graphc-train-")
    os.makedirs(out, exist_ok=True)

    model = graphc.load(SPEC)
    # out= gets the run folder: model.onnx, weights.npz, history.json, checkpoint/
    history = model.fit(out=os.path.join(out, "run"), epochs=args.epochs, verbose=False)

    print("epoch  loss    accuracy  val_loss  val_accuracy")
    for record in history:
        print(f"{record['epoch']:5d}  {record['loss']:.4f}  {record['accuracy']:.4f}    "
              f"{record['val_loss']:.4f}    {record['val_accuracy']:.4f}")
    final = model.last_fit.final
    print(f"test accuracy {final['accuracy']:.3f} (f1 {final['f1']:.3f}) on the {model.last_fit.final_split} split")

    # The model now holds the trained weights: export it and check it on plain onnxruntime,
    # on the same stratified 20% test split the trainer held out (seed 0, pixels / 16).
    path = model.export(os.path.join(out, "mlp_digits.onnx"))
    x, y = load_digits(return_X_y=True)
    _, x_test, _, y_test = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"x": (x_test / 16).astype(np.float32)})
    print(f"exported {path}: onnxruntime test accuracy {(logits.argmax(1) == y_test).mean():.3f}")


if __name__ == "__main__":
    main()
