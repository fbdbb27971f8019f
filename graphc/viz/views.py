"""Graph -> DOT: the layer view, the op view, the gradient view and the before/after-passes view.

Every view walks the layer tree (blocks as clusters). Unless `expand` is set, repeated blocks
and runs of identical consecutive layers are drawn once, in a cluster marked `x6`; every
hidden layer is mapped to the box that stands for it, so edges still connect. Ids are
sequential in graph order, so the same graph always gives the same DOT text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphc.autodiff import grad_graph
from graphc.errors import GraphcError
from graphc.ir.graph import Graph, Node, Value
from graphc.ops import OPS
from graphc.passes import optimize
from graphc.viz.dot import Dot
from graphc.viz.structure import Item, Run, fold_runs, layer_feeds, layer_tree
from graphc.util.walk import rebuild
from graphc.viz.style import (BACKWARD_COLOR, COLLAPSED_STYLE, INPUT_STYLE, OUTPUT_STYLE, PARAM_STYLE,
                              family_color, family_of, legend_label, shape_label, short)

LEVELS = ("layer", "op", "grad")


@dataclass
class ViewOptions:
    """What to draw: `level` layer|op|grad; `depth`: blocks nested deeper are one box each."""

    level: str = "layer"
    depth: int | None = None
    expand: bool = False
    rankdir: str = "TB"
    legend: bool = True
    max_items: int = 80  # items drawn per list (after folding); the middle of longer lists is elided


@dataclass
class View:
    dot: str
    notes: list[str] = field(default_factory=list)  # what was folded or collapsed


def fmt_value(v) -> str:
    """An attribute value as a label shows it: floats with %g, lists in brackets, at any depth."""
    def split(x):
        return (list(x), lambda done: "[" + ", ".join(done) + "]") if isinstance(x, (list, tuple)) else None
    return rebuild(v, split, lambda x: f"{x:g}" if isinstance(x, float) else str(x))


def layer_attrs_text(attrs: dict) -> str:
    """The attributes the spec gave, `filters=32 kernel=3 relu` (an activation by its name)."""
    parts = []
    for key, value in attrs.items():
        parts.append(fmt_value(value) if key == "activation" else f"{key}={fmt_value(value)}")
    return " ".join(parts)


def op_attrs_text(node: Node) -> str:
    """The attributes of a primitive node that differ from the op's defaults."""
    defaults = OPS[node.op].attrs if node.op in OPS else {}
    return " ".join(f"{k}={fmt_value(v)}" for k, v in node.attrs.items()
                    if k not in defaults or defaults[k] != v)


