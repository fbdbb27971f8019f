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

`.training(...)` writes the `training:` section (docs/training.md), keys in the documented order:

    spec.training(data="digits", loss={"cross_entropy": {"logits": "logits", "target": "label"}},
                  optimizer={"adam": {"lr": 0.001}}, batch_size=64, epochs=30)
    spec.build().fit()        # trains as `graphc train` would
"""

from __future__ import annotations

from typing import Any, Callable

import yaml
from graphc.api import loads
from graphc.layers import LAYERS
from graphc.ops import OPS
from graphc.util.atomic import write_bytes

__all__ = ["Block", "Spec"]


def _flow(value: Any) -> str:
    """One YAML value in flow style (`{units: 10, activation: relu}`, `[N, 784]`)."""
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10 ** 9).strip().removesuffix(
        "\n...").strip()


# The keys of `training:` in the order docs/training.md writes them (and `.training()` emits them).
TRAINING_ORDER = ("model", "gan", "data", "validation", "loss", "regularization", "optimizer", "clip_grad_norm",
                  "schedule", "batch_size", "epochs", "metrics", "early_stopping", "seed", "shuffle")


def _block_value(key: str, value: Any, indent: str) -> list[str]:
    """`key: value` in flow style; a list of mappings (several losses) as a block list."""
    if isinstance(value, list) and value and all(isinstance(v, dict) and v for v in value):
        lines = [f"{indent}{key}:"]
        for item in value:
            for i, (k, v) in enumerate(item.items()):
                lines.append(f"{indent}  {'- ' if i == 0 else '  '}{k}: {_flow(v)}")
        return lines
    return [f"{indent}{key}: {_flow(value)}"]


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
        self._training: dict[str, Any] | None = None

    def block(self, block: Block) -> "Spec":
        """Add a block, usable as a layer by its name: `.layer("res", repeat=3)`."""
        self._blocks.append(block)
        return self

    def training(self, data: str | dict[str, Any], loss: Any = None, optimizer: str | dict[str, Any] | None = None,
                 *, model: str | None = None, gan: dict[str, Any] | None = None,
                 validation: float | dict[str, Any] | None = None, regularization: dict[str, Any] | None = None,
                 clip_grad_norm: float | str | None = None, schedule: dict[str, Any] | None = None,
                 batch_size: int | str | None = None, epochs: int | str | None = None,
                 metrics: list[str] | None = None, early_stopping: dict[str, Any] | None = None,
                 seed: int | str | None = None, shuffle: bool | None = None) -> "Spec":
        """Set the `training:` section; every argument is the YAML key of that name (None: left
        out). Shorthands: `data="digits"` is `{dataset: digits}`, `data="x.npz"` is
        `{npz: x.npz}`, `validation=0.1` is `{split: 0.1}`; `loss=[...]` (several terms) is
        written as a block list. Values are checked when the spec is trained, as in YAML."""
        if isinstance(data, str):
            data = {"npz": data} if data.endswith(".npz") else {"dataset": data}
        if isinstance(validation, (int, float)) and not isinstance(validation, bool):
            validation = {"split": validation}
        given = dict(model=model, gan=gan, data=data, validation=validation, loss=loss,
                     regularization=regularization, optimizer=optimizer, clip_grad_norm=clip_grad_norm,
                     schedule=schedule, batch_size=batch_size, epochs=epochs, metrics=metrics,
                     early_stopping=early_stopping, seed=seed, shuffle=shuffle)
        self._training = {k: given[k] for k in TRAINING_ORDER if given[k] is not None}
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
        if self._training is not None:
            lines.append("training:")
            for key, value in self._training.items():
                lines += _block_value(key, value, "  ")
        return "\n".join(lines) + "\n"

    def save(self, path: str) -> str:
        """Write the YAML spec (atomically); returns the path."""
        write_bytes(path, self.to_yaml().encode())
        return path

    def build(self, params: dict[str, Any] | None = None, seed: int = 0, model: str | None = None):
        """Compile into a `graphc.Model` (params override the spec's params, as --set)."""
        return loads(self.to_yaml(), params, seed, model, file=f"<dsl {self.name}>")
