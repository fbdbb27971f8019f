"""`graphc summary`: per layer output shape, parameters, MACs and FLOPs; totals and memory.

Costs are per example: every symbolic dim (`N`, `seq`) counts as 1 (so a `[N, T, C]` tensor
with symbolic `T` is counted for one step; the summary lists such dims). Each op's rule is its
`OpDef.cost` (graphc/ops/cost.py). Definitions:

- MACs: multiply-accumulates of matmul / gemm (dense) and convolutions:
  dense `in*out`; conv `Cout*Hout*Wout * Cin/groups*kh*kw`; conv_transpose
  `Cin*Hin*Win * Cout/groups*kh*kw`; rnn/lstm/gru `T * (W_ih + W_hh elements)` (all directions).
- FLOPs = 2 * MACs + one per output element for bias adds, elementwise ops and activations,
  + softmax 3, batchnorm 2 (inference scale and shift), layernorm 7 per element, pooling one
  per window element, reductions one per input element; recurrent layers: bias elements and
  gate elements once per step; random numbers one per element. Shape ops, dropout, gather,
  cast, upsample: 0.
"""

from __future__ import annotations

import json

from graphc.ir.graph import Graph, Node
from graphc.ir.liveness import peak_memory
from graphc.ir.types import TensorType, np_dtype
from graphc.ops import OPS, cost
from graphc.ops.cost import numel
from graphc.viz.structure import layer_tree
from graphc.viz.style import family_of

_FREE_FAMILIES = ("shape", "regularization")


def nbytes(t: TensorType) -> int:
    try:
        size = np_dtype(t.dtype).itemsize
    except KeyError:
        size = 4
    return numel(t) * size


def node_cost(node: Node) -> tuple[int, int, bool]:
    """(MACs, FLOPs, known) of one node, per example: its op's cost rule (`OpDef.cost`). An op
    without one counts by its family (shape ops 0, reductions per input element, math per output
    element); an imported ONNX file is made of graphc ops too (graphc.onnx_in)."""
    if not node.outputs:
        return 0, 0, True
    opdef = OPS.get(node.op)
    ins, outs = [v.type for v in node.inputs], [v.type for v in node.outputs]
    if opdef is not None and opdef.cost is not None:
        macs, flops = opdef.cost(ins, outs, node.attrs)
        return macs, flops, True
    family = _family(node.op)
    if family in _FREE_FAMILIES:
        return 0, 0, True
    if family == "reduce":
        return cost.per_input_element(ins, outs, node.attrs) + (True,)
    if family in ("math", "activation"):
        return cost.elementwise(ins, outs, node.attrs) + (True,)
    return 0, 0, False


def _family(op: str) -> str:
    return family_of(op)


def summary_data(graph: Graph) -> dict:
    """Everything `graphc summary` prints, as plain data (also the JSON format)."""
    values = {v.name: v for v in graph.values()}
    infos = {info.name: info for info in graph.layers}
    top = layer_tree(graph)
    row_of: dict[str, int] = {}
    rows = []
    for i, item in enumerate(top):
        names = list(item.layer_names())
        for name in names + [item.name]:
            row_of[name] = i
        pnames = dict.fromkeys(p for n in names for p in (infos[n].params if n in infos else []))
        if not pnames and item.kind == "block":  # a block whose inner layers kept no param list
            pnames = dict.fromkeys(p for p in graph.params if p.startswith(item.name + "."))
        params = [graph.params[p] for p in pnames if p in graph.params]
        op = item.info.op + (f" x{item.info.repeat}" if item.info.repeat else "")
        rows.append({"layer": item.name, "op": op,
                     "output": ", ".join(str(values[o].type) for o in item.info.outputs if o in values),
                     "params": int(sum(p.data.size for p in params)),
                     "trainable_params": int(sum(p.data.size for p in params if p.trainable)),
                     "macs": 0, "flops": 0})
    uncounted: dict[str, None] = {}
    activation = 0
    for node in graph.nodes:
        macs, flops, known = node_cost(node)
        if not known:
            uncounted[node.op] = None
        activation += sum(nbytes(v.type) for v in node.outputs)
        i = row_of.get(node.layer, row_of.get(node.layer.split(".")[0]))
        if i is not None:
            rows[i]["macs"] += macs
            rows[i]["flops"] += flops
    symbolic = sorted({d for v in graph.values() for d in v.shape if isinstance(d, str)})
    peak = peak_memory(graph, nbytes)
    total = graph.param_count()
    trainable = graph.param_count(trainable_only=True)
    return {
        "model": graph.name, "layers": rows,
        "total_params": total, "trainable_params": trainable, "non_trainable_params": total - trainable,
        "param_bytes": int(sum(p.data.nbytes for p in graph.params.values() if p.data is not None)),
        "macs": sum(r["macs"] for r in rows), "flops": sum(r["flops"] for r in rows),
        "peak_activation_bytes": peak.bytes, "peak_at": peak.node.layer or peak.node.name if peak.node else None,
        "activation_bytes": activation, "input_bytes": sum(nbytes(v.type) for v in graph.inputs),
        "symbolic_dims": symbolic, "uncounted_ops": list(uncounted),
    }


def summary_rows(graph: Graph) -> list[dict]:
    return summary_data(graph)["layers"]


def human_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} B" if unit == "B" else f"{n:,.2f} {unit}"
        n /= 1024
    return str(n)


def human_count(n: int) -> str:
    for value, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if n >= value:
            return f"{n / value:.2f}{unit}"
    return str(n)


def _totals(d: dict) -> list[str]:
    lines = [f"Total params: {d['total_params']:,}   trainable: {d['trainable_params']:,}   "
             f"non-trainable: {d['non_trainable_params']:,}",
             f"Parameter memory: {human_bytes(d['param_bytes'])}",
             f"MACs per example: {d['macs']:,} ({human_count(d['macs'])})",
             f"FLOPs per example: {d['flops']:,} ({human_count(d['flops'])}; 2 x MACs + bias adds + other ops)",
             f"Peak activation memory per example: {human_bytes(d['peak_activation_bytes'])} "
             f"(live tensors at the worst point of the schedule" + (f", at {d['peak_at']}" if d["peak_at"] else "")
             + f"; every op output {human_bytes(d['activation_bytes'])}; inputs {human_bytes(d['input_bytes'])})"]
    if d["symbolic_dims"]:
        lines.append(f"Symbolic dims counted as 1: {', '.join(d['symbolic_dims'])}")
    if d["uncounted_ops"]:
        lines.append(f"No FLOP rule (counted 0): {', '.join(d['uncounted_ops'])}")
    return lines


def summarize(graph: Graph, fmt: str = "table") -> str:
    d = summary_data(graph)
    if fmt == "json":
        return json.dumps(d, indent=2)
    header = ("layer", "op", "output shape", "params", "MACs", "FLOPs")
    table = [(r["layer"], r["op"], r["output"], f"{r['params']:,}", f"{r['macs']:,}", f"{r['flops']:,}")
             for r in d["layers"]]
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|---|---|---|---:|---:|---:|"]
        lines += ["| " + " | ".join(x.replace("|", "\\|") for x in row) + " |" for row in table]
        return "\n".join(lines + [""] + [f"- {line}" for line in _totals(d)])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *table)]

    def fmt_row(row) -> str:
        return "  ".join(str(x).ljust(w) if i < 3 else str(x).rjust(w) for i, (x, w) in enumerate(zip(row, widths)))

    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
    lines = [f"Model: {graph.name}", rule, fmt_row(header), rule] + [fmt_row(r) for r in table] + [rule]
    return "\n".join(lines + _totals(d))