class _Drawer:
    """Draws one graph into `dot` (ids prefixed with `prefix`, so two graphs can share a file)."""

    def __init__(self, graph: Graph, opts: ViewOptions, dot: Dot, prefix: str = ""):
        self.g, self.o, self.dot, self.prefix = graph, opts, dot, prefix
        self.op_level = opts.level in ("op", "grad")
        self.types = {v.name: shape_label(v.type) for v in graph.values()}
        self.feeds = layer_feeds(graph)
        self.infos = {info.name: info for info in graph.layers}
        self.sizes = {name: int(p.data.size) if p.data is not None else 0 for name, p in graph.params.items()}
        self.fwd: dict[str, list[Node]] = {}
        self.bwd: dict[str, list[Node]] = {}
        self.index: dict[int, int] = {}
        for node in graph.nodes:
            table = self.bwd if getattr(node, "role", "forward") == "backward" else self.fwd
            nodes = table.setdefault(node.layer, [])
            self.index[id(node)] = len(nodes)
            nodes.append(node)
        self.owner: dict[str, tuple[list[str], dict]] = {}  # layer -> (ids per node, fold path)
        self.bw_owner: dict[str, tuple[list[str], dict]] = {}
        self.aliases: list[tuple[str, str, str, int]] = []  # (layer, stands-for layer, fold, copy)
        self.params_at: dict[tuple[str, int], str] = {}  # (node id, input slot) -> its parameter's node
        self.param_node: dict[int, str] = {}  # id(parameter) -> the first node drawn for it
        self.inputs: dict[str, str] = {}
        self.families: dict[str, None] = {}
        self.kinds: dict[str, None] = {}
        self.notes: list[str] = []
        self.k = 0
        self._ref_key: tuple = ()
        self._refs: list[str] = []

    def new_id(self, kind: str = "n") -> str:
        self.k += 1
        return f"{self.prefix}{kind}{self.k}"

    # -- placement ----------------------------------------------------------------------
    def draw(self) -> None:
        read = {id(v) for node in self.g.nodes for v in node.inputs}
        for v in self.g.inputs:
            style = dict(INPUT_STYLE)
            label = f"{v.name}\n{shape_label(v.type)}"
            if id(v) not in read:  # e.g. a label input only the training section uses
                style["style"] = "filled,dashed"
                label += "\n(not read by any layer)"
            self.inputs[v.name] = self.dot.node(self.new_id("in"), label=label, **style)
            self.kinds["input"] = None
        self.place(layer_tree(self.g), 0, {})
        self.place_loose()
        self.place_backward()
        self.connect()
        self.place_outputs()

    def place_outputs(self) -> None:
        """One node per output; outputs of folded copies share their drawn copy's node."""
        hidden = {n for name, rname, _, _ in self.aliases for n in (name, rname)}  # layers of folded copies
        groups: dict[tuple, list[Value]] = {}
        for v in self.g.outputs:
            src = self.source(v)
            folded = v.producer is not None and v.producer.layer in hidden
            key = (src[0] if src else None, shape_label(v.type), "" if folded or src is None else v.name)
            groups.setdefault(key if folded else key + (len(groups),), []).append(v)
        for (src, label, *_), vs in groups.items():
            more = f"\n(+{len(vs) - 1} more from folded copies)" if len(vs) > 1 else ""
            out = self.dot.node(self.new_id("out"), label=vs[0].name + more, **OUTPUT_STYLE)
            self.kinds["output"] = None
            if src is not None:
                self.dot.edge(src, out, label=label)

    def place(self, items: list[Item], depth: int, path: dict) -> None:
        """Draw the layer tree `items`: an explicit stack of tasks (blocks nest at any depth).

        A task is ("items", items, depth, path), ("one", entry, depth, path), or ("then", fn):
        `fn()` runs once the tasks before it are done (closing a cluster after its contents)."""
        todo: list[tuple] = [("items", items, depth, path)]
        while todo:
            task = todo.pop()
            if task[0] == "items":
                more = self.place_items(*task[1:])
            elif task[0] == "one":
                more = self.place_one(*task[1:])
            else:
                task[1]()
                more = []
            todo.extend(reversed(more))

    def place_items(self, items: list[Item], depth: int, path: dict) -> list[tuple]:
        seq: list[Item | Run] = items if self.o.expand else fold_runs(items, self.feeds, self.types)
        half = self.o.max_items // 2
        if self.o.expand or len(seq) <= self.o.max_items:
            head, middle, tail = seq, [], []
        else:
            head, middle, tail = seq[:half], seq[half:-half], seq[-half:]

        def skip() -> None:
            names = [n for entry in middle for n in _names(entry)]
            box = self.dot.node(self.new_id("skip"), label=f"... {len(names):,} layers not drawn ...\n"
                                f"{names[0]} ... {names[-1]}\n(--expand draws them)", **COLLAPSED_STYLE)
            self.kinds["collapsed"] = None
            for name in names:
                self.owner[name] = ([box], path)
            self.notes.append(f"elided {len(names):,} layers {names[0]} ... {names[-1]} (too many to draw)")
        return ([("one", entry, depth, path) for entry in head] + ([("then", skip)] if middle else [])
                + [("one", entry, depth, path) for entry in tail])

    def place_one(self, entry: Item | Run, depth: int, path: dict) -> list[tuple]:
        """Draw one entry now; returns the tasks that draw what it holds (see `place`)."""
        if isinstance(entry, Run):
            first, last = entry.copies[0][0].name, entry.copies[-1][-1].name
            fold = self.new_id("f")
            n = sum(len(c) for c in entry.copies)
            what = "identical layers" if len(entry.copies[0]) == 1 else f"layers ({len(entry.copies[0])}-layer pattern)"
            self.dot.cluster(fold, label=f"x{entry.count:,}   {first} ... {last}", style="dashed,rounded",
                             color="#666666", fontsize="11")

            def run_done() -> None:
                self.dot.end()
                for c, window in enumerate(entry.copies[1:], 1):
                    self.alias(window, entry.copies[0], fold, c)
                self.notes.append(f"collapsed {n:,} {what} {first} ... {last} into one x{entry.count:,} cluster")
            return [("items", entry.copies[0], depth, {**path, fold: 0}), ("then", run_done)]
        if entry.kind == "layer":
            self.place_layer(entry, path)
            return []
        info = entry.info
        repeat = info.repeat
        title = f"{entry.name}: {info.block}"
        nparams = sum(self.layer_params(n) for n in entry.layer_names())
        if self.o.depth is not None and depth >= self.o.depth:
            box = self.dot.node(self.new_id(), label=f"{title}" + (f"  x{repeat}" if repeat else "") +
                                f"\n{sum(1 for _ in entry.layer_names())} layers, {nparams:,} params",
                                **COLLAPSED_STYLE)
            self.kinds["collapsed"] = None
            for name in entry.layer_names():
                self.owner[name] = ([box], path)
            return []
        self.families["block"] = None
        if repeat and len(entry.copies) > 1 and not self.o.expand:
            fold = self.new_id("f")
            self.dot.cluster(fold, label=f"{title}   x{repeat}   ({nparams:,} params)", style="rounded,filled",
                             fillcolor=family_color("block"), color="#555555", penwidth="1.5")

            def fold_done() -> None:
                self.dot.end()
                for c, copy in enumerate(entry.copies[1:], 1):
                    self.alias(copy, entry.copies[0], fold, c)
                self.notes.append(f"folded {entry.name} ({info.block} x{repeat}): copy 0 drawn for all {repeat}")
            return [("items", entry.copies[0], depth + 1, {**path, fold: 0}), ("then", fold_done)]
        self.dot.cluster(self.new_id("c"), label=f"{title}   ({nparams:,} params)", style="rounded,filled",
                         fillcolor=family_color("block"), color="#555555")
        tasks: list[tuple] = []
        for c, copy in enumerate(entry.copies):
            if repeat:
                tasks.append(("then", lambda c=c: self.dot.cluster(self.new_id("c"), label=f"{entry.name}.{c}",
                                                                   style="rounded", color="#999999")))
            tasks.append(("items", copy, depth + 1, path))
            if repeat:
                tasks.append(("then", self.dot.end))
        return tasks + [("then", self.dot.end)]

    def alias(self, window: list[Item], ref: list[Item], fold: str, copy: int) -> None:
        """Map the layers of a hidden copy onto the boxes of the drawn one."""
        names = [n for item in window for n in item.layer_names()]
        if self._ref_key != (fold, id(ref)):
            self._ref_key, self._refs = (fold, id(ref)), [n for item in ref for n in item.layer_names()]
        refs = self._refs
        for name, rname in zip(names, refs):
            if rname not in self.owner:
                continue
            ids, rpath = self.owner[rname]
            self.owner[name] = (ids, {**rpath, fold: copy})
            self.aliases.append((name, rname, fold, copy))

    def layer_params(self, name: str) -> int:
        info = self.infos.get(name)
        return sum(self.sizes.get(p, 0) for p in (info.params if info else []))

    def place_layer(self, item: Item, path: dict) -> None:
        info = item.info
        family = family_of(info.op)
        self.families[family] = None
        nparams = self.layer_params(item.name)
        if not self.op_level:
            shown = item.name.rsplit(".", 1)[-1] if info.block is None and "." in item.name else item.name
            lines = [shown, short(f"{info.op}  {layer_attrs_text(info.attrs)}".strip())]
            if nparams:
                lines.append(f"{nparams:,} params")
            box = self.dot.node(self.new_id(), label="\n".join(lines), fillcolor=family_color(family))
            self.owner[item.name] = ([box], path)
            return
        nodes = self.fwd.get(item.name, [])
        if not nodes:  # a layer with no nodes left (optimized away): nothing to draw
            return
        self.dot.cluster(self.new_id("c"), label=short(f"{item.name}: {info.op}  {layer_attrs_text(info.attrs)}".rstrip()),
                         style="rounded", color=family_color(family), penwidth="2")
        ids = [self.op_node(node) for node in nodes]
        self.dot.end()
        self.owner[item.name] = (ids, path)

    def op_node(self, node: Node, backward: bool = False) -> str:
        family = family_of(node.op)
        self.families[family] = None
        attrs = op_attrs_text(node)
        label = node.op + (f"\n{short(attrs, 32)}" if attrs else "")
        style = {"color": BACKWARD_COLOR, "style": "rounded,filled,dashed", "fontcolor": BACKWARD_COLOR} \
            if backward else {}
        nid = self.dot.node(self.new_id(), label=label, fillcolor=family_color(family), **style)
        for slot, v in enumerate(node.inputs):
            if v.kind == "param" and not backward:
                if id(v) not in self.param_node:  # one node per parameter, in the cluster of its first use
                    pname = v.name.rsplit(".", 1)[-1]
                    self.param_node[id(v)] = self.dot.node(self.new_id("p"), label=f"{pname}\n{shape_label(v.type)}",
                                                           **PARAM_STYLE)
                    self.kinds["param"] = None
                self.params_at[(nid, slot)] = self.param_node[id(v)]
        return nid

    def place_loose(self) -> None:
        """Forward nodes whose layer is not in graph.layers (imported or rewritten graphs)."""
        for layer, nodes in self.fwd.items():
            if layer in self.owner:
                continue
            if self.op_level:
                self.dot.cluster(self.new_id("c"), label=layer or "(graph)", style="rounded", color="#999999")
                ids = [self.op_node(node) for node in nodes]
                self.dot.end()
            else:
                ops = ", ".join(dict.fromkeys(n.op for n in nodes))
                ids = [self.dot.node(self.new_id(), label=f"{layer or '(graph)'}\n{short(ops)}",
                                     fillcolor=family_color(family_of(nodes[0].op)))]
                self.families[family_of(nodes[0].op)] = None
            self.owner[layer] = (ids, {})

    def place_backward(self) -> None:
        if not self.bwd:
            return
        hidden = {name: (rname, fold, copy) for name, rname, fold, copy in self.aliases}
        self.dot.cluster(self.new_id("c"), label="backward (gradient) graph", style="dashed,rounded",
                         color=BACKWARD_COLOR, fontcolor=BACKWARD_COLOR, penwidth="2")
        for layer, nodes in self.bwd.items():
            if layer in hidden and hidden[layer][0] in self.bwd:
                continue
            self.dot.cluster(self.new_id("c"), label=f"d {layer or '(graph)'}", style="rounded", color=BACKWARD_COLOR)
            ids = [self.op_node(node, backward=True) for node in nodes]
            self.dot.end()
            self.bw_owner[layer] = (ids, dict(self.owner.get(layer, ([], {}))[1]))
        self.dot.end()
        for name, (rname, fold, copy) in hidden.items():
            if name in self.bwd and rname in self.bw_owner:
                ids, rpath = self.bw_owner[rname]
                self.bw_owner[name] = (ids, {**rpath, fold: copy})
        self.kinds["backward"] = None

    # -- edges --------------------------------------------------------------------------
    def locate(self, node: Node) -> tuple[str, dict] | None:
        table = self.bw_owner if getattr(node, "role", "forward") == "backward" else self.owner
        entry = table.get(node.layer)
        if entry is None:
            return None
        ids, path = entry
        return ids[min(self.index[id(node)], len(ids) - 1)], path

    def source(self, v: Value) -> tuple[str, dict] | None:
        if v.kind == "input":
            return (self.inputs[v.name], {}) if v.name in self.inputs else None
        if v.kind == "node" and v.producer is not None:
            return self.locate(v.producer)
        return None

    def connect(self) -> None:
        seen: set[tuple[str, str, str]] = set()
        for node in self.g.nodes:
            dst = self.locate(node)
            if dst is None:
                continue
            for slot, v in enumerate(node.inputs):
                label = shape_label(v.type)
                if v.kind == "param":
                    pid = self.params_at.get((dst[0], slot)) or self.param_node.get(id(v))
                    src = (pid, dst[1]) if pid else None
                else:
                    src = self.source(v)
                if src is None or src[0] == dst[0] or _crosses(src[1], dst[1]):
                    continue
                key = (src[0], dst[0], label)
                if key not in seen:
                    seen.add(key)
                    self.dot.edge(src[0], dst[0], label=label)

    def legend(self) -> None:
        kinds = {"input": INPUT_STYLE["fillcolor"], "output": OUTPUT_STYLE["fillcolor"],
                 "param": PARAM_STYLE["fillcolor"], "collapsed": COLLAPSED_STYLE["fillcolor"],
                 "backward": "#ffffff"}
        extra = [(k if k != "backward" else "backward (dashed red)", kinds[k]) for k in self.kinds]
        self.dot.node(f"{self.prefix}legend", shape="plaintext", style="",
                      label=legend_label(list(self.families), extra))


