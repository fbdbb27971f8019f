"""Symbolic reverse-mode differentiation: gradients are graphs of the same IR."""

from graphc.autodiff.graph import GRAD_PREFIX, grad_graph, resolve_wrt
from graphc.autodiff.reverse import gradients

__all__ = ["GRAD_PREFIX", "grad_graph", "gradients", "resolve_wrt"]
