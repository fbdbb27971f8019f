"""`graphc summary`: per-layer shapes, parameters, FLOPs and memory of a spec or an .onnx file."""

from __future__ import annotations

from graphc.commands.load import load_graph
from graphc.summary import summarize


def summary_command(args) -> int:
    print(summarize(load_graph(args), args.format))
    return 0
