"""Write tests/data/tf2onnx/: real tf2onnx exports of a small Keras CNN and a Keras LSTM, with
Keras's own outputs and gradients as the oracle for tests/test_onnx_tf2onnx.py.

Needs TensorFlow and tf2onnx, which the project does not depend on: run it from a separate venv,

    python3 -m venv /work/tfvenv && /work/tfvenv/bin/pip install tensorflow-cpu tf2onnx
    /work/tfvenv/bin/python tools/make_tf2onnx_fixtures.py

(tested with tensorflow-cpu 2.21.0, keras 3.15.1, tf2onnx 1.17.0, onnx 1.23.2; the versions are
written into each `_io.npz` as `versions`). Fixed seeds: reruns with the same versions give the
same weights and byte-identical `_io.npz` oracles (two runs checked; the `.onnx` bytes differed,
so regenerate both together).

Each `NAME_io.npz` holds `x` (a fixed input), `y` (Keras's output for it), `dy` (the fixed
cotangent of the loss `sum(y * dy)`) and, per ONNX initializer that is a Keras weight, `grad/INIT`:
Keras's gradient (tf.GradientTape) of that loss wrt the weight, mapped into the initializer's
layout. The layout map of each initializer (Conv kernels HWIO -> OIHW, LSTM kernels [C, 4H] in
Keras gate order i, f, c, o -> ONNX W [1, 4H, C] in i, o, f, c, the LSTM bias into B's W half
and R's half) is found by matching the values, so it is checked, not assumed; `grad_names` lists
the initializers covered.
"""

from __future__ import annotations

import os
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # deterministic float32 sums

import keras  # noqa: E402
import onnx  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf2onnx  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "data", "tf2onnx")
OPSET = 13


def keras_cnn() -> keras.Model:
    """The Keras MNIST CNN, scaled down (3 channels, so that tf2onnx keeps its NHWC Transpose): Conv2D, MaxPooling2D, Flatten, Dropout, Dense softmax."""
    return keras.Sequential([
        keras.Input((16, 16, 3), name="image"),
        keras.layers.Conv2D(4, 3, activation="relu", name="conv1"),
        keras.layers.MaxPooling2D(2, name="pool1"),
        keras.layers.Conv2D(8, 3, activation="relu", name="conv2"),
        keras.layers.MaxPooling2D(2, name="pool2"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dropout(0.5, name="dropout"),
        keras.layers.Dense(10, activation="softmax", name="dense"),
    ], name="cnn")


def keras_lstm() -> keras.Model:
    """An LSTM over [N, T, C] sequences, its last hidden state into a Dense classifier."""
    return keras.Sequential([
        keras.Input((5, 3), name="sequence"),
        keras.layers.LSTM(4, name="lstm"),
        keras.layers.Dense(2, name="dense"),
    ], name="lstm_model")


def _convert(model: keras.Model, shape: tuple) -> onnx.ModelProto:
    spec = (tf.TensorSpec((None,) + shape[1:], tf.float32, name="x"),)
    fn = tf.function(lambda x: model(x, training=False), input_signature=spec)
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=OPSET)
    return proto


def _lstm_gate_rows(a: np.ndarray) -> np.ndarray:
    """Keras gate chunks i, f, c, o along axis 0 -> ONNX's i, o, f, c."""
    i, f, c, o = np.split(a, 4, axis=0)
    return np.concatenate([i, o, f, c], axis=0)


def _layouts(weight: np.ndarray):
    """(name, forward map, gradient map) candidates from a Keras weight to an ONNX initializer."""
    yield "same", lambda a: a
    if weight.ndim == 4:
        yield "hwio->oihw", lambda a: a.transpose(3, 2, 0, 1)
    if weight.ndim == 2 and weight.shape[1] % 4 == 0:
        yield "lstm kernel", lambda a: _lstm_gate_rows(a.T)[None]
    if weight.ndim == 1 and weight.shape[0] % 4 == 0:
        yield "lstm bias", lambda a: np.concatenate([_lstm_gate_rows(a), np.zeros_like(a)])[None]
        yield "lstm bias (R half too)", lambda a: np.concatenate([_lstm_gate_rows(a), _lstm_gate_rows(a)])[None]


def _grads(model: keras.Model, proto: onnx.ModelProto, x: np.ndarray, dy: np.ndarray) -> dict:
    """Keras's gradient of sum(y * dy) per weight, in the layout of the initializer holding it."""
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(x, training=False) * dy)
    grads = tape.gradient(loss, model.trainable_weights)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    out = {}
    for weight, grad in zip(model.trainable_weights, grads):
        value, grad = weight.numpy(), grad.numpy()
        found = None
        for layout, fwd in _layouts(value):
            if layout == "lstm bias (R half too)":
                continue
            for name, init in inits.items():
                if init.shape == fwd(value).shape and np.array_equal(init, fwd(value)) and name not in out:
                    found = name, layout
                    break
            if found:
                break
        if found is None:
            print(f"  {weight.path}: no initializer holds it (folded into another); no gradient oracle", file=sys.stderr)
            continue
        name, layout = found
        # the bias adds once into the gates: both halves of ONNX's B get the same gradient
        g = dict(_layouts(value))["lstm bias (R half too)"](grad) if layout == "lstm bias" else dict(_layouts(value))[layout](grad)
        out[name] = g.astype(np.float32)
        print(f"  {weight.path} -> {name} ({layout})", file=sys.stderr)
    return out


def _randomize_biases(model: keras.Model, seed: int) -> None:
    """Keras zero-initializes biases (the LSTM's forget gate: ones): random ones test more."""
    rng = np.random.default_rng(seed)
    for w in model.trainable_weights:
        if "bias" in w.path:
            w.assign(rng.standard_normal(w.shape).astype(np.float32) * 0.3)


def make(name: str, model: keras.Model, x: np.ndarray, seed: int) -> None:
    _randomize_biases(model, seed + 200)
    proto = _convert(model, x.shape)
    y = model(x, training=False).numpy()
    dy = np.random.default_rng(seed + 100).standard_normal(y.shape).astype(np.float32)
    grads = _grads(model, proto, x, dy)
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, f"{name}.onnx")
    onnx.save(proto, path)
    versions = np.asarray(f"tensorflow {tf.__version__}, keras {keras.__version__}, tf2onnx {tf2onnx.__version__}, "
                          f"onnx {onnx.__version__}, opset {OPSET}")
    np.savez(os.path.join(OUT, f"{name}_io.npz"), x=x, y=y, dy=dy, versions=versions,
             grad_names=np.asarray(sorted(grads)), **{f"grad/{k}": v for k, v in grads.items()})
    print(f"  initializers: {[(t.name, list(t.dims)) for t in proto.graph.initializer]}", file=sys.stderr)
    print(f"wrote {path} ({os.path.getsize(path)} bytes, nodes: {[n.op_type for n in proto.graph.node]})")


def main() -> int:
    keras.utils.set_random_seed(7)
    cnn = keras_cnn()
    make("keras_cnn", cnn, np.random.default_rng(1).standard_normal((2, 16, 16, 3)).astype(np.float32), 1)
    keras.utils.set_random_seed(8)
    lstm = keras_lstm()
    make("keras_lstm", lstm, np.random.default_rng(2).standard_normal((2, 5, 3)).astype(np.float32), 2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
