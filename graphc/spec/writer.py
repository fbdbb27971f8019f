"""Spec -> YAML text, in the style of the spec-language examples (one flow-style line per layer).

Used by `Model.to_yaml()` for specs from any front end; the text loads back to the same graph.
"""

from __future__ import annotations

from typing import Any

import yaml

from graphc.util.walk import rebuild


def _plain(value: Any) -> Any:
    """Plain dicts and lists with string keys, keys starting with `_` left out."""
    def split(v: Any):
        if isinstance(v, dict):
            keys = [str(k) for k in v if not str(k).startswith("_")]
            return [x for k, x in v.items() if not str(k).startswith("_")], lambda done: dict(zip(keys, done))
        if isinstance(v, list):
            return v, list
        return None
    return rebuild(value, split)


def flow(value: Any) -> str:
    """One YAML value in flow style (`{units: 10, activation: relu}`, `[N, 784]`)."""
    text = yaml.safe_dump(_plain(value), default_flow_style=True, sort_keys=False, width=10 ** 9)
    return text.strip().removesuffix("...").strip()


def _body_lines(body: dict, indent: str, block: bool) -> list[str]:
    lines = []
    if body.get("doc"):
        lines.append(f"{indent}doc: {flow(body['doc'])}")
    if block and body.get("params"):
        lines.append(f"{indent}params: {flow(body['params'])}")
    inputs = body.get("inputs")
    if block:
        lines.append(f"{indent}inputs: {flow(inputs if inputs is not None else ['x'])}")
    elif isinstance(inputs, dict):
        lines.append(f"{indent}inputs:")
        lines += [f"{indent}  {name}: {flow(decl)}" for name, decl in inputs.items()]
    else:
        lines.append(f"{indent}inputs: {flow(inputs)}")
    lines.append(f"{indent}layers:")
    for item in body.get("layers") or []:
        if isinstance(item, dict) and len(item) == 1:
            op, attrs = next(iter(item.items()))
            lines.append(f"{indent}  - {op}: {flow(attrs)}" if attrs else f"{indent}  - {op}:")
        else:
            lines.append(f"{indent}  - {flow(item)}")
    if "outputs" in body:
        lines.append(f"{indent}outputs: {flow(body['outputs'])}")
    return lines


def spec_to_yaml(spec, first: str | None = None) -> str:
    """The YAML text of a Spec (graphc.spec.build.Spec); model `first` is written first (the default)."""
    lines = ["graphc: 1", f"name: {flow(spec.name)}"]
    if spec.doc and not (not spec.multi and spec.models[next(iter(spec.models))].get("doc")):
        lines.append(f"doc: {flow(spec.doc)}")
    if spec.params:
        lines.append(f"params: {flow(spec.params)}")
    if spec.blocks:
        lines.append("blocks:")
        for name, body in spec.blocks.items():
            lines.append(f"  {name}:")
            lines += _body_lines(body, "    ", block=True)
    if spec.multi:
        names = list(spec.models)
        if first in spec.models:
            names = [first] + [n for n in names if n != first]
        lines.append("models:")
        for name in names:
            lines.append(f"  {name}:")
            lines += _body_lines(spec.models[name], "    ", block=False)
    else:
        lines += _body_lines(next(iter(spec.models.values())), "", block=False)
    if spec.training is not None:
        lines.append("training:")
        lines += [f"  {key}: {flow(value)}" for key, value in spec.training.items()]
    return "\n".join(lines) + "\n"
