"""A SHA-256 of a model as built: what every front end (YAML, Python, ...) agrees on.

It covers the graph's name and doc, inputs, parameters (name, type, trainable), constants (their
bytes), nodes (op, attributes, value names and types), outputs and the weight seed, so a YAML spec
and its Python twin give the same digest (and so byte-identical ONNX), while comments and
formatting of a spec do not change it.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from graphc.ir.graph import Graph
from graphc.util.walk import rebuild


def _canon(value: Any) -> str:
    """A canonical text of an attribute value (dict keys sorted, arrays by their SHA-256)."""
    def split(v: Any):
        if isinstance(v, np.ndarray):
            return None
        if isinstance(v, dict):
            items = sorted(v.items(), key=lambda kv: str(kv[0]))
            return ([x for _, x in items],
                    lambda done: "{" + ",".join(f"{k!r}:{t}" for (k, _), t in zip(items, done)) + "}")
        if isinstance(v, (list, tuple)):
            return list(v), lambda done: "[" + ",".join(done) + "]"
        return None
    return rebuild(value, split, _canon_leaf)


def _canon_leaf(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array({value.dtype},{value.shape},{hashlib.sha256(value.tobytes()).hexdigest()})"
    return repr(value)


def graph_digest(graph: Graph, seed: int = 0) -> str:
    """Hex SHA-256 of the graph's structure and the seed its weights were drawn with."""
    h = hashlib.sha256()
    lines = [f"graph {graph.name!r} {graph.doc!r} seed {seed}"]
    lines += [f"input {v.name} {v.type}" for v in graph.inputs]
    lines += [f"param {v.name} {v.type} {v.trainable}" for v in graph.params.values()]
    for v in graph.consts():
        lines.append(f"const {v.name} {_canon(v.data)}")
    for n in graph.nodes:
        ins = ",".join(v.name for v in n.inputs)
        outs = ",".join(f"{v.name}:{v.type}" for v in n.outputs)
        lines.append(f"node {n.name} {n.op} ({ins}) -> ({outs}) {_canon(n.attrs)}")
    lines += [f"output {v.name}" for v in graph.outputs]
    for line in lines:
        h.update(line.encode())
        h.update(b"\n")
    return h.hexdigest()
