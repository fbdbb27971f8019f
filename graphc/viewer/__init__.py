"""The interactive viewer: one self-contained HTML page per model (`graphc viz -o model.html`)
and `graphc serve`, built on the views of graphc.viz and the costs of graphc.summary.

`write_html(graph, path, source)` writes the page (graphc/viewer/html.py).
"""

from graphc.viewer.html import model_page, write_html

__all__ = ["model_page", "write_html"]
