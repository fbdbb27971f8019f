"""`graphc serve spec.yaml [--port 8000] [--host 127.0.0.1] [--run DIR]`: the viewer, live."""

from __future__ import annotations

import os

from graphc.commands.load import load_graph
from graphc.errors import GraphcError
from graphc.viewer.serve import PageSource, serve


def serve_command(args) -> int:
    if not os.path.exists(args.spec):
        raise GraphcError(f"no such file: {args.spec}")
    run_dir = args.run
    if args.run and not os.path.isdir(args.run):
        raise GraphcError(f"no run folder {args.run} (graphc train writes runs/<spec name>/)")
    source = PageSource(args.spec, lambda: load_graph(args), run_dir, args.rankdir)
    return serve(source, args.host, args.port)
