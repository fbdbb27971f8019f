"""The data behind the interactive page (`graphc viz -o model.html`): a tree of drawable items
(inputs, blocks, repeated copies, folded runs, chunks, layers, ops, outputs), the edges between
the leaves, and the details the side panel shows for each layer and op.

The page (graphc/viewer/page/app.js) draws the items whose ancestors are expanded, lays them out
with Graphviz (compiled to WebAssembly) and maps every edge onto the nearest drawn item.
Long lists are split into nested chunks of at most `CHUNK` items, so no expansion ever draws
more than a few dozen boxes, whatever the size of the model.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from graphc.ir.graph import Graph, Node, Value
from graphc.viz.structure import Item, Run, fold_runs, layer_feeds, layer_tree
from graphc.viz.style import family_color, family_of, shape_label
from graphc.summary import node_cost
import onnx
from graphc.passes import optimize
from graphc.autodiff import grad_graph
from graphc.util.walk import rebuild

CHUNK = 40  # most items one expanded group (or the top level) shows
VIEW_NODE_LIMIT = 5000  # graphs with more nodes get only the layer view (gradient / passes views are 5x bigger)


@dataclass
class _Tree:
    """Items in parent-first order: [parent, kind, name, label, color, flags]."""

    items: list[list] = field(default_factory=list)
    details: dict[int, dict] = field(default_factory=dict)
    layer_item: dict[str, int] = field(default_factory=dict)  # layer name -> item
    node_item: dict[int, int] = field(default_factory=dict)  # id(node) -> item drawn for it
    input_item: dict[str, int] = field(default_factory=dict)

    def add(self, parent: int, kind: str, name: str, label: str, color: str = "", **flags) -> int:
        self.items.append([parent, kind, name, label, color, flags or 0])
        return len(self.items) - 1


class _Sources:
    """Spec text per location, read once per file."""

    def __init__(self):
        self.files: dict[str, list[str] | None] = {}

    def text(self, file: str, line: int) -> str:
        if file not in self.files:
            try:
                with open(file, encoding="utf-8") as f:
                    self.files[file] = f.read().splitlines()
            except OSError:
                self.files[file] = None
        lines = self.files[file]
        if not lines or not 0 < line <= len(lines):
            return ""
        first = lines[line - 1]
        indent = len(first) - len(first.lstrip(" -"))  # the column of the layer's op key
        out = [first]
        for text in lines[line:line + 40]:
            stripped = text.strip()
            if stripped and (len(text) - len(text.lstrip(" ")) < indent or stripped.startswith("- ")
                             and len(text) - len(text.lstrip(" ")) < indent + 1):
                break
            out.append(text)
        while out and not out[-1].strip():
            out.pop()
        return "\n".join(out)


def _fmt(value) -> str:
    """An attribute value as the page shows it: floats with %g, lists in brackets, at any depth."""
    def split(v):
        return (list(v), lambda done: "[" + ", ".join(done) + "]") if isinstance(v, (list, tuple)) else None
    return rebuild(value, split, lambda v: f"{v:g}" if isinstance(v, float) else str(v))


class _Builder:
    def __init__(self, graph: Graph, onnx_info: dict | None):
        self.g = graph
        self.t = _Tree()
        self.onnx = onnx_info
        self.cost = node_cost
        self.src = _Sources()
        self.feeds = layer_feeds(graph)
        self.types = {v.name: shape_label(v.type) for v in graph.values()}
        self.values = {v.name: v for v in graph.values()}
        self.infos = {info.name: info for info in graph.layers}
        self.fwd: dict[str, list[Node]] = {}
        self.bwd: dict[str, list[Node]] = {}
        self.out_items: list[tuple[int, Value]] = []
        self.type_text: dict = {}
        self.removed: set[str] = set()
        for node in graph.nodes:
            table = self.bwd if node.role == "backward" else self.fwd
            table.setdefault(node.layer, []).append(node)

    # -- tree -------------------------------------------------------------------------------
    def build(self, removed: set[str] | None = None) -> _Tree:
        t = self.t
        self.removed = removed or set()
        read = {id(v) for node in self.g.nodes for v in node.inputs}
        for v in self.g.inputs:
            i = t.add(-1, "input", v.name, f"{v.name}\n{shape_label(v.type)}",
                      **({"unused": 1} if id(v) not in read else {}))
            t.input_item[v.name] = i
            t.details[i] = {"kind": "input", "outputs": [[v.name, str(v.type)]], "search": ""}
        self.place(layer_tree(self.g), -1)
        loose = [name for name in self.fwd if name not in t.layer_item]
        for name in loose:
            self.layer(name, None, -1)
        if self.bwd:
            self.backward()
        for v in self.g.outputs:
            if v.name.startswith("grad."):
                continue
            i = t.add(-1, "output", f"output:{v.name}", f"{v.name}\n{shape_label(v.type)}")
            t.details[i] = {"kind": "output", "inputs": [[v.name, str(v.type)]]}
            self.out_items.append((i, v))
        return t

    def place(self, items: list[Item], parent: int) -> None:
        self.chunked(self.entries(items), parent, self.place_one)

    def entries(self, items: list[Item]) -> list[tuple[str, object]]:
        """The items with runs of identical layers folded, each as (kind, item or run)."""
        return [("run" if isinstance(entry, Run) else entry.kind, entry)
                for entry in fold_runs(items, self.feeds, self.types)]

    def chunked(self, entries: list, parent: int, put) -> None:
        """Put `entries` under `parent`, in nested chunk groups when there are more than CHUNK.

        `put(entry, parent)` places one entry and returns the entry lists it opens, as
        `("chunk", entries, group)`: they are put the same way, depth first, before the entries
        after it. An explicit stack, so that blocks may nest as deep as a spec writes them."""
        todo: list[tuple[str, object, int]] = [("chunk", entries, parent)]
        while todo:
            task, obj, parent = todo.pop()
            more: list = []
            if task == "put":
                more = put(obj, parent) or []
            elif task == "group":  # a chunk of several entries: its group box, then its entries
                first, last = self.first_last(obj[0]), self.first_last(obj[-1])
                n = sum(self.count(e) for e in obj)
                gid = self.t.add(parent, "group", f"{first[0]}..{last[1]}",
                                 f"{first[0]} ... {last[1]}\n{n:,} layers", family_color("block"), chunk=1)
                self.t.details[gid] = {"kind": "chunk", "layers": n}
                more = [("chunk", obj, gid)]
            elif len(obj) <= CHUNK:
                more = [("put", entry, parent) for entry in obj]
            else:
                size = CHUNK ** max(1, math.ceil(math.log(len(obj), CHUNK)) - 1)
                for start in range(0, len(obj), size):
                    part = obj[start:start + size]
                    more.append(("put", part[0], parent) if len(part) == 1 else ("group", part, parent))
            todo.extend(reversed(more))

    def first_last(self, entry) -> tuple[str, str]:
        names = self.names(entry)
        return (names[0], names[-1]) if names else ("?", "?")

    def names(self, entry) -> list[str]:
        kind, obj = entry
        if kind == "run":
            return [n for copy in obj.copies for item in copy for n in item.layer_names()]
        if kind in ("layer", "block"):
            return list(obj.layer_names())
        if kind == "copy":
            return [n for item in obj[1] for n in item.layer_names()]
        return [obj] if isinstance(obj, str) else []

    def count(self, entry) -> int:
        return max(1, len(self.names(entry)))

    def params_of(self, names) -> int:
        total = 0
        for name in names:
            info = self.infos.get(name)
            for p in (info.params if info else []):
                value = self.g.params.get(p)
                if value is not None and value.data is not None:
                    total += int(value.data.size)
        return total

    def place_one(self, entry, parent: int) -> list:
        """Place one entry; returns the entry lists it opens (see `chunked`)."""
        kind, obj = entry
        t = self.t
        if kind == "layer":
            self.layer(obj.name, obj.info, parent)
            return []
        if kind == "run":
            names = self.names(entry)
            period = len(obj.copies[0])
            gid = t.add(parent, "group", f"{names[0]}..{names[-1]}",
                        f"x{obj.count:,}   {names[0]} ... {names[-1]}\n"
                        + (f"{period}-layer pattern, " if period > 1 else "identical layers, ")
                        + f"{self.params_of(names):,} params", family_color("block"), run=obj.count)
            t.details[gid] = {"kind": "folded run", "copies": obj.count, "layers": len(names),
                              "params": self.params_of(names)}
            if period == 1:
                return [("chunk", [("layer", copy[0]) for copy in obj.copies], gid)]
            return [("chunk", [("copy", (None, copy)) for copy in obj.copies], gid)]
        if kind == "copy":
            name, items = obj
            names = [n for item in items for n in item.layer_names()]
            label = name or f"{names[0]} ... {names[-1]}"
            nparams = self.params_of(names)
            gid = t.add(parent, "group", name or f"{names[0]}..{names[-1]}",
                        f"{label}\n{len(names)} layers" + (f", {nparams:,} params" if nparams else ""),
                        family_color("block"))
            t.details[gid] = {"kind": "copy", "layers": len(names), "params": self.params_of(names)}
            return [("chunk", self.entries(items), gid)]
        info = obj.info  # a block use
        names = list(obj.layer_names())
        nparams = self.params_of(names)
        rep = f"  x{info.repeat}" if info.repeat else ""
        gid = t.add(parent, "group", obj.name, f"{obj.name}: {info.block}{rep}\n{len(names):,} layers"
                    + (f", {nparams:,} params" if nparams else ""), family_color("block"), block=1)
        t.details[gid] = {"kind": "block", "op": info.block, "repeat": info.repeat, "layers": len(names),
                          "params": nparams, **self.loc(info.loc)}
        t.layer_item[obj.name] = gid
        if info.repeat:
            return [("chunk", [("copy", (f"{obj.name}.{c}", copy)) for c, copy in enumerate(obj.copies)], gid)]
        return [("chunk", self.entries(obj.copies[0] if obj.copies else []), gid)]

    def loc(self, loc) -> dict:
        if loc is None:
            return {}
        return {"loc": f"{loc.file}:{loc.line}", "col": loc.col, "text": self.src.text(loc.file, loc.line)}

    def layer(self, name: str, info, parent: int) -> None:
        t = self.t
        nodes = self.fwd.get(name, [])
        op = info.op if info else ", ".join(dict.fromkeys(n.op for n in nodes)) or "?"
        attrs = info.attrs if info else {}
        shown = name.rsplit(".", 1)[-1] if "." in name else name
        text = " ".join(_fmt(v) if k == "activation" else f"{k}={_fmt(v)}" for k, v in attrs.items())
        label = f"{shown}\n{op}  {text}".rstrip()
        if len(label) > 60:
            label = label[:59] + "…"
        params = []  # the parameters the layer's nodes read (after passes: the rewritten ones)
        names = dict.fromkeys([v.name for n in nodes for v in n.inputs if v.kind == "param"]
                              or (info.params if info else []))
        for p in names:
            v = self.g.params.get(p)
            if v is not None:
                params.append([p, self.tstr(v), int(v.data.size) if v.data is not None else 0])
        count = sum(p[2] for p in params)
        if count:
            label += f"\n{count:,} params"
        flags = {}
        if name in self.removed:
            flags["removed"] = 1
        if any(n.sources for n in nodes):
            flags["fused"] = 1
        lid = t.add(parent, "layer", name, label, family_color(family_of(op.split(",")[0])), **flags)
        t.layer_item[name] = lid
        outs = info.outputs if info else [v.name for n in nodes[-1:] for v in n.outputs]
        ins = list(dict.fromkeys(v.name for n in nodes for v in n.inputs  # what the layer reads from outside it
                                 if v.kind == "input" or v.kind == "node" and v.producer.layer != name))
        macs = flops = 0
        for n in nodes:
            m, f, _ = self.cost(n)
            macs, flops = macs + m, flops + f
        d = {"kind": "layer", "op": op, "attrs": {k: _fmt(v) for k, v in attrs.items()},
             "inputs": [[i, self.tstr(self.values[i]) if i in self.values else "?"] for i in ins],
             "outputs": [[o, self.tstr(self.values[o])] for o in outs if o in self.values],
             "params": params, "macs": macs, "flops": flops,
             "ops": [[n.name, n.op, " ".join(f"{k}={_fmt(v)}" for k, v in n.attrs.items())] for n in nodes],
             **self.loc(info.loc if info else (nodes[0].loc if nodes else None))}
        if name in self.removed:
            d["removed"] = "every node of this layer was removed by the passes"
        fused = sorted({s for n in nodes for s in n.sources})
        if fused:
            d["fused"] = fused
        if self.onnx is not None and name in self.onnx:
            d["onnx"] = self.onnx[name]
        d["search"] = " ".join([op] + [p[0] for p in params] + [n.op for n in nodes]).lower()
        t.details[lid] = d
        if len(nodes) > 1:
            for n in nodes:
                self.op_item(n, lid)
        elif nodes:
            t.node_item[id(nodes[0])] = lid

    def op_item(self, n: Node, parent: int, backward: bool = False) -> int:
        """An op node; its details are one compact row (the page expands it)."""
        t = self.t
        attrs = " ".join(f"{k}={_fmt(v)}" for k, v in n.attrs.items())
        label = n.op + (f"\n{attrs[:40]}" if attrs else "")
        flags = {"backward": 1} if backward else {}
        if n.sources:
            flags["fused"] = 1
        oid = t.add(parent, "op", n.name, label, family_color(family_of(n.op)), **flags)
        macs, flops, _ = self.cost(n)
        params = [[p.name, self.tstr(p), int(p.data.size) if p.data is not None else 0]
                  for p in n.inputs if p.kind == "param"]
        t.details[oid] = [n.op, [[k, _fmt(v)] for k, v in n.attrs.items()], [[v.name, self.tstr(v)] for v in n.inputs if v.kind != "param"],
                          [[v.name, self.tstr(v)] for v in n.outputs], params, macs, flops,
                          list(n.sources)]
        t.node_item[id(n)] = oid
        return oid

    def tstr(self, v: Value) -> str:
        """The type as the CLI prints it, `[N, 64]` (cached: types repeat)."""
        text = self.type_text.get(v.type)
        if text is None:
            text = self.type_text[v.type] = str(v.type)
        return text

    def backward(self) -> None:
        t = self.t
        total = sum(len(v) for v in self.bwd.values())
        gid = t.add(-1, "group", "backward", f"backward (gradient) graph\n{total:,} ops", "#ffffff", backward=1)
        t.details[gid] = {"kind": "backward graph", "ops": total}

        def put(entry, parent: int) -> None:
            _, layer = entry
            nodes = self.bwd[layer]
            lid = t.add(parent, "group", f"d {layer}", f"d {layer}\n{len(nodes)} ops", "#ffffff", backward=1)
            t.details[lid] = {"kind": "gradient of layer", "layer": layer, "ops": len(nodes)}
            for n in nodes:
                self.op_item(n, lid, backward=True)

        self.chunked([("grad", layer) for layer in self.bwd], gid, put)

    # -- edges ------------------------------------------------------------------------------
    def edges(self) -> list[list]:
        """[src item, dst item, label] between the leaves, in graph order, without repeats."""
        t = self.t
        out, seen = [], set()

        def source(v: Value) -> int | None:
            if v.kind == "input":
                return t.input_item.get(v.name)
            if v.kind == "node" and v.producer is not None:
                return t.node_item.get(id(v.producer))
            return None

        for n in self.g.nodes:
            dst = t.node_item.get(id(n))
            if dst is None:
                continue
            for v in n.inputs:
                src = source(v)
                if src is None or src == dst or (src, dst) in seen:
                    continue
                seen.add((src, dst))
                out.append([src, dst, shape_label(v.type)])
        for i, v in self.out_items:
            src = source(v)
            if src is not None:
                out.append([src, i, shape_label(v.type)])
        return out


def view_data(graph: Graph, onnx_info: dict | None = None, removed: set[str] | None = None) -> dict:
    """One view of a graph for the page: {items, edges, details}."""
    b = _Builder(graph, onnx_info)
    tree = b.build(removed)
    return {"items": tree.items, "edges": b.edges(), "details": {str(k): v for k, v in tree.details.items()}}


def onnx_details(path: str, graph: Graph) -> dict:
    """layer name -> {name, domain, opset} for a graph imported from the ONNX file at `path`."""

    model = onnx.load(path, load_external_data=False)
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    layers = {info.name for info in graph.layers}
    details: dict[str, dict] = {}
    for n in model.graph.node:  # a layer shows the first ONNX node of its scope
        layer = _layer_of(n.name, layers)
        if layer is not None and layer not in details:
            details[layer] = {"name": n.name or "(unnamed)", "op_type": n.op_type, "domain": n.domain or "ai.onnx",
                              "opset": opsets.get(n.domain or "ai.onnx")}
    return details


def _layer_of(node_name: str, layers: set[str]) -> str | None:
    """The layer an ONNX node was imported into: its name, or the longest scope prefix of it
    (`hidden/gemm` -> `hidden`, `/layer1/layer1.0/conv1/Conv` -> `layer1.0.conv1`)."""
    parts = [p for p in node_name.replace("/", ".").split(".") if p]
    for end in range(len(parts), 0, -1):
        for candidate in (".".join(parts[:end]), ".".join(parts[max(0, end - 1):end])):
            if candidate in layers:
                return candidate
    return None


def page_data(graph: Graph, source: str, views: tuple[str, ...] = ("grad", "passes"), rankdir: str = "TB") -> dict:
    """Everything the page needs: the layer view, and the gradient and after-passes views."""
    onnx_file = graph.metadata.get("imported_from") == "onnx"
    onnx_info = onnx_details(source, graph) if onnx_file and os.path.exists(source) else None
    data = {"title": graph.name, "source": source, "rankdir": rankdir, "onnx": onnx_file,
            "params": graph.param_count(), "layers": len(graph.layers), "notes": [],
            "views": {"layer": view_data(graph, onnx_info)}}
    if onnx_file:
        data["notes"].append("gradient and passes views need a spec (this graph was read from an ONNX file)")
        return data
    if views and len(graph.nodes) > VIEW_NODE_LIMIT:
        data["notes"].append(f"gradient and passes views left out: {len(graph.nodes):,} nodes is over {VIEW_NODE_LIMIT:,} "
                             "(graphc viz --level grad / --passes draws them as pictures)")
        return data
    if "grad" in views:
        data["views"]["grad"] = view_data(grad_graph(graph, wrt="params"))
    if "passes" in views:
        before = graph.clone()
        before.prune()
        explain: list[str] = []
        after = optimize(before.clone(), level=2, explain=explain)
        kept = {n.layer for n in after.nodes}
        removed = {info.name for info in graph.layers if info.block is None and info.name not in kept}
        data["views"]["passes"] = view_data(after, removed=removed)
        data["explain"] = explain[:400]
    return data
