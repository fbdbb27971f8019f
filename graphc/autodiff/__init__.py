"""Symbolic reverse-mode differentiation: gradients are graphs of the same IR.

The reverse-mode loop is graphc/ir/reverse.py (below the ops, given an op table); graph.py binds
it to graphc's registry (`gradients`) and builds gradient models (`grad_graph`).
"""

from graphc.autodiff.graph import GRAD_PREFIX, grad_graph, gradients, resolve_wrt

__all__ = ["GRAD_PREFIX", "grad_graph", "gradients", "resolve_wrt"]
