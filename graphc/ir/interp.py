"""Reference interpreter: runs a graph with each op's numpy reference (test oracle, constant folding)."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from graphc.errors import GraphcError, SpecError
from graphc.ir.graph import Graph
from graphc.ir.types import np_dtype


def interpret(graph: Graph, feeds: dict[str, Any], outputs: list | None = None, *,
              ops: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Evaluate `graph` on `feeds` with the `ref` of each op in the table `ops`; errors say which
    node failed. `graphc.ops.interpret` passes graphc's registry."""
    env: dict[int, np.ndarray] = {}
    for v in graph.inputs:
        if v.name in feeds:
            env[id(v)] = np.asarray(feeds[v.name], dtype=np_dtype(v.dtype))
    for p in graph.params.values():
        env[id(p)] = p.data
    for node in graph.nodes:
        args = []
        for v in node.inputs:
            if v.kind == "const":
                args.append(v.data)
            elif id(v) in env:
                args.append(env[id(v)])
            else:
                raise SpecError(f"missing input {v.name} (needed by {node.name})")
        try:
            results = ops[node.op].ref(args, node.attrs)
        except GraphcError:
            raise
        except Exception as e:  # noqa: BLE001 - re-raised with the node that failed
            raise RuntimeError(f"while evaluating {node.name} ({node.op}): {e}") from e
        results = results if isinstance(results, (list, tuple)) else [results]
        for out, r in zip(node.outputs, results):
            env[id(out)] = np.asarray(r, dtype=np_dtype(out.dtype))
    wanted = outputs if outputs is not None else graph.outputs
    return {v.name: env[id(v)] for v in wanted}
