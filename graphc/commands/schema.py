"""`graphc schema [-o FILE]`: the JSON Schema of the spec language (graphc/editor/schema.py)."""

from __future__ import annotations

from graphc.editor.schema import schema_text
from graphc.util.atomic import write_bytes


def schema_command(args) -> int:
    text = schema_text()
    if args.output:
        write_bytes(args.output, text.encode())
        print(f"wrote {args.output}")
    else:
        print(text, end="")
    return 0
