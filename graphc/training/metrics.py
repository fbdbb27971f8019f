"""Metrics on whole prediction arrays (numpy): classification (macro-averaged) and regression."""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, classes: int | None = None) -> np.ndarray:
    """counts[i, j]: samples of class i predicted as j (rows: truth, as sklearn)."""
    y_true, y_pred = np.asarray(y_true, np.int64).ravel(), np.asarray(y_pred, np.int64).ravel()
    k = classes or int(max(y_true.max(initial=0), y_pred.max(initial=0)) + 1)
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)


def _present(cm: np.ndarray) -> np.ndarray:
    """Classes that occur in the truth or the predictions (sklearn's label set)."""
    return (cm.sum(axis=0) + cm.sum(axis=1)) > 0


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b > 0)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: int | None = None) -> dict:
    """accuracy, macro precision / recall / f1 (0 where undefined, as sklearn's zero_division=0)."""
    cm = confusion_matrix(y_true, y_pred, classes)
    tp = np.diag(cm).astype(np.float64)
    precision = _safe_div(tp, cm.sum(axis=0).astype(np.float64))
    recall = _safe_div(tp, cm.sum(axis=1).astype(np.float64))
    f1 = _safe_div(2 * precision * recall, precision + recall)
    keep = _present(cm)
    return {"accuracy": float(tp.sum() / max(cm.sum(), 1)), "precision": float(precision[keep].mean()),
            "recall": float(recall[keep].mean()), "f1": float(f1[keep].mean()), "confusion_matrix": cm.tolist()}


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    y_true = np.asarray(y_true, np.float64).reshape(len(y_true), -1)
    y_pred = np.asarray(y_pred, np.float64).reshape(len(y_pred), -1)
    err = y_pred - y_true
    ss_res = (err ** 2).sum(axis=0)
    ss_tot = ((y_true - y_true.mean(axis=0)) ** 2).sum(axis=0)
    r2 = np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0), 0.0)
    return {"mse": float((err ** 2).mean()), "mae": float(np.abs(err).mean()), "r2": float(r2.mean())}


def compute(names: list[str], scores: np.ndarray, target: np.ndarray, classification: bool) -> dict:
    """The requested metrics from model outputs: class scores (argmax taken) or regression values.

    Binary classifiers with one output column (sigmoid probabilities or logits) threshold at
    0.5 or 0 (`scores` are probabilities when all lie in [0, 1])."""
    if not names:
        return {}
    if classification:
        if scores.ndim >= 2 and scores.shape[-1] > 1:
            pred = scores.argmax(axis=-1)
        else:
            s = scores.reshape(len(scores))
            threshold = 0.5 if (s.min(initial=0) >= 0 and s.max(initial=0) <= 1) else 0.0
            pred = (s > threshold).astype(np.int64)
        truth = target.argmax(axis=-1) if np.issubdtype(target.dtype, np.floating) and target.ndim == scores.ndim \
            and target.ndim >= 2 and target.shape[-1] > 1 else np.asarray(target).reshape(len(target)).astype(np.int64)
        classes = scores.shape[-1] if scores.ndim >= 2 and scores.shape[-1] > 1 else 2
        result = classification_metrics(truth, pred, classes)
    else:
        result = regression_metrics(target, scores)
    return {k: result[k] for k in names if k in result}
