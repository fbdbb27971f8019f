"""`graphc viz`: draw a spec or an ONNX file."""

from __future__ import annotations

import sys

from graphc.commands.load import load_graph, out_path
from graphc.errors import GraphcError
from graphc.viz.render import output_format, render
from graphc.viz.views import ViewOptions, build_passes_view, build_view


def viz_command(args) -> int:
    graph = load_graph(args)
    path = out_path(args, ".svg")
    output_format(path)  # a bad extension fails before any work
    level = args.level
    if graph.metadata.get("imported_from") == "onnx" and (level == "grad" or args.passes):
        what = "--level grad" if level == "grad" else "--passes"
        raise GraphcError(f"{what} needs a spec: a graph read from an ONNX file keeps ONNX ops and is only drawn "
                          f"(use --level layer or op)")
    opts = ViewOptions(level=level, depth=args.depth, expand=args.expand, rankdir=args.rankdir)
    if args.passes:
        if level == "layer":
            opts.level = "op"  # passes rewrite primitive nodes: the op view shows what changed
        view = build_passes_view(graph, opts)
    else:
        view = build_view(graph, opts)
    written, message = render(view.dot, path)
    for note in view.notes[:6]:
        print(f"note: {note}", file=sys.stderr)
    if view.notes and not args.expand:
        print("note: pass --expand to draw every layer", file=sys.stderr)
    if message:
        print(message)
    else:
        print(f"wrote {written}")
    return 0
