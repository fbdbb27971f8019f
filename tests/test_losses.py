"""Each loss and its gradient (graphc autodiff, run on onnxruntime) vs torch.nn.functional."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from graphc.autodiff import gradients
from graphc.export.onnx_export import to_onnx
from graphc.ir.graph import Graph
from graphc.ir.types import TensorType
from graphc.ops import Builder
from graphc.training.losses import LOSS_FUNCTIONS

N, C = 6, 5
rng = np.random.default_rng(0)
LOGITS = (rng.standard_normal((N, C)) * 3).astype(np.float32)
LABELS = rng.integers(0, C, N).astype(np.int64)
PROBS = (np.exp(LOGITS) / np.exp(LOGITS).sum(1, keepdims=True)).astype(np.float32)
PRED = rng.standard_normal((N, 1)).astype(np.float32)
TARGET = rng.standard_normal((N, 1)).astype(np.float32)
P01 = rng.uniform(0.02, 0.98, (N, 1)).astype(np.float32)
T01 = rng.integers(0, 2, (N, 1)).astype(np.float32)
MU, LOGVAR = rng.standard_normal((N, 3)).astype(np.float32), rng.standard_normal((N, 3)).astype(np.float32)


def keras_cce(p, t):
    p = p / p.sum(-1, keepdim=True)
    p = p.clamp(1e-7, 1 - 1e-7)
    return -(F.one_hot(t, C).float() * p.log()).sum(-1).mean()


def kl(mu, logvar):
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    return torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(-1).mean()


CASES = {
    "mse": (PRED, TARGET, lambda a, b: F.mse_loss(a, b), (True, True)),
    "mae": (PRED, TARGET, lambda a, b: F.l1_loss(a, b), (True, True)),
    "cross_entropy": (LOGITS, LABELS, lambda a, b: F.cross_entropy(a, b), (True, False)),
    "nll": (np.log(PROBS), LABELS, lambda a, b: F.nll_loss(a, b), (True, False)),
    "categorical_crossentropy": (PROBS, LABELS, keras_cce, (True, False)),
    "bce": (P01, T01, lambda a, b: F.binary_cross_entropy(a, b), (True, True)),
    "bce_with_logits": (PRED * 20, T01, lambda a, b: F.binary_cross_entropy_with_logits(a, b), (True, True)),
    "kl_normal": (MU, LOGVAR, kl, (True, True)),
}


def _graphc(name, a, b):
    g = Graph("loss")
    va = g.add_input("a", TensorType("float32", a.shape))
    vb = g.add_input("b", TensorType("float32" if b.dtype == np.float32 else "int64", b.shape))
    builder = Builder(g)
    loss = LOSS_FUNCTIONS[name](builder, va, vb)
    wrt = [va] + ([vb] if b.dtype == np.float32 else [])
    grads = gradients(g, [loss], [None], wrt)
    g.outputs = [builder.identity(loss)] + [builder.identity(x) for x in grads]
    sess = ort.InferenceSession(to_onnx(g).SerializeToString())
    return sess.run(None, {"a": a, "b": b})


@pytest.mark.parametrize("name", sorted(CASES))
def test_loss_and_gradient_match_torch(name):
    a, b, ref, diff = CASES[name]
    ta = torch.tensor(a, requires_grad=True)
    tb = torch.tensor(b, requires_grad=diff[1])
    expected = ref(ta, tb)
    expected.backward()
    out = _graphc(name, a, b)
    np.testing.assert_allclose(out[0], expected.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[1], ta.grad.numpy(), rtol=1e-4, atol=1e-6)
    if diff[1]:
        np.testing.assert_allclose(out[2], tb.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1000.0, -1000.0, 0.0]], np.float32)
    out = _graphc("cross_entropy", logits, np.array([1], np.int64))
    assert np.isfinite(out[0]) and abs(float(out[0]) - 2000.0) < 1e-2
    assert np.all(np.isfinite(out[1]))
