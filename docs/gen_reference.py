"""Regenerate the layer and op tables of docs/spec-language.md from graphc's registries.

    python docs/gen_reference.py           # rewrite the generated section
    python docs/gen_reference.py --check   # exit 1 if the committed doc is out of date

The section between the BEGIN/END markers is rewritten from `graphc.layers.LAYERS` (attrs,
doc, param_doc, outputs) and the public ops of `graphc.ops.OPS` (attrs, doc, inputs, outputs).
"""

from __future__ import annotations

import os
import sys
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join(HERE, "spec-language.md")
BEGIN = "<!-- BEGIN GENERATED REFERENCE (python docs/gen_reference.py) -->"
END = "<!-- END GENERATED REFERENCE -->"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _default(value: Any) -> str:
    from graphc.ops.registry import REQUIRED

    if value is REQUIRED:
        return "**required**"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, str):
        return f"`{value}`"
    return f"`{value!r}`"


def _attrs(attrs: dict[str, Any]) -> str:
    return ", ".join(f"`{k}`: {_default(v)}" for k, v in attrs.items()) or "none"


def _outputs(names: tuple[str, ...]) -> str:
    if any(n.endswith("*") for n in names):
        return "`.0`, `.1`, ... (one per part)"
    if len(names) <= 1:
        return "one"
    return ", ".join(f"`.{n}`" for n in names) + " (without a suffix: the first)"


def _inputs(names: tuple[str, ...]) -> str:
    if not names:
        return "none"
    return ", ".join(f"{n.rstrip('*')}..." if n.endswith("*") else n for n in names)


def generate() -> str:
    """The generated section, markers included."""
    from graphc.layers import LAYERS
    from graphc.ops import OPS

    out = [BEGIN, "", "### Layers", "",
           "Layers own parameters or have a spec-level meaning; a layer's parameters are named "
           "`<layer name>.<param>`.", ""]
    for name in sorted(LAYERS):
        d = LAYERS[name]
        out += [f"#### `{name}`", "", _cell(d.doc or "(undocumented)"), "",
                "| | |", "|---|---|",
                f"| attributes | {_cell(_attrs(d.attrs))} |",
                f"| inputs | {_cell(_inputs(d.inputs))} |",
                f"| outputs | {_cell(_outputs(d.outputs))} |",
                f"| parameters | {_cell(d.param_doc or 'none')} |", ""]
    out += ["### Primitive ops", "",
            "Usable as layers under their own name (a layer of the same name takes precedence). They "
            "have no parameters; numbers in `in:` are constants. Grouped by family.", "",
            "| op | inputs | attributes (defaults) | outputs | what it computes |",
            "|---|---|---|---|---|"]
    public = [d for n, d in OPS.items() if d.public and n not in LAYERS]
    for d in sorted(public, key=lambda d: (d.family, d.name)):
        out.append(f"| `{d.name}` | {_cell(_inputs(d.inputs))} | {_cell(_attrs(d.attrs))} | "
                   f"{_cell(_outputs(d.outputs))} | {_cell(d.doc)} |")
    shadowed = sorted(n for n, d in OPS.items() if d.public and n in LAYERS)
    if shadowed:
        out += ["", "Also ops, but used in specs as the layers above: " + ", ".join(f"`{n}`" for n in shadowed)
                + "."]
    out += ["", END]
    return "\n".join(out)


def render(text: str) -> str:
    """The doc text with its generated section replaced."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"{DOC}: markers {BEGIN!r} ... {END!r} not found")
    return text[:start] + generate() + text[end + len(END):]


def main(argv: list[str]) -> int:
    sys.path.insert(0, os.path.dirname(HERE))
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    new = render(text)
    if "--check" in argv:
        if new != text:
            print(f"{DOC} is out of date: run python docs/gen_reference.py", file=sys.stderr)
            return 1
        return 0
    if new != text:
        from graphc.util.atomic import write_bytes

        write_bytes(DOC, new.encode("utf-8"))
        print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
