"""`gc.Model(name, inputs=..., outputs=...)`: the traced layers written as a spec, then built as YAML is.

The spec is the one a hand-written YAML file would hold (layers in creation order, names and
`in:` only where YAML's defaults differ), so `Model.to_yaml()` loads back to the same graph.
"""

from __future__ import annotations

from typing import Any

from graphc.errors import Location, SpecError
from graphc.functional.trace import (
    LayerRecord,
    Tensor,
    caller_loc,
    locmap,
    locmap_body,
    new_session,
)
from graphc.spec.build import Spec
from graphc.spec.yaml_loader import LocMap


def _layers_between(inputs: list[Tensor], outputs: list[Tensor], loc: Location) -> list[LayerRecord]:
    """The layers the outputs depend on, back to the inputs, in creation order."""
    allowed = {id(t) for t in inputs}
    seen: dict[int, LayerRecord] = {}
    stack = list(outputs)
    while stack:
        t = stack.pop()
        if not isinstance(t, Tensor) or id(t) in allowed:
            continue
        if t.producer is None:
            names = ", ".join(i.name for i in inputs) or "none"
            raise SpecError(f"the outputs depend on input '{t.name}', which is not in inputs=[{names}]", loc,
                            f"add it: inputs=[..., {t.name}]")
        record = t.producer
        if id(record) not in seen:
            seen[id(record)] = record
            stack.extend(record.inputs)
    return sorted(seen.values(), key=lambda r: r.index)


def body_of(inputs: list[Tensor], outputs: list[Tensor], doc: str | None, block: bool = False,
            loc: Location | None = None) -> dict:
    """The YAML body of a model (or block): inputs, layers, outputs; `_locs` holds each layer's place."""
    loc = loc or Location("<python>", 1, 1)
    layers = _layers_between(inputs, outputs, loc)
    body: dict[str, Any] = {}
    if doc:
        body["doc"] = doc
    if block:
        body["inputs"] = [t.name for t in inputs]
    else:
        body["inputs"] = {t.name: dict(t.input_decl) for t in inputs}
    items, locs, counts = [], [], {}
    previous: str | None = inputs[0].name if len(inputs) == 1 else None
    for record in layers:
        counts[record.op] = counts.get(record.op, 0) + 1
        attrs = dict(record.attrs)
        refs = [t.name if isinstance(t, Tensor) else t for t in record.inputs]
        if not (len(refs) == 1 and refs[0] == previous) and refs:
            attrs["in"] = refs[0] if len(refs) == 1 else refs
        if record.name != f"{record.op}_{counts[record.op]}":
            attrs["name"] = record.name
        items.append({record.op: attrs or None})
        locs.append(record.loc)
        previous = record.name
    body["layers"] = items
    out_refs = [t.name for t in outputs]
    if not (len(out_refs) == 1 and layers and out_refs[0] == layers[-1].name):
        body["outputs"] = out_refs
    body["_locs"] = locs
    body["_records"] = layers
    return body


def functional_spec(name: str, inputs: Any, outputs: Any, doc: str | None = None,
                    spec_name: str | None = None, seed: int = 0) -> tuple[Spec, str]:
    """The Spec (and model name) of `gc.Model(name, inputs=[...], outputs=[...])`."""
    loc = caller_loc()
    from graphc.spec.build import IDENT

    if not isinstance(name, str) or not IDENT.match(name):
        raise SpecError(f"a model name must be an identifier (letters, digits, _), got {name!r}", loc)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs or [])
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs or [])
    for what, tensors in (("inputs", inputs), ("outputs", outputs)):
        if not tensors:
            raise SpecError(f"gc.Model {name}: {what}= is empty", loc)
        for t in tensors:
            if not isinstance(t, Tensor):
                raise SpecError(f"gc.Model {name}: {what} must be graphc tensors, got {t!r}", loc)
    for t in inputs:
        if t.input_decl is None or t.producer is not None:
            raise SpecError(f"gc.Model {name}: inputs must come from gc.Input, '{t.name}' is a layer", loc)
    names = [t.name for t in inputs]
    if len(set(names)) != len(names):
        raise SpecError(f"gc.Model {name}: two inputs are named '{next(n for n in names if names.count(n) > 1)}'", loc)
    try:
        body = body_of(inputs, outputs, doc, loc=loc)
    finally:
        new_session()
    records: list[LayerRecord] = body.pop("_records")
    models: dict[str, LocMap] = {}
    blocks: dict[str, LocMap] = {}
    raw_models: dict[str, dict] = {}
    for record in records:
        if record.block is not None:
            _add_blocks(record.block, blocks)
        if record.model is not None:
            for mname, mbody in record.model.spec.models.items():
                models.setdefault(mname, mbody)
            for bname, bbody in record.model.spec.blocks.items():
                blocks.setdefault(bname, bbody)
    if name in models:
        raise SpecError(f"gc.Model {name}: a model it uses has the same name", loc)
    own = locmap_body(body, loc)
    multi = bool(models)
    raw_models[name] = own
    spec = Spec(loc.file, "", spec_name or name, doc or "", {}, blocks, {name: own, **models}, None, seed, multi,
                loc, {})
    return spec, name


def _add_blocks(block, blocks: dict[str, LocMap]) -> None:
    for inner in block.blocks.values():
        _add_blocks(inner, blocks)
    blocks.setdefault(block.name, block.locmap)


def training_section(kwargs: dict[str, Any], loc: Location) -> LocMap:
    """`model.training(...)` arguments -> the `training:` mapping (shorthands as graphc.dsl had)."""
    from graphc.errors import did_you_mean
    from graphc.training.config import TRAINING_KEYS

    section: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key not in TRAINING_KEYS:
            raise SpecError(f"unknown key '{key}' in training", loc,
                            did_you_mean(key, TRAINING_KEYS) or f"allowed: {', '.join(TRAINING_KEYS)}")
        if value is None:
            continue
        if key == "data" and isinstance(value, str):
            value = {"npz": value} if value.endswith(".npz") else {"dataset": value}
        if key == "validation" and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = {"split": value}
        section[key] = value
    from graphc.functional.trace import plain

    return locmap(plain(section), loc)
