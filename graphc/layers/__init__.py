"""Spec layers: composite layers (dense, conv2d, ...) and every public op usable as a layer."""

from graphc.layers.base import LAYERS, LayerCtx, LayerDef, activation, layer
from graphc.layers import core  # noqa: F401  (registration)
from graphc.layers import sequence  # noqa: F401  (registration)

__all__ = ["LAYERS", "LayerCtx", "LayerDef", "activation", "layer"]


def __getattr__(name: str):
    """The functional API: `graphc.layers.dense(x, 64)` and every layer/public op (graphc.functional)."""
    if name.startswith("_"):
        raise AttributeError(name)
    from graphc.functional.layers import layer_function

    fn = layer_function(name)
    globals()[name] = fn
    return fn


def __dir__() -> list[str]:
    from graphc.functional.layers import public_names

    return sorted(set(globals()) | set(public_names()))
