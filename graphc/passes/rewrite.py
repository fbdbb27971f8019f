"""Helpers every pass shares: the Editor (batched, ordered edits of a graph), uses of a value, constants."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from graphc.errors import GraphcError
from graphc.ir.graph import Graph, Node, Value
from graphc.ops import OPS, Builder, evaluate
from graphc.ops.shape import reshape_shape


def is_pure(op: str) -> bool:
    """False for ops whose result is not a function of their inputs alone (`OpDef.pure`: random
    numbers): never fold or merge them."""
    opdef = OPS.get(op)
    return opdef is None or opdef.pure


def is_output(graph: Graph, value: Value) -> bool:
    return any(v is value for v in graph.outputs)


def use_count(graph: Graph, value: Value, users: dict[int, list[Node]] | None = None) -> int:
    """Number of node inputs reading `value`, plus one per graph output it is."""
    users = graph.users() if users is None else users
    return len(users.get(id(value), [])) + sum(1 for v in graph.outputs if v is value)


def single_use(graph: Graph, value: Value, users: dict[int, list[Node]] | None = None) -> bool:
    """Read by exactly one node input and not a graph output."""
    return use_count(graph, value, users) == 1 and not is_output(graph, value)


def can_replace(graph: Graph, old: Value, new: Value) -> bool:
    """Whether every use of `old` can read `new` instead (a graph output keeps its name)."""
    if not is_output(graph, old):
        return True
    return new.kind == "node" and not is_output(graph, new)


class Editor:
    """Batched edits of one graph, each O(1) or O(uses): readers are tracked in a use map, removed
    nodes are marked, new nodes wait beside their anchor; `commit()` rebuilds the node list once.
    (Editing `graph.nodes` directly per rewrite is quadratic on a 10,000-layer model.)"""

    def __init__(self, graph: Graph):
        self.graph = graph
        self._users: dict[int, list[Node]] | None = None
        self.dead: set[int] = set()
        self.before: dict[int, list[Node]] = {}
        self.changed = False
        self.emitted = 0  # nodes made by emit_before so far

    # -- queries ----------------------------------------------------------------------------
    @property
    def users(self) -> dict[int, list[Node]]:
        """id(value) -> reading nodes, once per input occurrence (built on first use)."""
        if self._users is None:
            self._users = self.graph.users()
        return self._users

    def readers(self, value: Value) -> list[Node]:
        return self.users.get(id(value), [])

    def single_use(self, value: Value) -> bool:
        return single_use(self.graph, value, self.users)

    def is_dead(self, node: Node) -> bool:
        return id(node) in self.dead

    # -- edits ------------------------------------------------------------------------------
    def replace(self, old: Value, new: Value, take_name: bool = False) -> None:
        """Make every reader of `old` read `new`. A graph output's name moves to `new` (so ONNX
        outputs keep the spec's names); `take_name` moves it in any case (a node built to replace
        `old` keeps its name). Check `can_replace` first."""
        graph = self.graph
        if (take_name or is_output(graph, old)) and new.kind == "node" and not is_output(graph, new):
            graph._names.discard(new.name)
            new.name = old.name
        for node in self.users.pop(id(old), []):
            node.inputs = [new if v is old else v for v in node.inputs]
            self.users.setdefault(id(new), []).append(node)
        if is_output(graph, old):
            graph.outputs = [new if v is old else v for v in graph.outputs]
        self.changed = True

    def remove(self, node: Node) -> None:
        if id(node) in self.dead:
            return
        self.dead.add(id(node))
        for v in node.inputs:
            readers = self.users.get(id(v))
            if readers is not None and node in readers:
                readers.remove(node)
        self.changed = True

    def emit_before(self, anchor: Node, op: str, inputs: list[Value], attrs: dict | None = None,
                    sources: Iterable[Node] = ()) -> Node | None:
        """A new node, placed just before `anchor` at `commit()`, with its types inferred by the op's
        rule, or None when the rule rejects the inputs. It takes the layer, location and role of
        `anchor`; `sources` are the nodes it replaces, whose layers it keeps as provenance."""
        try:
            node = make_node(self.graph, anchor, op, inputs, attrs, sources)
        except (GraphcError, ValueError, KeyError):
            return None
        self.before.setdefault(id(anchor), []).append(node)
        self.emitted += 1
        for v in node.inputs:
            self.users.setdefault(id(v), []).append(node)
        return node

    def fuse(self, chain: list[Node], op: str, inputs: list[Value], attrs: dict | None = None) -> Node | None:
        """Replace the chain of nodes ending in `chain[-1]` by one `op` node computing the same value;
        None (nothing changed) when the op's rule rejects the inputs or gives another type."""
        root = chain[-1]
        new = self.emit_before(root, op, inputs, attrs, sources=chain)
        if new is None:
            return None
        if new.outputs[0].type != root.outputs[0].type:
            self.remove(new)
            return None
        self.replace(root.outputs[0], new.outputs[0], take_name=True)
        for n in chain:
            self.remove(n)
        return new

    def commit(self) -> bool:
        """Apply the edits to `graph.nodes`; True when anything changed."""
        if not self.dead and not self.before:
            return self.changed
        out: list[Node] = []

        for node in self.graph.nodes:  # each node after the nodes inserted before it (explicit stack)
            stack = [(node, False)]
            while stack:
                item, ready = stack.pop()
                inserted = self.before.pop(id(item), []) if not ready else []
                if inserted:
                    stack.append((item, True))
                    stack += [(n, False) for n in reversed(inserted)]
                elif id(item) not in self.dead:
                    out.append(item)
        self.graph.nodes = out
        self.dead.clear()
        return True


