"""Losses as graph builders: each takes a Builder and its input Values and returns a scalar Value.

All reduce by the mean over the batch, as `torch.nn.functional`'s defaults; formulas in
docs/training.md. Integer targets are turned into one-hot rows with the `one_hot` op.
"""

from __future__ import annotations

from typing import Callable

from graphc.errors import ShapeError
from graphc.ir.graph import Value
from graphc.ir.types import format_shape, is_float
from graphc.ops import Builder

KERAS_EPSILON = 1e-7  # Keras' backend epsilon, used to clip probabilities
LOG_FLOOR = -100.0  # torch's binary_cross_entropy clamps log terms at -100
TINY = 1.1754944e-38  # smallest normal float32: log(0) never happens, so no inf * 0 gradients


def _classes(x: Value, loss: str) -> int:
    if x.type.rank < 2 or not isinstance(x.shape[-1], int):
        raise ShapeError(f"{loss}: input has shape {format_shape(x.shape)}, needs [N, classes] with a fixed "
                         "number of classes")
    return x.shape[-1]


def _targets(b: Builder, scores: Value, target: Value, loss: str) -> Value:
    """Integer labels [N] -> one-hot rows like `scores`; float targets must match `scores`' shape."""
    if not is_float(target.dtype):
        if target.type.rank != scores.type.rank - 1:
            raise ShapeError(f"{loss}: integer target has shape {format_shape(target.shape)}, scores have "
                             f"{format_shape(scores.shape)} (labels need one axis less)")
        return b.one_hot(target, depth=_classes(scores, loss), dtype=scores.dtype)
    return _match(b, target, scores, loss)


def _match(b: Builder, target: Value, pred: Value, loss: str) -> Value:
    """`target` shaped like `pred`: [N] targets for [N, 1] predictions gain their last axis."""
    if target.type.rank == pred.type.rank - 1 and pred.shape[-1] == 1:
        target = b.unsqueeze(target, axes=[target.type.rank])
    if target.type.rank != pred.type.rank:
        raise ShapeError(f"{loss}: target has shape {format_shape(target.shape)}, prediction has "
                         f"{format_shape(pred.shape)}")
    if not is_float(target.dtype):
        target = b.cast(target, to=pred.dtype)
    return target


def _batch_mean_of_row_sums(b: Builder, x: Value) -> Value:
    return b.mean(b.sum(x, axis=-1))


def mse(b: Builder, pred: Value, target: Value) -> Value:
    d = b.sub(pred, _match(b, target, pred, "mse"))
    return b.mean(b.mul(d, d))


def mae(b: Builder, pred: Value, target: Value) -> Value:
    return b.mean(b.abs(b.sub(pred, _match(b, target, pred, "mae"))))


def nll(b: Builder, log_probs: Value, target: Value) -> Value:
    return b.neg(_batch_mean_of_row_sums(b, b.mul(log_probs, _targets(b, log_probs, target, "nll"))))


def cross_entropy(b: Builder, logits: Value, target: Value) -> Value:
    """Softmax cross-entropy from logits, via log_softmax (stable for any logit size)."""
    return nll(b, b.log_softmax(logits, axis=-1), target)


def categorical_crossentropy(b: Builder, probs: Value, target: Value) -> Value:
    """Keras' loss on probabilities: rows renormalized, clipped to [eps, 1 - eps], then -sum(t log p)."""
    t = _targets(b, probs, target, "categorical_crossentropy")
    p = b.div(probs, b.sum(probs, axis=-1, keepdims=True))
    p = b.minimum(b.maximum(p, KERAS_EPSILON), 1.0 - KERAS_EPSILON)
    return b.neg(_batch_mean_of_row_sums(b, b.mul(t, b.log(p))))


def bce(b: Builder, probs: Value, target: Value) -> Value:
    """Binary cross-entropy on probabilities, log terms clamped at -100 as torch (and p at TINY)."""
    t = _match(b, target, probs, "bce")
    log_p = b.maximum(b.log(b.maximum(probs, TINY)), LOG_FLOOR)
    log_q = b.maximum(b.log(b.maximum(b.sub(1.0, probs), TINY)), LOG_FLOOR)
    return b.neg(b.mean(b.add(b.mul(t, log_p), b.mul(b.sub(1.0, t), log_q))))


def bce_with_logits(b: Builder, logits: Value, target: Value) -> Value:
    """max(x, 0) - x t + log(1 + e^-|x|): stable for any logit size."""
    t = _match(b, target, logits, "bce_with_logits")
    softplus_neg_abs = b.log(b.add(1.0, b.exp(b.neg(b.abs(logits)))))
    return b.mean(b.add(b.sub(b.relu(logits), b.mul(logits, t)), softplus_neg_abs))


def kl_normal(b: Builder, mu: Value, logvar: Value) -> Value:
    """KL(N(mu, e^logvar) || N(0, 1)) summed over features, averaged over the batch (VAE)."""
    terms = b.sub(b.sub(b.add(1.0, logvar), b.mul(mu, mu)), b.exp(logvar))
    return b.mul(_batch_mean_of_row_sums(b, terms), -0.5)


LOSS_FUNCTIONS: dict[str, Callable[..., Value]] = {
    "mse": mse, "mae": mae, "cross_entropy": cross_entropy, "categorical_crossentropy": categorical_crossentropy,
    "bce": bce, "bce_with_logits": bce_with_logits, "nll": nll, "kl_normal": kl_normal,
}
