"""What the language server knows about a spec's text: diagnostics, hover, completion, definition.

Plain functions of (text, position), without pygls, so they are easy to test and reuse. Lines and
columns here are 0-based (LSP's); graphc's Locations are 1-based.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from graphc.errors import Location, SpecError
from graphc.spec.yaml_loader import LocList, LocMap, load_yaml
from graphc.training.config import parse_training
from graphc.summary import node_cost
from graphc.spec.build import parse_spec
from graphc.ops.registry import REQUIRED
from graphc.ops import OPS
from graphc.layers.base import LAYERS
from graphc.editor.schema import build_schema

_WORD = re.compile(r"[\w.$]")
_ITEM = re.compile(r"^\s*-\s*([A-Za-z_]\w*)\s*:")


@dataclass
class Diagnostic:
    line: int
    col: int
    end_line: int
    end_col: int
    message: str
    source: str = "graphc"


@dataclass
class LayerFacts:
    """A layer for hover: its name, op, output shapes, parameters and FLOPs (all copies of a block layer)."""

    name: str
    op: str
    shape: str
    params: int
    flops: int
    copies: int = 1


@dataclass
class Analysis:
    """One version of a document: its parse (when the YAML reads), its models' layers, its diagnostics."""

    text: str
    root: Any = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    layers: dict[tuple[int, int], LayerFacts] = field(default_factory=dict)  # 1-based op key position -> facts


def _token_end(lines: list[str], line: int, col: int) -> int:
    text = lines[line] if 0 <= line < len(lines) else ""
    end = col
    while end < len(text) and text[end] not in ",:}] \t#":
        end += 1
    return max(end, col + 1)


def _diag(lines: list[str], loc: Location | None, message: str, source: str = "graphc") -> Diagnostic:
    line, col = (loc.line - 1, loc.col - 1) if loc is not None else (0, 0)
    return Diagnostic(line, col, line, _token_end(lines, line, col), message, source)


def _message(e: SpecError) -> str:
    return e.message + (f" ({e.hint})" if e.hint else "")


def _schema_loc(root: Any, error: Any) -> Location | None:
    node, loc = root, getattr(root, "loc", None)
    for step in error.absolute_path:
        if isinstance(node, LocMap) and step in node:
            loc, node = node.value_loc(step), node[step]
        elif isinstance(node, LocList) and isinstance(step, int) and step < len(node):
            loc, node = node.item_loc(step), node[step]
        else:
            break
    if error.validator == "additionalProperties" and isinstance(node, LocMap):
        allowed = set(error.schema.get("properties", {}))
        extra = [k for k in node if k not in allowed]
        if extra:
            return node.key_loc(extra[0])
    return loc


_VALIDATOR = None


def _schema_errors(root: Any, lines: list[str], skip_lines: set[int]) -> list[Diagnostic]:
    global _VALIDATOR
    try:
        import jsonschema
    except ImportError:
        return []
    if _VALIDATOR is None:
        _VALIDATOR = jsonschema.Draft202012Validator(build_schema())
    out = []
    for error in sorted(_VALIDATOR.iter_errors(root), key=lambda e: list(map(str, e.absolute_path)))[:20]:
        d = _diag(lines, _schema_loc(root, error), f"schema: {error.message}", "graphc schema")
        if d.line not in skip_lines:
            out.append(d)
            skip_lines.add(d.line)
    return out


def _facts(graph) -> dict[tuple[int, int], LayerFacts]:
    """Per spec position: the layer(s) built from it (block layers: every copy summed)."""

    flops: dict[str, int] = {}
    for node in graph.nodes:
        flops[node.layer] = flops.get(node.layer, 0) + node_cost(node)[1]
    values = {v.name: v for v in graph.values()}
    out: dict[tuple[int, int], LayerFacts] = {}
    for info in graph.layers:
        if info.loc is None:
            continue
        key = (info.loc.line, info.loc.col)
        inner = [k for k in flops if k == info.name or k.startswith(info.name + ".")]
        prefix = info.name + "."
        params = sum(p.data.size for p in graph.params.values() if p.name.startswith(prefix)) \
            if info.block else sum(graph.params[p].data.size for p in info.params if p in graph.params)
        shape = ", ".join(str(values[o].type) for o in info.outputs if o in values)
        facts = LayerFacts(info.name, info.op + (f" x{info.repeat}" if info.repeat else ""), shape, int(params),
                           int(sum(flops[k] for k in inner)))
        if key in out:  # another copy of a block's layer, or the same layer in another model
            first = out[key]
            first.copies += 1
            first.params += facts.params
            first.flops += facts.flops
        else:
            out[key] = facts
    return out


