"""`graphc lsp`: the language server on stdio (graphc/editor/lsp.py); needs the `lsp` extra."""

from __future__ import annotations

import sys
from graphc.editor.lsp import make_server


def lsp_command(args) -> int:
    """Run the server; without pygls, one line saying what to install (exit 2)."""
    try:
        import lsprotocol  # noqa: F401
        import pygls  # noqa: F401
    except ImportError:
        print("graphc lsp needs pygls: pip install 'graphc[lsp]'", file=sys.stderr)
        return 2

    make_server().start_io()
    return 0
