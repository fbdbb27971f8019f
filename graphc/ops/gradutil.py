"""Helpers shared by gradient rules."""

from __future__ import annotations


def unbroadcast(b, g, x):
    """Sum cotangent `g` over the axes along which `x` was broadcast, giving x's shape."""
    if g is None:
        return None
    if tuple(g.shape) == tuple(x.shape):
        return g
    lead = len(g.shape) - len(x.shape)
    if lead:
        g = b.sum(g, axis=list(range(lead)), keepdims=False)
    axes = [i for i, (gd, xd) in enumerate(zip(g.shape, x.shape)) if xd == 1 and gd != 1]
    if axes:
        g = b.sum(g, axis=axes, keepdims=True)
    return g