def analyze(text: str, file: str = "<spec>") -> Analysis:
    """Parse, schema-check, build every model and check the training section."""

    result = Analysis(text)
    lines = text.splitlines() or [""]
    try:
        result.root = load_yaml(text, file)
    except SpecError as e:
        result.diagnostics.append(_diag(lines, e.loc, _message(e)))
        return result
    first: set[int] = set()
    try:
        spec = parse_spec(text, file)
        for name in spec.models:
            result.layers.update(_facts(spec.build(name)))
        if spec.training is not None:
            parse_training(spec.training, spec.params, spec.loc)
    except SpecError as e:
        d = _diag(lines, e.loc, _message(e))
        result.diagnostics.append(d)
        first.add(d.line)
    except Exception as e:  # noqa: BLE001 - a bug in graphc must not stop the editor session
        result.diagnostics.append(Diagnostic(0, 0, 0, 1, f"graphc internal error: {type(e).__name__}: {e}"))
    result.diagnostics += _schema_errors(result.root, lines, first)
    return result


# -- positions ----------------------------------------------------------------------------------
def word_at(text: str, line: int, col: int) -> tuple[str, int, int]:
    """The word ([A-Za-z0-9_.$]) under a 0-based position, and its start and end columns."""
    lines = text.splitlines()
    if not 0 <= line < len(lines):
        return "", col, col
    s = lines[line]
    start = end = min(col, len(s))
    while start > 0 and _WORD.match(s[start - 1]):
        start -= 1
    while end < len(s) and _WORD.match(s[end]):
        end += 1
    return s[start:end], start, end


def _layer_lists(root: Any) -> list[tuple[LocList, Any]]:
    """Every `layers:` list with the body (model or block) it belongs to."""
    out = []
    if not isinstance(root, LocMap):
        return out
    bodies = [root]
    for key in ("models", "blocks"):
        if isinstance(root.get(key), LocMap):
            bodies += [b for b in root[key].values() if isinstance(b, LocMap)]
    for body in bodies:
        if isinstance(body.get("layers"), LocList):
            out.append((body["layers"], body))
    return out


def _item_at(root: Any, line1: int) -> tuple[LocList, Any, int] | None:
    """The layer item whose lines contain the 1-based line."""
    best = None
    for layers, body in _layer_lists(root):
        for i in range(len(layers)):
            start = layers.item_loc(i).line
            end = layers.item_loc(i + 1).line if i + 1 < len(layers) else None
            if start <= line1 and (end is None or line1 < end) and (best is None or start > best[3]):
                best = (layers, body, i, start)
    return best[:3] if best else None


def _op_docs(op: str) -> str | None:

    definition = LAYERS.get(op) or (OPS[op] if op in OPS and OPS[op].public else None)
    if definition is None:
        return None
    attrs = ", ".join(f"{k}" + ("" if v is REQUIRED else f"={v!r}") for k, v in definition.attrs.items())
    outs = " (outputs: " + ", ".join(definition.outputs) + ")" if len(definition.outputs) > 1 else ""
    kind = "layer" if op in LAYERS else "op"
    return f"**{op}** ({kind}): {(definition.doc or '').strip()}\n\nattributes: {attrs or 'none'}{outs}"


def hover(analysis: Analysis, line: int, col: int) -> str | None:
    """Markdown for a hover: an op's documentation, and a layer's output shape, parameters, FLOPs."""
    word, _, _ = word_at(analysis.text, line, col)
    parts = []
    docs = _op_docs(word) if word else None
    if docs:
        parts.append(docs)
    found = _item_at(analysis.root, line + 1)
    if found is not None:
        layers, _, i = found
        item = layers[i]
        if isinstance(item, LocMap) and item:
            op = next(iter(item))
            loc = item.key_loc(op)
            facts = analysis.layers.get((loc.line, loc.col))
            if facts is not None:
                copies = f" ({facts.copies} copies)" if facts.copies > 1 else ""
                parts.append(f"`{facts.name}` ({facts.op}){copies}: output `{facts.shape}`, "
                             f"{facts.params:,} parameters, {facts.flops:,} FLOPs")
    return "\n\n".join(parts) or None


