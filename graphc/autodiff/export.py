"""`graphc grad`: write the gradient graph of a model as ONNX (atomically)."""

from __future__ import annotations


def export_grad(model, path: str, wrt="params", loss: str | None = None, opt_level: int = 2,
                opset: int | None = None, target: str = "portable") -> str:
    """Export `model.grad(wrt, loss)` to `path` (ONNX `opset`, `target` as Model.export); returns the path."""
    return model.grad(wrt=wrt, loss=loss).export(path, opt_level=opt_level, opset=opset, target=target)
