"""Accuracy of the bundled training specs on their test splits (a few seconds)."""

from __future__ import annotations

import os

import pytest

import graphc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("spec,minimum", [("train_mlp_digits", 0.96), ("train_cnn_digits", 0.96),
                                          ("train_logistic_breast_cancer", 0.95)])
def test_spec_reaches_its_accuracy(spec, minimum):
    model = graphc.load(os.path.join(ROOT, "specs", f"{spec}.yaml"))
    model.fit(verbose=False)
    assert model.last_fit.final_split == "test"
    assert model.last_fit.final["accuracy"] >= minimum
