"""`graphc grad`: write the gradient graph of a model as ONNX (atomically)."""

from __future__ import annotations


def export_grad(model, path: str, wrt="params", loss: str | None = None, opt_level: int = 2) -> str:
    """Export `model.grad(wrt, loss)` to `path`; returns the path."""
    return model.grad(wrt=wrt, loss=loss).export(path, opt_level=opt_level)
