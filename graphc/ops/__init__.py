"""All ops, registered on import. `OPS` maps an op name to its `OpDef`.

The IR takes an op table instead of importing this package; `Builder` and `interpret` here are
the IR's Builder and interpreter over `OPS`, which everything above the ops uses.
"""

from __future__ import annotations

from typing import Any

from graphc.errors import Location
from graphc.ir import builder as ir_builder
from graphc.ir import interp as ir_interp
from graphc.ir.graph import Graph
from graphc.ops.registry import OPS, REQUIRED, OpDef, evaluate, get_op, register
from graphc.ops import einsum, elementwise, nn, reduce, rounding, shape  # noqa: F401  (registration)
from graphc.ops import attention, recurrent, sampling  # noqa: F401  (registration)
from graphc.ops import gradops  # noqa: F401  (internal ops of gradient rules)


class Builder(ir_builder.Builder):
    """The IR's Builder over graphc's op table (`Builder(graph, layer, loc)`)."""

    def __init__(self, graph: Graph, layer: str = "", loc: Location | None = None):
        super().__init__(graph, layer, loc, ops=OPS)


def interpret(graph: Graph, feeds: dict[str, Any], outputs: list | None = None) -> dict:
    """Run `graph` with each op's numpy reference (see graphc.ir.interp)."""
    return ir_interp.interpret(graph, feeds, outputs, ops=OPS)


__all__ = ["OPS", "REQUIRED", "Builder", "OpDef", "evaluate", "get_op", "interpret", "register"]