# -- completion and definition --------------------------------------------------------------------
def _names_before(body: Any, layers: LocList, index: int) -> list[str]:
    """Inputs and the names of the layers before `index` (with output suffixes), as `in:` reads them."""

    names: list[str] = []
    inputs = body.get("inputs") if isinstance(body, LocMap) else None
    if isinstance(inputs, (LocMap, list)):
        names += [str(k) for k in inputs]
    counts: dict[str, int] = {}
    for i, item in enumerate(layers):
        if i >= index or not isinstance(item, LocMap) or len(item) != 1:
            continue
        op = str(next(iter(item)))
        counts[op] = counts.get(op, 0) + 1
        attrs = item[op] if isinstance(item[op], LocMap) else {}
        name = str(attrs.get("name", f"{op}_{counts[op]}"))
        names.append(name)
        if op in LAYERS and len(LAYERS[op].outputs) > 1:
            names += [f"{name}.{o}" for o in LAYERS[op].outputs]
    return names


def _current_op(text: str, line: int) -> str | None:
    lines = text.splitlines()
    for i in range(min(line, len(lines) - 1), -1, -1):
        m = _ITEM.match(lines[i])
        if m:
            return m.group(1)
        if i < line and lines[i].strip() and not lines[i].startswith((" ", "\t")):
            return None
    return None


def completions(analysis: Analysis, line: int, col: int) -> list[tuple[str, str, str]]:
    """(label, kind, detail) items: kind is op, block, model, attribute, reference or param."""

    lines = analysis.text.splitlines()
    current = lines[line] if 0 <= line < len(lines) else ""
    before = current[:col]
    root = analysis.root if isinstance(analysis.root, LocMap) else LocMap()
    if re.search(r"\$\w*$", before):
        params = dict(root.get("params") or {}) if isinstance(root.get("params"), dict) else {}
        for body in (root.get("blocks") or {}).values() if isinstance(root.get("blocks"), dict) else []:
            if isinstance(body, dict) and isinstance(body.get("params"), dict):
                params.update(body["params"])
        return [(f"${k}", "param", f"= {v!r}") for k, v in params.items()]
    if re.search(r"\bin:\s*(\[[^\]]*)?[\w.]*$", before):
        found = _item_at(root, line + 1)
        if found is None:
            return []
        layers, body, i = found
        return [(n, "reference", "input or earlier layer") for n in _names_before(body, layers, i)]
    if re.match(r"^\s*-\s*[\w]*$", before):
        items = [(k, "op", (LAYERS[k].doc or "").strip()[:80]) for k in sorted(LAYERS)]
        items += [(k, "op", (v.doc or "").strip()[:80]) for k, v in sorted(OPS.items()) if v.public and k not in LAYERS]
        for key, kind in (("blocks", "block"), ("models", "model")):
            if isinstance(root.get(key), dict):
                items += [(str(k), kind, f"{kind} of this spec") for k in root[key]]
        return items
    op = _current_op(analysis.text, line)
    if op is not None:
        definition = LAYERS.get(op) or OPS.get(op)
        reserved = [("name", "attribute", "the layer's name"), ("in", "attribute", "input(s)")]
        if definition is None:
            return reserved + [("repeat", "attribute", "chained copies of a block")]
        return reserved + [(k, "attribute", "required" if v is REQUIRED else f"default {v!r}")
                           for k, v in definition.attrs.items()]
    return []


def definition(analysis: Analysis, line: int, col: int) -> Location | None:
    """Where the name under the cursor is defined: an `in:` reference or a block/model use."""
    root = analysis.root
    if not isinstance(root, LocMap):
        return None
    word, _, _ = word_at(analysis.text, line, col)
    if not word:
        return None
    for key in ("blocks", "models"):
        group = root.get(key)
        if isinstance(group, LocMap) and word in group:
            return group.key_loc(word)
    found = _item_at(root, line + 1)
    if found is None:
        return None
    layers, body, _ = found
    base = word
    inputs = body.get("inputs") if isinstance(body, LocMap) else None
    counts: dict[str, int] = {}
    targets: dict[str, Location] = {}
    if isinstance(inputs, LocMap):
        targets.update({str(k): inputs.key_loc(k) for k in inputs})
    elif isinstance(inputs, LocList):
        targets.update({str(k): inputs.item_loc(i) for i, k in enumerate(inputs)})
    for i, item in enumerate(layers):
        if not isinstance(item, LocMap) or len(item) != 1:
            continue
        op = str(next(iter(item)))
        counts[op] = counts.get(op, 0) + 1
        attrs = item[op] if isinstance(item[op], LocMap) else {}
        targets[str(attrs.get("name", f"{op}_{counts[op]}"))] = item.key_loc(op)
    parts = base.split(".")
    for k in range(len(parts), 0, -1):
        name = ".".join(parts[:k])
        if name in targets:
            return targets[name]
    return None
