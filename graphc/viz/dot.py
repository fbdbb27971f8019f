"""A tiny, deterministic DOT writer: ids and attributes come out exactly in the order given."""

from __future__ import annotations


def quote(text: str) -> str:
    """A DOT double-quoted string; newlines become centered line breaks."""
    text = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"'


def _attrs(attrs: dict) -> str:
    parts = []
    for key, value in attrs.items():
        if value is None:
            continue
        if isinstance(value, str) and value.startswith("<") and value.endswith(">"):
            parts.append(f"{key}={value}")  # an HTML-like label
        else:
            parts.append(f"{key}={quote(value)}")
    return ", ".join(parts)


class Dot:
    """Collects DOT statements; `cluster()` opens a subgraph that `end()` closes."""

    def __init__(self, name: str, graph_attrs: dict, node_attrs: dict, edge_attrs: dict):
        self.name = name
        self.graph_attrs = dict(graph_attrs)  # may still change until text()
        self.lines = [f"  node [{_attrs(node_attrs)}];", f"  edge [{_attrs(edge_attrs)}];"]
        self.depth = 1
        self.n_nodes = 0
        self.n_edges = 0

    def _put(self, text: str) -> None:
        self.lines.append("  " * self.depth + text)

    def node(self, id_: str, **attrs) -> str:
        self._put(f"{id_} [{_attrs(attrs)}];")
        self.n_nodes += 1
        return id_

    def edge(self, src: str, dst: str, **attrs) -> None:
        self._put(f"{src} -> {dst}" + (f" [{_attrs(attrs)}]" if attrs else "") + ";")
        self.n_edges += 1

    def cluster(self, id_: str, **attrs) -> None:
        self._put(f"subgraph cluster_{id_} {{")
        self.depth += 1
        for key, value in attrs.items():
            if value is not None:
                self._put(f"{key}={value if str(value).startswith('<') else quote(value)};")

    def end(self) -> None:
        self.depth -= 1
        self._put("}")

    def text(self) -> str:
        head = [f"digraph {quote(self.name)} {{"]
        head += [f"  {k}={quote(v)};" for k, v in self.graph_attrs.items() if v is not None]
        return "\n".join(head + self.lines + ["}"]) + "\n"
