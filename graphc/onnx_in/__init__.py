"""ONNX as a front end: `import_model(path)` -> a checked graphc IR graph (see importer.py)."""

from __future__ import annotations
from graphc.onnx_in.importer import import_model as _import


def import_model(source, name: str | None = None):
    """A checked graphc IR graph of an ONNX model (a path or a ModelProto)."""

    return _import(source, name)


__all__ = ["import_model"]
