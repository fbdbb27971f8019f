"""`graphc summary`: per-layer table of output shapes and parameter counts, with totals."""

from __future__ import annotations

import json

from graphc.ir.graph import Graph


def summary_rows(graph: Graph) -> list[dict]:
    values = {v.name: v for v in graph.values()}
    rows = []
    for info in graph.layers:
        if "." in info.name and info.block is None and any(info.name.startswith(l.name + ".") for l in graph.layers
                                                            if l.block):
            continue  # inner layers of blocks are counted in their block's row
        params = [p for name, p in graph.params.items() if name.startswith(info.name + ".")]
        rows.append({"layer": info.name, "op": info.op,
                     "output": ", ".join(str(values[o].type) for o in info.outputs if o in values),
                     "params": int(sum(p.data.size for p in params))})
    return rows


def summarize(graph: Graph, fmt: str = "table") -> str:
    rows = summary_rows(graph)
    total = graph.param_count()
    trainable = graph.param_count(trainable_only=True)
    if fmt == "json":
        return json.dumps({"model": graph.name, "layers": rows, "total_params": total,
                           "trainable_params": trainable}, indent=2)
    header = ("layer", "op", "output shape", "params")
    table = [(r["layer"], r["op"], r["output"], f"{r['params']:,}") for r in rows]
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|---|---|---|---:|"]
        lines += ["| " + " | ".join(row) + " |" for row in table]
        lines.append(f"\nTotal params: {total:,} (trainable {trainable:,})")
        return "\n".join(lines)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *table)]
    fmt_row = lambda row: "  ".join(str(x).ljust(w) if i < 3 else str(x).rjust(w)  # noqa: E731
                                    for i, (x, w) in enumerate(zip(row, widths)))
    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
    lines = [f"Model: {graph.name}", rule, fmt_row(header), rule] + [fmt_row(r) for r in table] + [rule]
    lines.append(f"Total params: {total:,}   trainable: {trainable:,}   non-trainable: {total - trainable:,}")
    return "\n".join(lines)
