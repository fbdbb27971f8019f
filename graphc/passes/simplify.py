"""Algebraic simplification: rewrites that keep values exactly (up to float32 rounding).

    x * 1, 1 * x, x + 0, 0 + x, x - 0, x / 1, x ** 1        ->  x   (when no broadcasting widens x)
    x - x                                                  ->  zeros
    neg(neg(x)), relu(relu(x))                             ->  x, relu(x)
    transpose(transpose(x, p), q)                          ->  transpose(x, p∘q), or x when identity
    transpose(reshape-like(x)), the reshape only adding or
      removing size-1 dims                                 ->  reshape(transpose(x)), when that lets the
                                                               transpose or the reshape merge with a neighbour
    reshape-like(reshape-like(x))  (reshape, flatten,
      squeeze, unsqueeze)                                  ->  one reshape, or x when the shape is x's
    slice(concat(a, b, c), covering exactly b)             ->  b  (or a concat of the inputs covered,
                                                               or a slice of the one input it falls in)
    flatten(global_avgpool(x)) to [N, C]                   ->  mean(x, spatial axes)
    squeeze(slice(x, [i:i+1] on axis a), a)                ->  gather(x, i, axis a)  (x[:, i]; one node;
                                                               autodiff has already run on what is exported)
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from graphc.ir.graph import Graph, Node, Value
from graphc.ir import dims
from graphc.ir.types import np_dtype
from graphc.ops.shape import _perm
from graphc.passes.log import PassLog
from graphc.passes.rewrite import Editor, can_replace, const_equals, is_output, reshape_spec, static_size

NAME = "simplify"
LEVEL = 2

RESHAPES = ("reshape", "flatten", "squeeze", "unsqueeze")

# A rule returns the value that replaces node.outputs[0] and a description, or None.
Rule = Callable[[Graph, Node, Editor], "tuple[Value, str] | None"]


def _identity_operand(node: Node, number: float, sides: tuple[int, ...]):
    """The other operand when the operand at one of `sides` is the constant `number` everywhere and
    the result has the other operand's type (no broadcasting to a larger shape)."""
    out = node.outputs[0]
    for side in sides:
        other = node.inputs[1 - side]
        if const_equals(node.inputs[side], number) and other.type == out.type:
            return other
    return None


def rule_neutral(graph: Graph, node: Node, ed: Editor):
    table = {"mul": (1.0, (0, 1)), "add": (0.0, (0, 1)), "sub": (0.0, (1,)), "div": (1.0, (1,)),
             "pow": (1.0, (1,))}
    if node.op not in table:
        return None
    number, sides = table[node.op]
    x = _identity_operand(node, number, sides)
    return (x, f"{node.op} {node.name} by {number:g} -> its operand") if x is not None else None


def rule_sub_self(graph: Graph, node: Node, ed: Editor):
    if node.op != "sub" or node.inputs[0] is not node.inputs[1] or node.outputs[0].type != node.inputs[0].type:
        return None
    out = node.outputs[0]
    size = static_size(out.shape)
    if size is not None and size <= 1 << 16:
        return graph.add_const(np.zeros(out.shape, np_dtype(out.dtype)), f"{node.name}/zeros"), \
            f"sub {node.name} of x - x -> zeros"
    new = ed.emit_before(node, "zeros_like", [node.inputs[0]])
    return (new.outputs[0], f"sub {node.name} of x - x -> zeros_like") if new else None


def rule_involution(graph: Graph, node: Node, ed: Editor):
    inner = node.inputs[0].producer if node.inputs else None
    if inner is None or inner.op != node.op:
        return None
    if node.op == "neg":
        return inner.inputs[0], f"neg(neg(x)) {node.name} -> x"
    if node.op == "relu":
        return inner.outputs[0], f"relu(relu(x)) {node.name} -> relu(x)"
    return None


def rule_transposes(graph: Graph, node: Node, ed: Editor):
    inner = node.inputs[0].producer
    if node.op != "transpose" or inner is None or inner.op != "transpose":
        return None
    x = inner.inputs[0]
    p, q = _perm(x.type, inner.attrs), _perm(inner.outputs[0].type, node.attrs)
    composed = [p[i] for i in q]
    if composed == list(range(len(composed))):
        return x, f"transpose(transpose(x)) {node.name} -> x"
    if not ed.single_use(inner.outputs[0]):
        return None
    new = ed.emit_before(node, "transpose", [x], {"perm": composed}, sources=[inner])
    return (new.outputs[0], f"transpose(transpose(x)) {node.name} -> one transpose {composed}") if new else None


