"""A small Python DSL that writes graphc specs.

    from graphc.dsl import Spec

    spec = (Spec("mlp", params={"width": 64})
            .input("x", ["N", 784])
            .dense(units="$width", activation="relu")
            .dense(units=10, name="logits"))
    print(spec.to_yaml())     # the same spec, as YAML
    model = spec.build()      # a graphc.Model, exactly as graphc.loads(spec.to_yaml())

Every layer or public op is a method (`.conv2d(filters=8, kernel=3)`, `.add(in_=["a", "b"])`);
`.layer(op, **attrs)` is the general form (blocks, models). `in` is spelled `in_`. Errors are
the usual `graphc.SpecError`s, located in the text `to_yaml()` returns.
"""

from __future__ import annotations

from typing import Any, Callable

import yaml

__all__ = ["Block", "Spec"]


def _flow(value: Any) -> str:
    """One YAML value in flow style (`{units: 10, activation: relu}`, `[N, 784]`)."""
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10 ** 9).strip().removesuffix(
        "\n...").strip()


def _attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    return {("in" if k == "in_" else k): v for k, v in attrs.items() if v is not None}


class _Layers:
    """What specs, blocks and models share: an ordered list of layers, and op methods."""

    def __init__(self) -> None:
        self._layers: list[tuple[str, dict[str, Any]]] = []
        self._outputs: list[str] | None = None

    def layer(self, op: str, **attrs: Any):
        """Append a layer (`in_=` gives `in:`)."""
        self._layers.append((op, _attrs(attrs)))
        return self

    def output(self, *names: str):
        """Declare the outputs (default: the last layer)."""
        self._outputs = list(names)
        return self

    def __getattr__(self, op: str) -> Callable[..., Any]:
        from graphc.layers import LAYERS
        from graphc.ops import OPS

        if op.startswith("_") or not (op in LAYERS or (op in OPS and OPS[op].public)):
            raise AttributeError(op)
        return lambda **attrs: self.layer(op, **attrs)

    def _layer_lines(self, indent: str) -> list[str]:
        lines = [f"{indent}layers:"]
        for op, attrs in self._layers:
            lines.append(f"{indent}  - {op}: {_flow(attrs)}" if attrs else f"{indent}  - {op}:")
        if self._outputs is not None:
            lines.append(f"{indent}outputs: {_flow(self._outputs)}")
        return lines


class _WithInputs(_Layers):
    def __init__(self) -> None:
        super().__init__()
        self._inputs: dict[str, dict[str, Any]] = {}

    def input(self, name: str, shape: list, dtype: str = "float32"):
        """Declare an input: a shape of positive ints and symbolic names like "N"."""
        self._inputs[name] = {"shape": list(shape), "dtype": dtype}
        return self

    def _input_lines(self, indent: str) -> list[str]:
        return [f"{indent}inputs:"] + [f"{indent}  {n}: {_flow(v)}" for n, v in self._inputs.items()]


class Block(_Layers):
    """A reusable block: `Block("res", inputs=["x"], params={"w": 8}).dense(units="$w")`."""

    def __init__(self, name: str, inputs: list[str] | None = None, params: dict[str, Any] | None = None):
        super().__init__()
        self.name, self.inputs, self.params = name, list(inputs or ["x"]), dict(params or {})

    def _lines(self) -> list[str]:
        lines = [f"  {self.name}:"]
        if self.params:
            lines.append(f"    params: {_flow(self.params)}")
        lines.append(f"    inputs: {_flow(self.inputs)}")
        return lines + self._layer_lines("    ")


class _Model(_WithInputs):
    def __init__(self, name: str):
        super().__init__()
        self.name = name


class Spec(_WithInputs):
    """A whole spec, built step by step; `to_yaml()` writes it, `build()` compiles it."""

    def __init__(self, name: str, params: dict[str, Any] | None = None, doc: str | None = None):
        super().__init__()
        self.name, self.params, self.doc = name, dict(params or {}), doc
        self._blocks: list[Block] = []
        self._models: list[_Model] = []

    def block(self, block: Block) -> "Spec":
        """Add a block, usable as a layer by its name: `.layer("res", repeat=3)`."""
        self._blocks.append(block)
        return self

    def model(self, name: str) -> _Model:
        """Start one model of a several-models spec; returns it (with .input/.layer/...)."""
        model = _Model(name)
        self._models.append(model)
        return model

    def to_yaml(self) -> str:
        """The spec as YAML text, in the style of the spec-language examples."""
        lines = ["graphc: 1", f"name: {self.name}"]
        if self.doc:
            lines.append(f"doc: {_flow(self.doc)}")
        if self.params:
            lines.append(f"params: {_flow(self.params)}")
        if self._blocks:
            lines.append("blocks:")
            for block in self._blocks:
                lines += block._lines()
        if self._models:
            lines.append("models:")
            for model in self._models:
                lines += [f"  {model.name}:"] + model._input_lines("    ") + model._layer_lines("    ")
        else:
            lines += self._input_lines("") + self._layer_lines("")
        return "\n".join(lines) + "\n"

    def save(self, path: str) -> str:
        """Write the YAML spec (atomically); returns the path."""
        from graphc.util.atomic import write_bytes

        write_bytes(path, self.to_yaml().encode())
        return path

    def build(self, params: dict[str, Any] | None = None, seed: int = 0, model: str | None = None):
        """Compile into a `graphc.Model` (params override the spec's params, as --set)."""
        from graphc.api import loads

        return loads(self.to_yaml(), params, seed, model, file=f"<dsl {self.name}>")
