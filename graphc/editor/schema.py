"""A JSON Schema (draft 2020-12) of the spec language, generated from the op and layer registries.

`graphc schema -o graphc.schema.json` writes it; YAML editors (yaml-language-server, VS Code's
YAML extension) use it to complete and check specs (docs/editors.md). It checks structure and
attribute types; shapes, references and `$param` values are graphc's own checks (`graphc check`,
`graphc lsp`). Without `blocks:` or `models:` every layer must be a known op (an if/then rule).
"""

from __future__ import annotations

import json
from typing import Any

from graphc.ir.types import DTYPES
from graphc.ops.registry import REQUIRED
from graphc.training.config import ( DATA_KEYS, DATASETS, GAN_KEYS, LOSSES, METRICS, OPTIMIZERS, TRAINING_KEYS, )
from graphc.spec.build import BLOCK_KEYS, MODEL_KEYS, TOP_KEYS
from graphc.ops.registry import activations
from graphc.ops import OPS
from graphc.layers.base import LAYERS

SCHEMA_ID = "https://graphc.dev/graphc.schema.json"
IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"
DOTTED = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$"
PARAM = {"type": "string", "pattern": r"\$[A-Za-z_]", "description": "a $param or an expression over $params"}

# What common attributes mean (the registry holds names and defaults; these words are for editors).
ATTR_DOCS = {
    "units": "output features (the last axis)", "filters": "output channels", "kernel": "kernel size (n or [h, w])",
    "stride": "stride (n or [h, w])", "padding": "padding: n, [h, w], same or valid", "dilation": "dilation",
    "groups": "channel groups", "bias": "add a learned bias", "activation": "activation applied after the layer",
    "size": "pooling window", "rate": "drop probability (training only)", "eps": "added to the variance",
    "momentum": "running-statistics momentum", "vocab": "vocabulary size", "dim": "width",
    "hidden": "hidden size", "layers": "stacked layers", "bidirectional": "run both directions",
    "heads": "attention heads", "causal": "mask future positions", "axis": "axis", "shape": "target shape "
    "(0 keeps a dim, -1 infers one)", "alpha": "slope for negative inputs", "to": "target dtype",
    "dtype": "dtype", "value": "the constant's value", "perm": "axis permutation", "num": "number of parts",
    "sizes": "part sizes", "scale": "upsampling factor", "keepdims": "keep reduced axes",
}