def _names(entry: Item | Run) -> list[str]:
    if isinstance(entry, Run):
        return [n for copy in entry.copies for item in copy for n in item.layer_names()]
    return list(entry.layer_names())


def _crosses(a: dict, b: dict) -> bool:
    """True for an edge between two different copies of one folded cluster (not drawn)."""
    return any(fold in b and b[fold] != copy for fold, copy in a.items())


def _new_dot(name: str, opts: ViewOptions) -> Dot:
    return Dot(name, {"rankdir": opts.rankdir, "fontname": "Helvetica", "labelloc": "t", "fontsize": "14",
                      "nodesep": "0.25", "ranksep": "0.35", "newrank": "true"},
               {"shape": "box", "style": "rounded,filled", "fontname": "Helvetica", "fontsize": "10",
                "fillcolor": "#ffffff", "color": "#444444"},
               {"fontname": "Helvetica", "fontsize": "8", "color": "#555555", "arrowsize": "0.6"})


def _title(graph: Graph) -> str:
    return f"{graph.name}: {len(graph.layers):,} layers, {graph.param_count():,} parameters"


def _notes_text(notes: list[str], expand: bool) -> str:
    if not notes:
        return ""
    shown = notes[:4] + ([f"and {len(notes) - 4} more"] if len(notes) > 4 else [])
    return "\n" + "\n".join(shown) + ("" if expand else "\n(--expand draws every layer)")


