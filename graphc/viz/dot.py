"""DOT built with the `graphviz` package: ids and attributes come out exactly in the order given."""

from __future__ import annotations

import graphviz


def label_text(text) -> str:
    """Text for a DOT string: backslashes and quotes escaped, newlines as centered line breaks
    (graphviz quotes the result where DOT needs it; `<...>` stays an HTML-like label)."""
    text = str(text)
    if text.startswith("<") and text.endswith(">"):
        return text  # an HTML-like label, passed through as written
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _attrs(attrs: dict) -> dict[str, str]:
    return {key: label_text(value) for key, value in attrs.items() if value is not None}


class Dot:
    """Collects DOT statements; `cluster()` opens a subgraph that `end()` closes."""

    def __init__(self, name: str, graph_attrs: dict, node_attrs: dict, edge_attrs: dict):
        self.name = name
        self.graph_attrs = dict(graph_attrs)  # may still change until text()
        self._stack = [graphviz.Digraph(label_text(name), node_attr=_attrs(node_attrs), edge_attr=_attrs(edge_attrs))]
        self.n_nodes = 0
        self.n_edges = 0

    def node(self, id_: str, **attrs) -> str:
        self._stack[-1].node(id_, **_attrs(attrs))
        self.n_nodes += 1
        return id_

    def edge(self, src: str, dst: str, **attrs) -> None:
        self._stack[-1].edge(src, dst, **_attrs(attrs))
        self.n_edges += 1

    def cluster(self, id_: str, **attrs) -> None:
        self._stack.append(graphviz.Digraph(f"cluster_{id_}", graph_attr=_attrs(attrs)))

    def end(self) -> None:
        inner = self._stack.pop()
        self._stack[-1].subgraph(inner)

    def text(self) -> str:
        top = self._stack[0]
        top.graph_attr.update(_attrs(self.graph_attrs))
        return top.source
