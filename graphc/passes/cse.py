"""Common subexpression elimination: two nodes with the same op, attributes and inputs become one;
equal small constants are shared.

    a = relu(x); b = relu(x); y = add(a, b)   ->   a = relu(x); y = add(a, a)

Random ops (`random_normal_like`, dropout masks) are never merged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc.ir.graph import Graph, Value
from graphc.passes.log import PassLog
from graphc.passes.rewrite import Editor, can_replace, is_output, is_pure
from graphc.util.walk import rebuild

NAME = "cse"
LEVEL = 1
CONST_KEY_LIMIT = 4096  # constants up to this many elements are compared by content


def freeze(obj: Any) -> Any:
    """A hashable, exact form of an attribute value."""
    def split(v: Any):
        if isinstance(v, (list, tuple)):
            return list(v), tuple
        if isinstance(v, dict):
            return list(v.values()), lambda done: tuple(sorted(zip(v, done)))
        return None
    return rebuild(obj, split, _freeze_leaf)


def _freeze_leaf(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return ("array", obj.dtype.str, obj.shape, obj.tobytes())
    if isinstance(obj, float):
        return ("float", obj)  # 1 and 1.0 are the same key only when the op sees the same value
    return obj


def const_key(v: Value) -> Any:
    if v.kind == "const" and v.data is not None and v.data.size <= CONST_KEY_LIMIT:
        return ("const", v.dtype, tuple(v.shape), np.ascontiguousarray(v.data).tobytes())
    return None


def share_constants(graph: Graph, log: PassLog) -> bool:
    canonical: dict[Any, Value] = {}
    changed = False
    for node in graph.nodes:
        new_inputs = []
        for v in node.inputs:
            key = const_key(v)
            if key is not None:
                first = canonical.setdefault(key, v)
                if first is not v:
                    log(f"shared constant {first.name} for {v.name} in {node.name}", node)
                    changed = True
                    v = first
            new_inputs.append(v)
        node.inputs = new_inputs
    return changed


def run(graph: Graph, log: PassLog) -> bool:
    changed = share_constants(graph, log)
    ed = Editor(graph)
    seen: dict[Any, Any] = {}
    for node in list(graph.nodes):
        if not is_pure(node.op):
            continue
        key = (node.op, tuple(id(v) for v in node.inputs), freeze(node.attrs))
        keep = seen.get(key)
        if keep is None:
            seen[key] = node
            continue
        pairs = list(zip(node.outputs, keep.outputs))
        # two graph outputs cannot become one tensor; otherwise the kept value takes the output's name
        if any(is_output(graph, old) and is_output(graph, new) for old, new in pairs):
            continue
        if not all(can_replace(graph, old, new) for old, new in pairs):
            continue
        for old, new in pairs:
            ed.replace(old, new)
        ed.remove(node)
        log(f"merged {node.name} into {keep.name}", keep, node)
    return ed.commit() or changed
