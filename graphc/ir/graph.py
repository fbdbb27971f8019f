"""The typed graph: values, nodes, parameters, and the layers (scopes) they came from."""

from __future__ import annotations

import copy as _copy
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from graphc.errors import Location
from graphc.ir.types import TensorType, dtype_of_array


@dataclass(eq=False, slots=True)
class Value:
    """A tensor in the graph. `kind` is input, param, const or node (produced by `producer`)."""

    name: str
    type: TensorType
    kind: str = "node"
    producer: "Node | None" = None
    data: np.ndarray | None = None  # parameters and constants
    trainable: bool = True  # parameters only

    @property
    def shape(self) -> tuple:
        return self.type.shape

    @property
    def dtype(self) -> str:
        return self.type.dtype

    def __repr__(self) -> str:
        return f"%{self.name}: {self.type}"


@dataclass(eq=False, slots=True)
class Node:
    """One op application. `layer` is the dotted name of the spec layer it belongs to."""

    op: str
    inputs: list[Value]
    outputs: list[Value]
    attrs: dict[str, Any]
    name: str
    layer: str = ""
    loc: Location | None = None
    role: str = "forward"  # "backward" for nodes added by graphc.autodiff
    sources: tuple[str, ...] = ()  # spec layers a rewritten (fused) node came from, besides `layer`

    def __repr__(self) -> str:
        ins = ", ".join(f"%{v.name}" for v in self.inputs)
        outs = ", ".join(f"%{v.name}" for v in self.outputs)
        attrs = "".join(f", {k}={v!r}" for k, v in sorted(self.attrs.items()))
        return f"{outs} = {self.op}({ins}{attrs})"


@dataclass(slots=True)
class LayerInfo:
    """A spec layer as the user wrote it: kept for views, summaries and error messages."""

    name: str
    op: str
    attrs: dict[str, Any]
    inputs: list[str]
    outputs: list[str]
    loc: Location | None = None
    block: str | None = None  # block name when this layer is a use of a block
    repeat: int | None = None  # copies of a repeated block
    params: list[str] = field(default_factory=list)


class NameSet(set):
    """Taken names that hand out fresh ones: `base`, else `base_k` for the first free k >= 2.

    The next k to try is remembered per base, so naming stays linear in the graph's size."""

    def __init__(self, names=()):
        super().__init__(names)
        self._next: dict[str, int] = {}

    def fresh(self, base: str) -> str:
        k = self._next.get(base, 1)
        name = base if k == 1 else f"{base}_{k}"
        while name in self:
            k += 1
            name = f"{base}_{k}"
        self._next[base] = k
        self.add(name)
        return name

    def copy(self) -> "NameSet":
        twin = NameSet(self)
        twin._next = dict(self._next)
        return twin


