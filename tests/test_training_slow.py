"""Accuracy of the bundled training specs on their test splits (about 15 seconds in all)."""

from __future__ import annotations

import os

import pytest

import graphc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("spec,minimum,epochs", [("train_mlp_digits", 0.96, None), ("train_cnn_digits", 0.96, None),
                                                 ("train_logistic_breast_cancer", 0.95, None),
                                                 ("train_lstm", 0.95, None), ("train_transformer", 0.95, 6)])
def test_spec_reaches_its_accuracy(spec, minimum, epochs):
    model = graphc.load(os.path.join(ROOT, "specs", f"{spec}.yaml"))
    model.fit(epochs=epochs, verbose=False)
    assert model.last_fit.final_split == "test"
    assert model.last_fit.final["accuracy"] >= minimum


def test_vae_spec_trains():
    """specs/train_vae.yaml on the digits pixels: the loss (per-pixel BCE + KL / 64) falls by a third."""
    model = graphc.load(os.path.join(ROOT, "specs", "train_vae.yaml"))
    history = model.fit(verbose=False)
    assert history[-1]["loss"] < 0.67 * history[0]["loss"]
    assert model.last_fit.final["loss"] < 0.45
