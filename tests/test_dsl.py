"""graphc.dsl writes the same specs as hand-written YAML.

Oracles: the hand-written spec files (same text or same ONNX bytes, same training history), numpy
for one model's outputs, and scikit-learn's split for a trained model's test accuracy.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import yaml

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


# -- the training: section ---------------------------------------------------------------------

def cnn_digits_dsl() -> Spec:
    return (Spec("cnn_digits", doc="Small CNN on the 8x8 digits")
            .input("image", ["N", 1, 8, 8])
            .input("label", ["N"], dtype="int64")
            .conv2d(filters=16, kernel=3, padding=1, activation="relu", name="conv")
            .maxpool2d(size=2, name="pool")
            .flatten()
            .dense(units=10, name="logits")
            .output("logits")
            .training(data={"dataset": "digits", "test_split": 0.2},
                      loss={"cross_entropy": {"logits": "logits", "target": "label"}},
                      optimizer={"adam": {"lr": 0.001}}, batch_size=64, epochs=30,
                      metrics=["accuracy", "f1"], seed=0))


def test_training_section_same_text_as_the_hand_written_spec():
    """specs/train_cnn_digits.yaml, its comment lines dropped, is exactly what the DSL writes."""
    with open(os.path.join(ROOT, "specs", "train_cnn_digits.yaml")) as f:
        hand = "".join(line for line in f if not line.startswith("#"))
    assert cnn_digits_dsl().to_yaml() == hand


def test_training_keys_in_documented_order_and_shorthands():
    spec = (Spec("vae", params={"kl_weight": 0.5}).input("x", ["N", 4])
            .dense(units=2, name="mu", in_="x").dense(units=2, name="logvar", in_="x")
            .dense(units=4, name="recon", in_="mu").output("recon", "mu", "logvar")
            .training(seed=0, epochs=1, optimizer="sgd", validation=0.25, data="vae.npz",
                      loss=[{"mse": {"pred": "recon", "target": "x"}},
                            {"kl_normal": {"in": ["mu", "logvar"]}, "weight": "$kl_weight"}]))
    hand = """training:
  data: {npz: vae.npz}
  validation: {split: 0.25}
  loss:
    - mse: {pred: recon, target: x}
    - kl_normal: {in: [mu, logvar]}
      weight: $kl_weight
  optimizer: sgd
  epochs: 1
  seed: 0
"""
    assert spec.to_yaml().endswith("outputs: [recon, mu, logvar]\n" + hand)


def gan_dsl() -> Spec:
    spec = Spec("gan_digits", doc="MLP GAN on the 8x8 digits")
    spec.model("generator").input("z", ["N", 16]).dense(units=64, activation="relu") \
        .dense(units=64, activation="sigmoid", name="image")
    spec.model("discriminator").input("x", ["N", 64]).dense(units=64, activation="leaky_relu", name="hidden") \
        .dense(units=1, activation="sigmoid", name="real")
    spec.model("gan").input("z", ["N", 16]).layer("generator", name="fake") \
        .layer("discriminator", in_="fake", name="score").output("score")
    spec.training(gan={"generator": "generator", "discriminator": "discriminator", "combined": "gan",
                       "noise": "z", "real": "x"},
                  data="digits", optimizer={"adam": {"lr": 0.0005, "beta1": 0.5}}, batch_size=64, epochs=20, seed=0)
    return spec


def test_gan_training_section_matches_the_spec_file():
    spec = gan_dsl()
    with open(os.path.join(ROOT, "specs", "train_gan.yaml")) as f:
        hand = yaml.safe_load(f)
    ours = yaml.safe_load(spec.to_yaml())
    assert ours["training"] == hand["training"]
    assert list(ours["training"]) == list(hand["training"]), "same key order"
    ours_onnx = spec.build(model="gan").to_onnx()
    hand_onnx = graphc.load(os.path.join(ROOT, "specs", "train_gan.yaml"), model="gan").to_onnx()
    # the same graph and weights (the metadata's spec_sha256 differs: the texts differ in comments)
    assert ours_onnx.graph.SerializeToString(deterministic=True) == \
        hand_onnx.graph.SerializeToString(deterministic=True)


def test_dsl_training_fits_one_epoch_like_the_spec_file():
    """Model.fit on the DSL spec: the same history as on the hand-written file, and the trained
    model's test accuracy recomputed with numpy from its logits."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    model = cnn_digits_dsl().build()
    history = model.fit(epochs=1, verbose=False)
    assert len(history) == 1 and np.isfinite(history[0]["loss"])
    ref = graphc.load(os.path.join(ROOT, "specs", "train_cnn_digits.yaml"))
    ref_history = ref.fit(epochs=1, verbose=False)
    assert history[0]["loss"] == ref_history[0]["loss"]
    for name, w in model.weights.items():
        np.testing.assert_array_equal(w, ref.weights[name])
    x, y = load_digits(return_X_y=True)
    _, x_test, _, y_test = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    logits = model.run({"image": (x_test / 16).astype(np.float32).reshape(-1, 1, 8, 8)})["logits"]
    accuracy = float((logits.argmax(1) == y_test).mean())
    assert accuracy > 0.5
    assert accuracy == pytest.approx(model.last_fit.final["accuracy"], abs=1e-9)


