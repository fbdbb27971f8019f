"""What a pass tells `--explain`: one line per rewrite, naming the spec layers involved."""

from __future__ import annotations

from graphc.ir.graph import Node
from graphc.passes.rewrite import layers_of


class PassLog:
    """Collects the rewrite lines of one pass run."""

    def __init__(self, pass_name: str):
        self.pass_name = pass_name
        self.lines: list[str] = []

    def __call__(self, text: str, *nodes: Node) -> None:
        layers = layers_of(nodes)
        where = ""
        if len(layers) == 1:
            where = f" (layer {layers[0]})"
        elif layers:
            where = f" (layers {', '.join(layers)})"
        self.lines.append(f"{self.pass_name}: {text}{where}")