def make_node(graph: Graph, anchor: Node, op: str, inputs: list[Value], attrs: dict | None = None,
              sources: Iterable[Node] = ()) -> Node:
    """A node not yet in `graph.nodes` (see `Editor.emit_before`); raises GraphcError when the op
    rejects the inputs."""
    node = Builder(graph, anchor.layer, anchor.loc).emit_node(op, *inputs, **(attrs or {}))
    graph.nodes.pop()  # the Builder appends; the Editor places it
    node.role = getattr(anchor, "role", "forward")
    node.sources = layers_of([anchor, *sources], exclude=anchor.layer)
    return node


def layers_of(nodes: Iterable[Node], exclude: str = "") -> tuple[str, ...]:
    """The distinct spec layers of `nodes` (and their own sources), in order."""
    seen: list[str] = []
    for n in nodes:
        for layer in (n.layer, *getattr(n, "sources", ())):
            if layer and layer != exclude and layer not in seen:
                seen.append(layer)
    return tuple(seen)


def const_data(value: Value) -> np.ndarray | None:
    """The array of a constant (an initializer constant or a `constant` node), else None.
    Parameters are not constants: they stay initializers named `<layer>.<param>`."""
    if value.kind == "const" and value.data is not None:
        return value.data
    node = value.producer
    if node is not None and node.op == "constant":
        return evaluate("constant", [], node.attrs)[0]
    return None


def const_equals(value: Value, number: float, rtol: float = 0.0) -> bool:
    """Every element of a constant equals `number` (within `rtol`)."""
    data = const_data(value)
    if data is None or data.size == 0:
        return False
    return bool(np.all(np.abs(data.astype(np.float64) - number) <= rtol * abs(number)))


def static_size(shape) -> int | None:
    if not all(isinstance(d, int) for d in shape):
        return None
    return int(np.prod(shape, dtype=np.int64))


def reshape_spec(in_shape: tuple, out_shape: tuple) -> list[int] | None:
    """An ONNX Reshape target taking `in_shape` to `out_shape` (0 copies a dim, one -1 at most),
    or None when symbolic dims make it impossible to write."""
    spec: list[int] = []
    for i, d in enumerate(out_shape):
        if isinstance(d, int):
            spec.append(d)
        elif i < len(in_shape) and in_shape[i] == d:
            spec.append(0)
        else:
            spec.append(-1)
    if spec.count(-1) > 1:
        return None
    try:
        return spec if tuple(reshape_shape(tuple(in_shape), spec)) == tuple(out_shape) else None
    except GraphcError:
        return None