def rule_reshapes(graph: Graph, node: Node, ed: Editor):
    inner = node.inputs[0].producer
    if node.op not in RESHAPES or inner is None or inner.op not in RESHAPES:
        return None
    x, out = inner.inputs[0], node.outputs[0]
    if x.type == out.type:
        return x, f"{inner.op}+{node.op} {node.name} back to x's shape -> x"
    if not ed.single_use(inner.outputs[0]):
        return None
    spec = reshape_spec(x.shape, out.shape)
    if spec is None:
        return None
    new = ed.emit_before(node, "reshape", [x], {"shape": spec}, sources=[inner])
    return (new.outputs[0], f"{inner.op}+{node.op} {node.name} -> one reshape {spec}") if new else None


def _unit_free(shape) -> list[int]:
    """Indices of the dims that are not a static 1."""
    return [i for i, d in enumerate(shape) if d != 1]


def rule_transpose_over_reshape(graph: Graph, node: Node, ed: Editor):
    """transpose(r(x)), r a reshape-like that only adds or removes size-1 dims -> reshape(transpose(x)):
    the same elements in the same order. Only when the transpose then meets one before it (x made by a
    transpose) or the reshape one after it (a reshape-like the only reader), so chains such as an
    exporter's unsqueeze/transpose/squeeze/transpose collapse and nothing else moves."""
    inner = node.inputs[0].producer
    if node.op != "transpose" or inner is None or inner.op not in RESHAPES or not ed.single_use(inner.outputs[0]):
        return None
    x, y, z = inner.inputs[0], inner.outputs[0], node.outputs[0]
    kept_x, kept_y = _unit_free(x.shape), _unit_free(y.shape)
    if [x.shape[i] for i in kept_x] != [y.shape[i] for i in kept_y]:
        return None  # the reshape moves real dims
    readers = ed.readers(z)
    merges_before = x.producer is not None and x.producer.op == "transpose"
    merges_after = len(readers) == 1 and readers[0].op in RESHAPES and not is_output(graph, z)
    if not (merges_before or merges_after):
        return None
    to_x = {j: i for i, j in zip(kept_x, kept_y)}  # y's kept dim -> x's
    p = _perm(y.type, node.attrs)
    perm = [i for i in range(x.type.rank) if i not in kept_x] + [to_x[j] for j in p if j in to_x]
    moved = x
    if perm != list(range(len(perm))):
        t = ed.emit_before(node, "transpose", [x], {"perm": perm}, sources=[inner])
        if t is None:
            return None
        moved = t.outputs[0]
    spec = reshape_spec(moved.shape, z.shape)
    if spec is None:
        if moved is not x:
            ed.remove(moved.producer)
        return None
    if moved.type == z.type:
        return moved, f"{inner.op}+transpose {node.name} -> transpose {perm}"
    new = ed.emit_before(node, "reshape", [moved], {"shape": spec}, sources=[inner])
    if new is None:
        if moved is not x:
            ed.remove(moved.producer)
        return None
    return new.outputs[0], f"{inner.op}+transpose {node.name} -> transpose {perm} + reshape {spec}"


def rule_pick_one(graph: Graph, node: Node, ed: Editor):
    inner = node.inputs[0].producer
    if node.op != "squeeze" or inner is None or inner.op != "slice" or not ed.single_use(inner.outputs[0]):
        return None
    a, x = inner.attrs, inner.inputs[0]
    axes = a.get("axes") or list(range(len(a["starts"])))
    if len(a["starts"]) != 1 or len(axes) != 1 or (a.get("steps") or [1]) != [1]:
        return None
    axis = axes[0] % x.type.rank
    start, size = a["starts"][0], x.shape[axis]
    if not isinstance(size, int) or not 0 <= start < size or a["ends"][0] != start + 1:
        return None
    if [d % x.type.rank for d in (node.attrs.get("axes") or [])] != [axis]:
        return None
    index = graph.add_const(np.asarray(start, np.int64), f"{node.name}/index")
    new = ed.emit_before(node, "gather", [x, index], {"axis": axis}, sources=[inner])
    return (new.outputs[0], f"slice+squeeze {node.name} -> gather of index {start}") if new else None


