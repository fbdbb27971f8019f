"""The pass manager: picks passes by level or by name, runs them to a fixed point, explains, verifies.

Levels: -O0 runs nothing; -O1 the cleanups that change no value (no-op removal, CSE, DCE);
-O2 (the default) every pass that keeps float32 numerics. `passes=["cse", "dce"]` runs exactly
those, in that order. With GRAPHC_DEBUG=1 (and in the tests) the graph is verified after every
pass (see verify.py), so a broken rewrite is caught at the pass that made it.

`REWRITES` are passes outside the levels that change what a graph computes on purpose (training
mode, sampling) or only pay off in a train step; `rewrite(graph, name, **options)` runs one,
verified like the others, and returns what it returns.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable

from graphc.errors import SpecError, did_you_mean
from graphc.ir.graph import Graph
from graphc.passes import (bnfold, constfold, cse, dce, enable_sampling, fuse_gelu, fuse_layernorm, gemm, noop,
                           pool_before_relu, shapes, simplify, training_mode, unroll_recurrent)
from graphc.passes.log import PassLog
from graphc.passes.verify import verify_graph

MAX_ROUNDS = 8  # the pipeline repeats until no pass changes anything (it always converges sooner)


@dataclass(frozen=True)
class Pass:
    name: str
    level: int | None  # the lowest -O level that runs it (None: a REWRITES entry, run by name)
    run: Callable[..., Any]  # (graph, log, **options); optimization passes return whether they changed it
    doc: str


def _from_module(module: ModuleType) -> Pass:
    return Pass(module.NAME, module.LEVEL, module.run, (module.__doc__ or "").strip())


# pipeline order: cleanups first, then folding, simplification, fusions, and a final sweep
PASSES: dict[str, Pass] = {p.name: p for p in map(_from_module, [
    noop, constfold, shapes, simplify, cse, bnfold, gemm, fuse_layernorm, fuse_gelu, dce])}

# run by name, outside the levels (training/step.py runs the first three on every train step)
REWRITES: dict[str, Pass] = {p.name: p for p in map(_from_module, [
    unroll_recurrent, training_mode, pool_before_relu, enable_sampling])}


def debug_enabled() -> bool:
    return os.environ.get("GRAPHC_DEBUG", "") not in ("", "0")


def select(level: int = 2, names: list[str] | None = None) -> list[Pass]:
    """The passes to run: `names` when given (SpecError with a did-you-mean for an unknown one), else a level."""
    if names is not None:
        chosen = []
        for name in (n.strip() for n in names):
            if not name:
                continue
            if name not in PASSES:
                hint = did_you_mean(name, PASSES) or f"passes: {', '.join(PASSES)}"
                raise SpecError(f"unknown pass '{name}'", hint=hint)
            chosen.append(PASSES[name])
        return chosen
    if level not in (0, 1, 2):
        raise SpecError(f"unknown optimization level -O{level}", hint="use -O0, -O1 or -O2")
    return [p for p in PASSES.values() if p.level <= level]


def optimize(graph: Graph, level: int = 2, passes: list[str] | None = None, explain: list | None = None,
             verify: bool | None = None) -> Graph:
    """Rewrite `graph` in place with the chosen passes until nothing changes; returns it.

    `explain`, when a list, receives for every pass run that changed something (and every pass
    of the first round) a line with the node count before and after, then one line per rewrite."""
    chosen = select(level, passes)
    verify = debug_enabled() if verify is None else verify
    if not chosen:
        if explain is not None:
            explain.append(f"no optimization passes (-O{level}): {len(graph.nodes)} nodes")
        return graph
    if verify:
        verify_graph(graph, "none (the input graph)")
    start = len(graph.nodes)
    rounds = 0
    for rounds in range(1, MAX_ROUNDS + 1):
        changed_any = False
        for p in chosen:
            before = len(graph.nodes)
            log = PassLog(p.name)
            changed = bool(p.run(graph, log))
            if verify:
                verify_graph(graph, p.name)
            changed_any |= changed
            if explain is not None and (changed or rounds == 1):
                explain.append(f"{p.name}: {before} -> {len(graph.nodes)} nodes" + ("" if changed else " (no change)"))
                explain.extend(f"  {line}" for line in log.lines)
        if not changed_any:
            break
    if explain is not None:
        explain.append(f"optimized {graph.name}: {start} -> {len(graph.nodes)} nodes, "
                       f"{rounds} round{'s' if rounds > 1 else ''} ({', '.join(p.name for p in chosen)})")
    return graph


def folds_at_export(level: int = 2, names: list[str] | None = None) -> bool:
    """Whether the export also folds ONNX nodes that compute on initializers alone (export/fold.py):
    at -O2 without an explicit pass list, like the -O2 passes that keep float32 numerics."""
    return names is None and level >= 2


def rewrite(graph: Graph, name: str, verify: bool | None = None, **options) -> Any:
    """Run the REWRITES pass `name` on `graph` in place (verified after it in debug mode); returns its result."""
    p = REWRITES[name]
    result = p.run(graph, PassLog(p.name), **options)
    if debug_enabled() if verify is None else verify:
        verify_graph(graph, p.name)
    return result


def describe_passes() -> list[tuple[str, int, str]]:
    """(name, level, first paragraph of its docstring) for every pass, for docs and --help."""
    return [(p.name, p.level, " ".join(p.doc.split("\n\n")[0].split())) for p in PASSES.values()]
