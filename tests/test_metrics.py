"""Training metrics vs sklearn.metrics."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from graphc.training.metrics import classification_metrics, compute, confusion_matrix, regression_metrics


def test_classification_metrics_match_sklearn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 5, 200)
    p = np.where(rng.random(200) < 0.7, y, rng.integers(0, 5, 200))
    p[p == 4] = 3  # class 4 never predicted: precision undefined there (0, as zero_division=0)
    got = classification_metrics(y, p, 5)
    assert got["accuracy"] == skm.accuracy_score(y, p)
    assert np.isclose(got["precision"], skm.precision_score(y, p, average="macro", zero_division=0))
    assert np.isclose(got["recall"], skm.recall_score(y, p, average="macro", zero_division=0))
    assert np.isclose(got["f1"], skm.f1_score(y, p, average="macro", zero_division=0))
    assert np.array_equal(np.array(got["confusion_matrix"]), skm.confusion_matrix(y, p, labels=range(5)))


def test_absent_classes_are_left_out_as_sklearn():
    y, p = np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0])
    got = classification_metrics(y, p, classes=10)
    assert np.isclose(got["f1"], skm.f1_score(y, p, average="macro"))
    assert confusion_matrix(y, p, 3).shape == (3, 3)


def test_regression_metrics_match_sklearn():
    rng = np.random.default_rng(2)
    y = rng.standard_normal(50)
    p = y + 0.3 * rng.standard_normal(50)
    got = regression_metrics(y, p)
    assert np.isclose(got["mse"], skm.mean_squared_error(y, p))
    assert np.isclose(got["mae"], skm.mean_absolute_error(y, p))
    assert np.isclose(got["r2"], skm.r2_score(y, p))


def test_compute_from_scores_and_binary_probabilities():
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert compute(["accuracy"], scores, np.array([1, 0, 0]), True) == {"accuracy": 2 / 3}
    probs = np.array([[0.9], [0.2], [0.6]])
    got = compute(["accuracy", "f1"], probs, np.array([1.0, 0.0, 0.0]), True)
    assert np.isclose(got["accuracy"], 2 / 3)
    assert np.isclose(got["f1"], skm.f1_score([1, 0, 0], [1, 0, 1], average="macro"))