class Graph:
    """A computation graph in topological order, with parameters held as initializers."""

    def __init__(self, name: str):
        self.name = name
        self.doc = ""
        self.inputs: list[Value] = []
        self.outputs: list[Value] = []
        self.params: dict[str, Value] = {}
        self.nodes: list[Node] = []
        self.layers: list[LayerInfo] = []
        self.metadata: dict[str, str] = {}
        self.source_opset: int | None = None  # an imported ONNX model's opset (after any upgrade)
        self._names = NameSet()  # value names
        self._node_names = NameSet()

    # -- naming -------------------------------------------------------------------------
    def fresh_name(self, base: str) -> str:
        return self._names.fresh(base)

    def fresh_node_name(self, base: str) -> str:
        return self._node_names.fresh(base)

    def rename(self, value: Value, name: str) -> None:
        """Give a value a new unique name (the old one is freed)."""
        self._names.discard(value.name)
        value.name = self.fresh_name(name)

    # -- construction -------------------------------------------------------------------
    def add_input(self, name: str, type: TensorType) -> Value:
        value = Value(self.fresh_name(name), type, kind="input")
        self.inputs.append(value)
        return value

    def add_param(self, name: str, data: np.ndarray, trainable: bool = True) -> Value:
        value = Value(self.fresh_name(name), TensorType(dtype_of_array(data), tuple(data.shape)),
                      kind="param", data=data, trainable=trainable)
        self.params[value.name] = value
        return value

    def add_const(self, data: np.ndarray, name: str = "const") -> Value:
        data = np.asarray(data)
        return Value(self.fresh_name(name), TensorType(dtype_of_array(data), tuple(data.shape)),
                     kind="const", data=data)

    def add_node(self, op: str, inputs: list[Value], attrs: dict, out_types: list[TensorType],
                 name: str, layer: str = "", loc: Location | None = None,
                 out_names: list[str] | None = None) -> Node:
        node = Node(op, list(inputs), [], dict(attrs), self.fresh_node_name(name), layer, loc)
        names = out_names or [f"{node.name}" if len(out_types) == 1 else f"{node.name}.{i}"
                              for i in range(len(out_types))]
        node.outputs = [Value(self.fresh_name(n), t, "node", node) for n, t in zip(names, out_types)]
        self.nodes.append(node)
        return node

    # -- rewriting (for passes that replace a node by what a Builder emitted) ---------------
    def detach_since(self, start: int) -> list[Node]:
        """Remove and return the nodes appended after the first `start` (built to go elsewhere)."""
        new = self.nodes[start:]
        del self.nodes[start:]
        return new

    def take_over(self, old: list[Value], new: list[Value], readers: list[Node] = ()) -> None:
        """The producers of the `new` Values produce the `old` ones instead (which keep their names
        and readers); `readers` of a `new` Value read its `old` twin."""
        swap = {}
        for o, v in zip(old, new):
            producer = v.producer
            producer.outputs[producer.outputs.index(v)] = o
            o.producer = producer
            swap[id(v)] = o
        for n in readers:
            n.inputs = [swap.get(id(v), v) for v in n.inputs]

    def splice(self, node: Node, new: list[Node]) -> None:
        """Put the nodes `new` where `node` is (removing it)."""
        k = self.nodes.index(node)
        self.nodes[k:k + 1] = new

    def swap(self, a: Node, b: Node) -> None:
        """Exchange the positions of two nodes (the caller keeps the order topological)."""
        i, j = self.nodes.index(a), self.nodes.index(b)
        self.nodes[i], self.nodes[j] = b, a

    def move_before(self, node: Node, anchor: Node) -> None:
        """Move `node` to just before `anchor`."""
        self.nodes.remove(node)
        self.nodes.insert(self.nodes.index(anchor), node)

    # -- queries ------------------------------------------------------------------------
    def values(self) -> Iterator[Value]:
        yield from self.inputs
        yield from self.params.values()
        for node in self.nodes:
            yield from node.outputs

    def users(self) -> dict[int, list[Node]]:
        """id(value) -> nodes that read it."""
        result: dict[int, list[Node]] = {}
        for node in self.nodes:
            for v in node.inputs:
                result.setdefault(id(v), []).append(node)
        return result

    def consts(self) -> list[Value]:
        seen: dict[int, Value] = {}
        for node in self.nodes:
            for v in node.inputs:
                if v.kind == "const":
                    seen.setdefault(id(v), v)
        return list(seen.values())

    def layer(self, name: str) -> LayerInfo | None:
        return next((l for l in self.layers if l.name == name), None)

    def param_count(self, trainable_only: bool = False) -> int:
        return sum(int(p.data.size) for p in self.params.values() if p.trainable or not trainable_only)

    def param_bytes(self) -> int:
        """Bytes of the parameters and constants (what an exported file holds as initializers)."""
        return sum(int(v.data.nbytes) for v in (*self.params.values(), *self.consts()))

    def __repr__(self) -> str:
        lines = [f"graph {self.name}("]
        lines += [f"    {v!r}," for v in self.inputs]
        lines.append(") {")
        lines += [f"  {n!r}" for n in self.nodes]
        lines.append("  return " + ", ".join(f"%{v.name}" for v in self.outputs))
        lines.append("}")
        return "\n".join(lines)

    def clone(self) -> "Graph":
        """An independent copy of the structure (parameter arrays are shared, never mutated in place)."""
        new = Graph(self.name)
        new.doc, new.metadata, new.source_opset = self.doc, dict(self.metadata), self.source_opset
        new.layers = [_copy.copy(l) for l in self.layers]
        new._names, new._node_names = self._names.copy(), self._node_names.copy()
        mapping: dict[int, Value] = {}

        def twin(v: Value) -> Value:
            if id(v) not in mapping:
                mapping[id(v)] = Value(v.name, v.type, v.kind, None, v.data, v.trainable)
            return mapping[id(v)]

        new.inputs = [twin(v) for v in self.inputs]
        new.params = {k: twin(v) for k, v in self.params.items()}
        for node in self.nodes:
            copy_ = Node(node.op, [twin(v) for v in node.inputs], [], dict(node.attrs), node.name, node.layer,
                         node.loc, node.role, node.sources)
            copy_.outputs = [twin(v) for v in node.outputs]
            for v in copy_.outputs:
                v.producer = copy_
            new.nodes.append(copy_)
        new.outputs = [twin(v) for v in self.outputs]
        return new

    def prune(self) -> None:
        """Drop nodes and parameters that no output depends on."""
        live: set[int] = {id(v) for v in self.outputs}
        kept: list[Node] = []
        for node in reversed(self.nodes):
            if any(id(o) in live for o in node.outputs):
                kept.append(node)
                live.update(id(v) for v in node.inputs)
        self.nodes = kept[::-1]
        self.params = {k: v for k, v in self.params.items() if id(v) in live}

    def used(self, values: list[Value]) -> list[Value]:
        """Those of `values` (in order) that some node or graph output reads: after `prune()`,
        the inputs the outputs need."""
        read = {id(v) for n in self.nodes for v in n.inputs} | {id(v) for v in self.outputs}
        return [v for v in values if id(v) in read]