def _attr_schema(op: str, key: str, default: Any, is_layer: bool) -> dict[str, Any]:
    ACTIVATIONS = activations()

    desc = ATTR_DOCS.get(key, key)
    default_text = "required" if default is REQUIRED else f"default {json.dumps(default)}"
    out: dict[str, Any] = {"description": f"{op}.{key}: {desc} ({default_text})"}
    if default is not REQUIRED:
        out["default"] = default
    if key in ("to", "dtype"):
        kind: dict[str, Any] = {"enum": list(DTYPES)}
    elif key == "activation":
        kind = {"enum": [*ACTIVATIONS, "none", None]}
    elif isinstance(default, bool):
        kind = {"type": "boolean"}
    elif isinstance(default, float):
        kind = {"type": "number"}
    elif key in ("units", "filters", "vocab", "hidden", "heads", "stride", "size", "dim"):
        kind = {"type": "integer", "minimum": 1} if key not in ("stride", "size") else \
            {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "array", "items": {"type": "integer", "minimum": 1}}]}
    elif (isinstance(default, int) and not is_layer
                                                                      and key not in ("axis",)):
        kind = {"type": "integer"}
    elif key in ("perm", "axes", "starts", "ends", "steps", "sizes"):
        kind = {"type": "array", "items": {"type": "integer"}}
    elif key == "shape":  # reshape: ints (0 keeps a dim, -1 infers one) or symbolic dims of the input
        kind = {"type": "array", "items": {"anyOf": [{"type": "integer", "minimum": -1},
                                                     {"type": "string", "pattern": IDENT}]}}
    elif key in ("padding", "output_padding"):
        kind = {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "array", "items": {"type": "integer"}},
                          {"enum": ["same", "valid"]}]}
    elif key in ("kernel", "dilation", "groups", "layers", "depth", "scale"):
        kind = {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "array", "items": {"type": "integer"}}]}
    elif key == "axis":
        kind = {"anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}]}
    elif key in ("rate",):
        kind = {"type": "number", "minimum": 0, "exclusiveMaximum": 1}
    elif key == "seed":
        kind = {"type": "integer"}
    elif key == "value":
        kind = {"anyOf": [{"type": ["number", "boolean"]}, {"type": "array"}]}
    else:
        return out
    if default is None and key not in ("activation",):
        kind = {"anyOf": [kind, {"type": "null"}]}
    out["anyOf"] = [kind, PARAM]
    return out


def _op_schema(op: str, definition: Any, is_layer: bool) -> dict[str, Any]:
    props: dict[str, Any] = {
        "name": {"type": "string", "pattern": DOTTED, "description": f"the layer's name (default {op}_<k>)"},
        "in": {"$ref": "#/$defs/in"},
    }
    required = []
    for key, default in definition.attrs.items():
        props[key] = _attr_schema(op, key, default, is_layer)
        if default is REQUIRED:
            required.append(key)
    schema: dict[str, Any] = {"description": (definition.doc or op).strip(), "markdownDescription":
                              f"**{op}** ({'layer' if is_layer else 'op'}): {(definition.doc or '').strip()}",
                              "properties": props, "additionalProperties": False}
    if required:
        schema["type"] = "object"
        schema["required"] = required
    else:
        schema["type"] = ["object", "null"]
    return schema


def _ops() -> dict[str, dict[str, Any]]:

    out = {name: _op_schema(name, d, True) for name, d in LAYERS.items()}
    for name, d in OPS.items():
        if d.public and name not in out:
            out[name] = _op_schema(name, d, False)
    return dict(sorted(out.items()))


def _training() -> dict[str, Any]:
    one_of = lambda names, what: {"type": "object", "minProperties": 1, "maxProperties": 1,
                                  "propertyNames": {"enum": sorted(names)}, "description": what}
    props: dict[str, Any] = {key: {} for key in TRAINING_KEYS}
    props.update({
        "model": {"type": "string", "description": "the model of the spec to train (default: the first)"},
        "data": {"type": "object", "propertyNames": {"enum": list(DATA_KEYS)},
                 "properties": {"dataset": {"enum": list(DATASETS)}, "npz": {"type": "string"}},
                 "description": "{dataset: digits} (bundled) or {npz: path.npz}"},
        "loss": {"anyOf": [{"type": "string"}, one_of(LOSSES, "one loss: {cross_entropy: {logits: .., target: ..}}"),
                           {"type": "array", "items": {"type": "object"}}]},
        "optimizer": {"anyOf": [{"enum": sorted(OPTIMIZERS)}, one_of(OPTIMIZERS, "{adam: {lr: 0.001}}")]},
        "metrics": {"type": "array", "items": {"enum": list(METRICS)}},
        "batch_size": {"anyOf": [{"type": "integer", "minimum": 1}, PARAM]},
        "epochs": {"anyOf": [{"type": "integer", "minimum": 1}, PARAM]},
        "seed": {"anyOf": [{"type": "integer"}, PARAM]},
        "shuffle": {"type": "boolean"},
        "gan": {"type": "object", "propertyNames": {"enum": list(GAN_KEYS)}},
    })
    return {"type": "object", "properties": props, "additionalProperties": False,
            "description": "how to train (docs/training.md)"}


def build_schema() -> dict[str, Any]:
    """The whole schema as a dict."""

    ops = _ops()
    dim = {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": IDENT}, PARAM]}
    shape = {"type": "array", "items": dim}
    free_attrs = {"type": ["object", "null"], "description": "a block or a model of this spec used as a layer",
                  "properties": {"name": ops["dense"]["properties"]["name"], "in": {"$ref": "#/$defs/in"},
                                 "repeat": {"anyOf": [{"type": "integer", "minimum": 1}, PARAM],
                                            "description": "chained copies of a block"}}}
    layer = {"type": "object", "minProperties": 1, "maxProperties": 1,
             "description": "one layer: {op: {attributes}}",
             "properties": {k: {"$ref": f"#/$defs/op_{k}"} for k in ops}}
    body_layers = {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/layer"}}
    inputs = {"type": "object", "propertyNames": {"pattern": IDENT},
              "additionalProperties": {"anyOf": [shape, {"type": "object", "required": ["shape"],
                                                         "additionalProperties": False,
                                                         "properties": {"shape": shape,
                                                                        "dtype": {"enum": list(DTYPES)}}}]}}
    outputs = {"anyOf": [{"type": "string"}, {"type": "array", "minItems": 1, "items": {"type": "string"}}]}
    model = {"type": "object", "required": ["inputs", "layers"], "additionalProperties": False,
             "properties": {"inputs": {"$ref": "#/$defs/inputs"}, "layers": body_layers,
                            "outputs": {"$ref": "#/$defs/outputs"}, "doc": {"type": "string"}}}
    block = {"type": "object", "required": ["layers"], "additionalProperties": False,
             "properties": {"params": {"type": "object"}, "inputs": {"type": "array", "minItems": 1,
                                                                      "items": {"type": "string", "pattern": IDENT}},
                            "layers": body_layers, "outputs": {"$ref": "#/$defs/outputs"},
                            "doc": {"type": "string"}}}
    assert set(model["properties"]) == set(MODEL_KEYS) and set(block["properties"]) == set(BLOCK_KEYS)
    top = {"graphc": {"const": 1, "description": "spec language version"},
           "name": {"type": "string", "pattern": IDENT, "description": "the model's name (the ONNX graph name)"},
           "doc": {"type": "string"}, "params": {"type": "object", "propertyNames": {"pattern": IDENT},
                                                 "description": "spec parameters, used as $name; --set overrides"},
           "inputs": {"$ref": "#/$defs/inputs"}, "layers": body_layers, "outputs": {"$ref": "#/$defs/outputs"},
           "blocks": {"type": "object", "propertyNames": {"pattern": IDENT, "not": {"enum": list(ops)}},
                      "additionalProperties": {"$ref": "#/$defs/block"}},
           "models": {"type": "object", "minProperties": 1, "propertyNames": {"pattern": IDENT},
                      "additionalProperties": {"$ref": "#/$defs/model"}},
           "training": {"$ref": "#/$defs/training"}}
    assert set(top) == set(TOP_KEYS)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "graphc spec",
        "description": "A graphc spec (docs/spec-language.md), generated by `graphc schema`.",
        "type": "object",
        "required": ["graphc", "name"],
        "additionalProperties": False,
        "properties": top,
        "allOf": [
            {"if": {"required": ["models"]},
             "then": {"not": {"anyOf": [{"required": ["layers"]}, {"required": ["inputs"]}]}},
             "else": {"required": ["inputs", "layers"]}},
            {"if": {"not": {"anyOf": [{"required": ["blocks"]}, {"required": ["models"]}]}},
             "then": {"properties": {"layers": {"items": {"$ref": "#/$defs/known_layer"}}}}},
        ],
        "$defs": {
            **{f"op_{k}": v for k, v in ops.items()},
            "layer": {**layer, "additionalProperties": {"$ref": "#/$defs/custom_attrs"}},
            "known_layer": {**layer, "additionalProperties": False,
                            "description": "one layer of a spec without blocks or models: a known op"},
            "custom_attrs": free_attrs,
            "in": {"anyOf": [{"type": "string"}, {"type": "number"},
                             {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "number"}]}}],
                   "description": "input(s): names of inputs or earlier layers (layer.0, lstm.h), or numbers"},
            "inputs": inputs, "outputs": outputs, "model": model, "block": block, "training": _training(),
        },
    }


def schema_text() -> str:
    return json.dumps(build_schema(), indent=1, sort_keys=False) + "\n"