def test_gan_fit_one_epoch_gives_the_cli_weights(tmp_path):
    """Model.fit on the DSL's GAN spec (the generator model) trains like `graphc train` on the
    hand-written file: the generator gets the run's `generator.*` weights, bit for bit."""
    from graphc.cli import main

    generator = gan_dsl().build()
    history = generator.fit(epochs=1, verbose=False)
    assert len(history) == 1 and {"d_loss", "g_loss"} <= set(history[0])
    out = tmp_path / "run"
    assert main(["train", os.path.join(ROOT, "specs", "train_gan.yaml"), "--epochs", "1", "--out", str(out),
                 "--quiet"]) == 0
    with np.load(out / "weights.npz") as run:
        for name, w in generator.weights.items():
            np.testing.assert_array_equal(w, run[f"generator.{name}"])
    cli_history = json.loads((out / "history.json").read_text())
    assert [h["d_loss"] for h in history] == [h["d_loss"] for h in cli_history]
    untrained = gan_dsl().build()
    assert not np.array_equal(untrained.weights["image.weight"], generator.weights["image.weight"])


def test_the_contract_training_section():
    """The spec-language contract's training example (comments dropped), written with the DSL."""
    hand = """training:
  data: {dataset: digits}
  validation: {split: 0.2}
  loss: {cross_entropy: {logits: logits, target: label}}
  regularization: {l2: 0.0001}
  optimizer: {adam: {lr: 0.001}}
  batch_size: 64
  epochs: 30
  metrics: [accuracy, precision, recall, f1]
  early_stopping: {monitor: val_loss, patience: 5}
  seed: 0
"""
    spec = (Spec("m").input("x", ["N", 64]).input("label", ["N"], dtype="int64").dense(units=10, name="logits")
            .training(data="digits", validation=0.2, loss={"cross_entropy": {"logits": "logits", "target": "label"}},
                      regularization={"l2": 0.0001}, optimizer={"adam": {"lr": 0.001}}, batch_size=64, epochs=30,
                      metrics=["accuracy", "precision", "recall", "f1"],
                      early_stopping={"monitor": "val_loss", "patience": 5}, seed=0))
    assert spec.to_yaml().endswith("\n" + hand)
    from graphc.training.compile import train_config

    cfg = train_config(spec.build())
    assert (cfg.dataset, cfg.validation_split, cfg.l2, cfg.optimizer, cfg.epochs, cfg.patience) == \
        ("digits", 0.2, 0.0001, "adam", 30, 5)


def test_training_errors_are_located_in_the_dsl_text():
    spec = Spec("m").input("x", ["N", 64]).input("label", ["N"], dtype="int64").dense(units=10, name="logits") \
        .training(data="digits", loss={"cross_entropy": {"logits": "logits", "target": "label"}},
                  optimizer={"adamm": {"lr": 0.001}})
    with pytest.raises(graphc.SpecError) as info:
        spec.build().fit(epochs=1, verbose=False)
    assert str(info.value).startswith("<dsl m>:11:")
    assert "did you mean 'adam'" in str(info.value)
