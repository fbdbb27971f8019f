"""Graphviz views of a graph: layer view, op view, gradient view, before/after passes.

`to_dot(graph, level="layer")` gives DOT source (deterministic); `render(dot, path)` writes
svg/png/pdf/dot atomically (falling back to the .dot file when Graphviz is missing). The
interactive page is graphc.viewer.
"""

from graphc.viz.render import render, svg_text
from graphc.viz.views import ViewOptions, to_dot

__all__ = ["ViewOptions", "render", "svg_text", "to_dot"]