def rule_slice_concat(graph: Graph, node: Node, ed: Editor):
    cat = node.inputs[0].producer
    if node.op != "slice" or cat is None or cat.op != "concat":
        return None
    a = node.attrs
    if len(a["starts"]) != 1 or (a["steps"] is not None and a["steps"][0] != 1):
        return None
    rank = cat.outputs[0].type.rank
    cat_axis = dims.normalize_axis(cat.attrs["axis"], rank, "concat")
    axis = dims.normalize_axis(a["axes"][0] if a["axes"] is not None else 0, rank, "slice")
    sizes = [v.shape[cat_axis] for v in cat.inputs]
    if axis != cat_axis or not all(isinstance(s, int) for s in sizes):
        return None
    start, end, _ = slice(a["starts"][0], a["ends"][0], 1).indices(sum(sizes))
    offsets = np.cumsum([0] + sizes).tolist()
    if start in offsets and end in offsets:  # exactly a run of whole inputs
        i, j = offsets.index(start), offsets.index(end)
        if j - i == 1:
            return cat.inputs[i], f"slice {node.name} of concat {cat.name} -> its input {cat.inputs[i].name}"
        new = ed.emit_before(node, "concat", cat.inputs[i:j], {"axis": cat_axis}, sources=[cat])
        return (new.outputs[0], f"slice {node.name} of concat {cat.name} -> concat of {j - i} inputs") if new else None
    for i in range(len(sizes)):  # inside one input
        if offsets[i] <= start and end <= offsets[i + 1]:
            lo = offsets[i]
            new = ed.emit_before(node, "slice", [cat.inputs[i]],
                                  {"starts": [start - lo], "ends": [end - lo], "axes": [axis], "steps": [1]},
                                  sources=[cat])
            return (new.outputs[0], f"slice {node.name} of concat {cat.name} -> slice of input {i}") if new else None
    return None


def rule_pool_flatten(graph: Graph, node: Node, ed: Editor):
    """flatten(global_avgpool(x)) to [N, C] is one mean over the spatial axes (as PyTorch exports it)."""
    pool = node.inputs[0].producer
    if node.op not in RESHAPES or pool is None or pool.op != "global_avgpool" or not ed.single_use(pool.outputs[0]):
        return None
    x = pool.inputs[0]
    if tuple(node.outputs[0].shape) != tuple(x.shape[:2]):
        return None
    new = ed.emit_before(node, "mean", [x], {"axis": list(range(2, x.type.rank)), "keepdims": False}, sources=[pool])
    return (new.outputs[0], f"global_avgpool+{node.op} {node.name} -> mean over the spatial axes") if new else None


RULES: list[Rule] = [rule_neutral, rule_sub_self, rule_involution, rule_transposes, rule_reshapes,
                     rule_transpose_over_reshape,
                     rule_slice_concat, rule_pool_flatten, rule_pick_one]


def run(graph: Graph, log: PassLog) -> bool:
    changed = False
    while _sweep(graph, log):
        changed = True
        graph.prune()  # a rewritten chain's inner nodes go, so the next sweep sees single uses
    return changed


def _sweep(graph: Graph, log: PassLog) -> bool:
    """One pass over the nodes, applying the first rule that fires on each; False when none did.
    Nodes a rule builds are visited by the next sweep."""
    ed = Editor(graph)
    for node in list(graph.nodes):
        if ed.is_dead(node) or len(node.outputs) != 1 or not node.inputs:
            continue
        for rule in RULES:
            emitted = ed.emitted
            result = rule(graph, node, ed)
            if result is None:
                continue
            new, text = result
            built = ed.emitted > emitted  # the rule made new.producer for this rewrite
            old = node.outputs[0]
            if new.type != old.type or not can_replace(graph, old, new):
                if built:
                    ed.remove(new.producer)
                continue
            ed.replace(old, new, take_name=built)
            ed.remove(node)
            log(text, node)
            break
    return ed.commit()
