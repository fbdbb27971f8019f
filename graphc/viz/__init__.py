"""Graphviz views of a graph: layer view, op view, gradient view, before/after passes.

`to_dot(graph, level="layer")` gives DOT source (deterministic); `render(dot, path)` writes
svg/png/pdf/dot atomically (falling back to the .dot file when Graphviz is missing);
`write_html(graph, path, source)` writes the interactive viewer page (graphc/viz/html.py).
"""

from graphc.viz.html import model_page, write_html
from graphc.viz.render import render, svg_text
from graphc.viz.views import ViewOptions, to_dot

__all__ = ["ViewOptions", "model_page", "render", "svg_text", "to_dot", "write_html"]
