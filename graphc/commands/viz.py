"""`graphc viz`: draw a spec or an ONNX file, or write the interactive viewer page (`-o x.html`)."""

from __future__ import annotations

import sys

from graphc.commands.load import load_graph, out_path
from graphc.errors import GraphcError
from graphc.viz.render import output_format, render
from graphc.viz.views import ViewOptions, build_passes_view, build_view
from graphc.viewer.html import write_html
from graphc.onnx_in.scopes import view_depth


def html_command(graph, path: str, args) -> int:
    """`graphc viz spec.yaml -o model.html [--run DIR]`: the interactive page."""
    write_html(graph, path, args.spec, getattr(args, "run", None), args.rankdir)
    print(f"wrote {path}")
    return 0


def viz_command(args) -> int:
    graph = load_graph(args)
    path = out_path(args, ".svg")
    if path.lower().endswith((".html", ".htm")):
        return html_command(graph, path, args)
    if getattr(args, "run", None):
        raise GraphcError("--run needs an .html output (-o model.html): the run's curves are shown beside the model")
    output_format(path)  # a bad extension fails before any work
    level = args.level
    depth = args.depth
    if depth is None and graph.metadata.get("imported_from") == "onnx":
        depth = view_depth(graph)  # an imported model: one screen of module boxes
    opts = ViewOptions(level=level, depth=depth, expand=args.expand, rankdir=args.rankdir)
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
