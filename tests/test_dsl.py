"""graphc.dsl writes the same specs as hand-written YAML.

Oracles: the hand-written spec files (same ONNX bytes), and numpy for one model's outputs.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import graphc
from graphc.dsl import Block, Spec

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST = os.path.join(ROOT, "specs", "mnist_cnn.yaml")


def mnist_dsl() -> Spec:
    return (Spec("mnist_cnn", params={"dropout": 0.25}, doc="Keras MNIST example")
            .input("image", ["N", 1, 28, 28])
            .input("label", ["N"], dtype="int64")
            .conv2d(filters=32, kernel=3, activation="relu")
            .conv2d(filters=64, kernel=3, activation="relu")
            .maxpool2d(size=2)
            .dropout(rate="$dropout")
            .flatten()
            .dense(units=128, activation="relu")
            .dropout(rate=0.5)
            .dense(units=10, name="logits")
            .output("logits"))


def test_graphc_dsl_is_exposed():
    assert graphc.dsl.Spec is Spec


def test_mnist_same_yaml_and_onnx_bytes_as_the_spec_file():
    spec = mnist_dsl()
    with open(MNIST) as f:
        assert spec.to_yaml() == f.read()
    assert spec.build().onnx_bytes() == graphc.load(MNIST).onnx_bytes()


def test_params_override_like_set():
    spec = mnist_dsl()
    model = spec.build(params={"dropout": 0.3})
    assert next(l for l in model.graph.layers if l.name == "dropout_1").attrs["rate"] == 0.3


def test_mlp_against_numpy(tmp_path):
    spec = (Spec("mlp", params={"width": 16})
            .input("x", ["N", 8])
            .dense(units="$width", activation="relu")
            .dense(units="$width // 4", name="out")
            .mul(in_=["out", 0.5]))
    path = spec.save(str(tmp_path / "mlp.yaml"))
    model = spec.build()
    assert model.onnx_bytes() == graphc.load(path).onnx_bytes()
    w = model.weights
    x = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    h = np.maximum(x @ w["dense_1.weight"].T + w["dense_1.bias"], 0)
    want = 0.5 * (h @ w["out.weight"].T + w["out.bias"])
    (y,) = model.run({"x": x}).values()
    assert y.shape == (5, 4)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)


def test_blocks_and_repeat():
    res = Block("res", inputs=["x"], params={"w": 8}).dense(units="$w", name="fc").add(in_=["x", "fc"])
    spec = Spec("r").block(res).input("x", ["N", 8]).layer("res", repeat=2, name="stack")
    model = spec.build()
    assert list(model.weights) == ["stack.0.fc.weight", "stack.0.fc.bias", "stack.1.fc.weight", "stack.1.fc.bias"]
    text = spec.to_yaml()
    assert "blocks:\n  res:\n    params: {w: 8}\n    inputs: [x]\n    layers:\n      - dense: {units: $w, name: fc}" \
        in text
    assert graphc.loads(text).onnx_bytes() == model.onnx_bytes()


def test_models():
    spec = Spec("gan")
    spec.model("generator").input("z", ["N", 4]).dense(units=6, activation="tanh")
    spec.model("discriminator").input("x", ["N", 6]).dense(units=1, activation="sigmoid")
    spec.model("combined").input("z", ["N", 4]).layer("generator", name="fake").layer("discriminator", in_="fake")
    model = spec.build(model="combined")
    assert sorted(model.weights) == ["discriminator.dense_1.bias", "discriminator.dense_1.weight",
                                     "generator.dense_1.bias", "generator.dense_1.weight"]


def test_unknown_method_and_errors_are_located():
    with pytest.raises(AttributeError):
        Spec("m").dense2(units=3)
    spec = Spec("m").input("x", ["N", 784]).conv2d(filters=8, kernel=3)
    with pytest.raises(graphc.SpecError) as info:
        spec.build()
    assert str(info.value).startswith("<dsl m>:6:5: error: conv2d_1: input x has shape [N, 784]")
