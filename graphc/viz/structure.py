"""The layer tree of a graph (blocks and their copies) and the folding of repeated structure.

`layer_tree` rebuilds the nesting the spec wrote (blocks, repeated copies, models used as
layers) from `graph.layers`; `fold_runs` finds runs of identical consecutive layers (or of a
repeated pattern of up to 8 layers) so that a 10,000-layer spec draws as a handful of boxes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from graphc.ir.graph import Graph, LayerInfo


@dataclass
class Item:
    """A spec layer, or a block use holding one list of items per copy."""

    kind: str  # "layer" or "block"
    name: str
    info: LayerInfo
    copies: list[list["Item"]] = field(default_factory=list)

    def layer_names(self) -> Iterator[str]:
        """Every leaf layer name under this item, in spec order."""
        todo = [self]
        while todo:  # depth first, in spec order: an explicit stack, blocks nest at any depth
            item = todo.pop()
            if item.kind == "layer":
                yield item.name
            else:
                todo.extend(reversed([inner for copy in item.copies for inner in copy]))


@dataclass
class Run:
    """`count` consecutive copies of the same window of items (drawn once, marked `xcount`)."""

    copies: list[list[Item]]

    @property
    def count(self) -> int:
        return len(self.copies)


def layer_tree(graph: Graph) -> list[Item]:
    """Top-level items of the graph in spec order, blocks nesting their inner layers."""
    blocks = {info.name: info for info in graph.layers if info.block is not None}
    groups: dict[str, Item] = {}
    root: list[Item] = []

    def enclosing(name: str) -> tuple[str, int] | None:
        """The innermost block use holding `name`, and the copy of it `name` is in."""
        parts = name.split(".")
        for i in range(len(parts) - 1, 0, -1):
            prefix = ".".join(parts[:i])
            if prefix in blocks:
                rest = parts[i]
                return prefix, int(rest) if blocks[prefix].repeat is not None and rest.isdigit() else 0
        return None

    def container(name: str) -> list[Item]:
        """The item list `name` goes in, making the block groups around it that are missing."""
        chain = []  # (block use, copy) from the innermost out, up to one already made
        while (up := enclosing(name)) is not None:
            chain.append(up)
            if up[0] in groups:
                break
            name = up[0]
        target = root
        for prefix, copy in reversed(chain):
            if prefix not in groups:
                groups[prefix] = Item("block", prefix, blocks[prefix])
                target.append(groups[prefix])
            group = groups[prefix]
            while len(group.copies) <= copy:
                group.copies.append([])
            target = group.copies[copy]
        return target

    def group_of(name: str) -> Item:
        if name not in groups:
            groups[name] = Item("block", name, blocks[name])
            container(name).append(groups[name])
        return groups[name]

    for info in graph.layers:
        if info.name in blocks:
            group_of(info.name)
        else:
            container(info.name).append(Item("layer", info.name, info))
    return root


def layer_feeds(graph: Graph) -> dict[str, list[str]]:
    """layer name -> the layers (or `input:<name>`) its nodes read from, in first-use order."""
    feeds: dict[str, dict[str, None]] = {}
    for node in graph.nodes:
        into = feeds.setdefault(node.layer, {})
        for v in node.inputs:
            if v.kind == "input":
                into[f"input:{v.name}"] = None
            elif v.kind == "node" and v.producer is not None and v.producer.layer != node.layer:
                into[v.producer.layer] = None
    return {k: list(v) for k, v in feeds.items()}


def fold_runs(items: list[Item], feeds: dict[str, list[str]], out_types: dict[str, str],
              min_copies: int = 3, min_layers: int = 6, max_period: int = 8) -> list[Item | Run]:
    """Replace runs of >= min_copies identical windows (>= min_layers layers in all) by a Run.

    Two layers are identical when they have the same op, attributes, output shapes and
    connections (as offsets within the list), so only truly repeated structure is folded.
    """
    index: dict[str, int] = {}
    for i, item in enumerate(items):
        for name in item.layer_names():
            index[name] = i
    sigs: list[tuple | None] = []
    for i, item in enumerate(items):
        if item.kind != "layer":
            sigs.append(None)
            continue
        links = tuple(i - index[p] if p in index else p for p in feeds.get(item.name, []))
        attrs = repr(sorted(item.info.attrs.items(), key=lambda kv: kv[0]))
        outs = tuple(out_types.get(o, "?") for o in item.info.outputs)
        sigs.append((item.info.op, attrs, outs, links))
    result: list[Item | Run] = []
    i, n = 0, len(items)
    while i < n:
        best = (0, 0, 0)  # layers covered, period, copies
        for p in range(1, max_period + 1):
            window = sigs[i:i + p]
            if len(window) < p or any(s is None for s in window):
                break
            k = 1
            while i + (k + 1) * p <= n and sigs[i + k * p:i + (k + 1) * p] == window:
                k += 1
            if k >= min_copies and k * p >= min_layers and k * p > best[0]:
                best = (k * p, p, k)
        if best[0]:
            _, p, k = best
            result.append(Run([items[i + c * p:i + (c + 1) * p] for c in range(k)]))
            i += k * p
        else:
            result.append(items[i])
            i += 1
    return result
