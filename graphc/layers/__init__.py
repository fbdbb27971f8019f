"""Spec layers: composite layers (dense, conv2d, ...) and every public op usable as a layer."""

from graphc.layers.base import LAYERS, LayerCtx, LayerDef, activation, layer
from graphc.layers import core  # noqa: F401  (registration)
from graphc.layers import sequence  # noqa: F401  (registration)

__all__ = ["LAYERS", "LayerCtx", "LayerDef", "activation", "layer"]

