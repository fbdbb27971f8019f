"""`gc.Model(name, inputs=..., outputs=...)`: the traced layers written as a spec, then built as YAML is.

The spec is the one a hand-written YAML file would hold (layers in creation order, names and
`in:` only where YAML's defaults differ), so `Model.to_yaml()` loads back to the same graph.
"""

from __future__ import annotations

from typing import Any

from graphc.errors import Location, SpecError
from graphc.functional.trace import (
    LayerRecord,
    body_of,
    Tensor,
    caller_loc,
    locmap,
    locmap_body,
    new_session,
)
from graphc.spec.build import Spec
from graphc.spec.yaml_loader import LocMap
from graphc.training.config import TRAINING_KEYS
from graphc.spec.build import IDENT, ident_like
from graphc.functional.trace import plain
from graphc.errors import did_you_mean
from graphc.util.walk import post_order


def functional_spec(name: str, inputs: Any, outputs: Any, doc: str | None = None,
                    spec_name: str | None = None, seed: int = 0) -> tuple[Spec, str]:
    """The Spec (and model name) of `gc.Model(name, inputs=[...], outputs=[...])`."""
    loc = caller_loc()

    if not isinstance(name, str) or not IDENT.match(name):
        raise SpecError(f"a model name must be an identifier (letters, digits, _), got {name!r}", loc,
                        f"rename it, like '{ident_like(name)}'")
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
    for b in post_order(block, lambda b: list(b.blocks.values())):  # the blocks it uses first
        blocks.setdefault(b.name, b.locmap)


def training_section(kwargs: dict[str, Any], loc: Location) -> LocMap:
    """`model.training(...)` arguments -> the `training:` mapping (shorthands as graphc.dsl had)."""

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

    return locmap(plain(section), loc)