def build_view(graph: Graph, opts: ViewOptions | None = None, **kwargs) -> View:
    """DOT source of one view of `graph`, and notes on what was folded."""
    opts = opts or ViewOptions(**kwargs)
    if opts.level not in LEVELS:
        raise GraphcError(f"unknown view level '{opts.level}' (one of {', '.join(LEVELS)})")
    if opts.level == "grad":
        graph = grad_graph(graph, wrt="params")
    dot = _new_dot(graph.name, opts)
    drawer = _Drawer(graph, opts, dot)
    drawer.draw()
    if opts.legend:
        drawer.legend()
    dot.graph_attrs["label"] = _title(graph) + _notes_text(drawer.notes, opts.expand)
    return View(dot.text(), drawer.notes)


def build_passes_view(graph: Graph, opts: ViewOptions | None = None, level: int = 2) -> View:
    """Before and after `graphc.passes.optimize`, side by side (op view unless told otherwise)."""
    opts = opts or ViewOptions(level="op")
    before = graph.clone()
    before.prune()
    after = optimize(before.clone(), level=level)
    dot = _new_dot(graph.name, opts)
    notes: list[str] = []
    for tag, g in (("before", before), ("after", after)):
        dot.cluster(tag, label=f"{tag} optimization: {len(g.nodes)} nodes", style="rounded", color="#333333",
                    fontsize="13")
        drawer = _Drawer(g, opts, dot, prefix=f"{tag[0]}_")
        drawer.draw()
        dot.end()
        notes += drawer.notes
    if opts.legend:
        drawer.legend()
    dot.graph_attrs["label"] = f"{graph.name}: optimization level {level}" + _notes_text(notes, opts.expand)
    return View(dot.text(), notes)


def to_dot(graph: Graph, opts: ViewOptions | None = None, **kwargs) -> str:
    """DOT source of one view (`level=layer|op|grad`, `depth`, `expand`, `rankdir`)."""
    return build_view(graph, opts, **kwargs).dot
