"""`graphc check`: shape-check a spec and print each layer's output shape."""

from __future__ import annotations

from graphc.commands.load import load_model, warn_float64


def check_command(args) -> int:
    model = load_model(args)
    warn_float64(model.graph)
    rows = model.check()
    width = max(len(r[0]) for r in rows)
    opw = max(len(r[1]) for r in rows)
    for v in model.graph.inputs:
        print(f"{'input ' + v.name:<{width + opw + 2}}  {v.type}")
    for name, op, shape in rows:
        print(f"{name:<{width}}  {op:<{opw}}  {shape}")
    print(f"ok: {model.name}: {len(rows)} layers, {model.graph.param_count():,} parameters, shapes check")
    return 0
