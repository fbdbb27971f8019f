"""The Python API: `graphc.load(path) -> Model` and what a Model can do."""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc.errors import SpecError
from graphc.ir.graph import Graph
from graphc.spec.build import Spec, load_spec, parse_spec


class Model:
    """One model of a spec, built into a checked graph, with its parameters."""

    def __init__(self, spec: Spec, model: str | None = None):
        self.spec = spec
        self.model_name = model or spec.default_model()
        self.graph: Graph = spec.build(self.model_name)
        self._session = None

    # -- construction -------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.graph.name

    @property
    def weights(self) -> dict[str, np.ndarray]:
        return {k: v.data for k, v in self.graph.params.items()}

    def load_weights(self, path: str) -> "Model":
        from graphc.runtime.weights import load_weights

        load_weights(self.graph, path)
        self._session = None
        return self

    def save_weights(self, path: str) -> None:
        from graphc.runtime.weights import save_weights

        save_weights(self.graph, path)

    # -- inspection ---------------------------------------------------------------------
    def check(self) -> list[tuple[str, str, str]]:
        """(layer, op, output shape) for every layer; building the model already checked every shape."""
        rows = []
        values = {v.name: v for v in self.graph.values()}
        for info in self.graph.layers:
            shapes = ", ".join(str(values[o].type) for o in info.outputs if o in values)
            rows.append((info.name, info.op, shapes))
        return rows

    def summary(self, fmt: str = "table") -> str:
        from graphc.summary import summarize

        return summarize(self.graph, fmt)

    def __repr__(self) -> str:
        return f"<graphc.Model {self.name}: {len(self.graph.layers)} layers, {self.graph.param_count():,} parameters>"

    def to_dot(self, level: str = "layer", **options) -> str:
        """Graphviz DOT source of a view (layer, op or grad); see graphc.viz.ViewOptions."""
        from graphc.viz import to_dot

        return to_dot(self.graph, level=level, **options)

    def _repr_svg_(self) -> str | None:
        """Jupyter shows a Model as its layer diagram (None without Graphviz: the text repr is used)."""
        from graphc.viz import svg_text

        return svg_text(self.to_dot())

    def grad(self, wrt: str | list[str] = "params", loss: str | None = None) -> "Model":
        """A Model whose graph also computes gradients (see graphc.autodiff.grad_graph); differentiable again."""
        import copy

        from graphc.autodiff import grad_graph

        new = copy.copy(self)
        new.graph, new._session = grad_graph(self.graph, wrt, loss), None
        return new

    # -- export and run -----------------------------------------------------------------
    def inference_graph(self, opt_level: int = 2, passes: list[str] | None = None, explain: list | None = None) -> Graph:
        """A copy pruned to what the outputs need (unused inputs dropped), optimized."""
        graph = self.graph.clone()
        graph.prune()
        used = {id(v) for n in graph.nodes for v in n.inputs} | {id(v) for v in graph.outputs}
        graph.inputs = [v for v in graph.inputs if id(v) in used]
        try:
            from graphc.passes import optimize
        except ImportError:
            return graph
        return optimize(graph, level=opt_level, passes=passes, explain=explain)

    def to_onnx(self, opt_level: int = 2, passes: list[str] | None = None, explain: list | None = None):
        from graphc.export.onnx_export import to_onnx

        return to_onnx(self.inference_graph(opt_level, passes, explain))

    def onnx_bytes(self, opt_level: int = 2, passes: list[str] | None = None, explain: list | None = None) -> bytes:
        from graphc.export.onnx_export import model_bytes

        return model_bytes(self.inference_graph(opt_level, passes, explain))

    def export(self, path: str, opt_level: int = 2, passes: list[str] | None = None, explain: list | None = None,
               external_data: bool | None = None) -> str:
        """Write the ONNX model atomically, streaming the weights; returns the path. external_data:
        True puts tensors of 1 KiB and more in `<path>.data` beside it; None (default) does so only
        past protobuf's 2 GiB limit."""
        from graphc.export.onnx_export import write_onnx

        write_onnx(self.inference_graph(opt_level, passes, explain), path, external_data)
        return path

    def run(self, feeds: dict[str, Any], provider: str = "auto") -> dict[str, np.ndarray]:
        """Run on onnxruntime; feeds map input names to arrays."""
        from graphc.runtime.session import run

        if self._session is None or self._session[0] != provider:
            self._session = (provider, self.session(provider, quiet=True))
        return run(self._session[1], feeds)

    def session(self, provider: str = "auto", quiet: bool = False):
        """An onnxruntime session of the optimized model. Past protobuf's 2 GiB limit the model
        goes through a temporary file with external data (removed once the session holds it)."""
        import tempfile

        from graphc.export.onnx_write import PROTOBUF_LIMIT
        from graphc.runtime.session import make_session

        if self.graph.param_bytes() < PROTOBUF_LIMIT - (64 << 20):
            return make_session(self.onnx_bytes(), provider, quiet=quiet)
        with tempfile.TemporaryDirectory(prefix="graphc-") as tmp:
            return make_session(self.export(f"{tmp}/model.onnx", external_data=True), provider, quiet=quiet)

    def evaluate(self, feeds: dict[str, Any]) -> dict[str, np.ndarray]:
        """Run with the ops' numpy references (slow; an independent check of onnxruntime)."""
        from graphc.ir.interp import interpret

        return interpret(self.graph, feeds)

    def fit(self, out: str | None = None, epochs: int | None = None, resume: bool = False, verbose: bool = True,
            provider: str = "auto") -> list[dict]:
        """Train as the spec's training: section says (like `graphc train`); returns the history,
        one record per epoch. The model's weights become the trained ones; `out` (optional)
        gets model.onnx, weights.npz, history.json and checkpoint/ (see docs/training.md).
        When `training: model:` names another model of the spec, that model is trained
        (`self.last_fit.model`) and this one gets the weights the two share, by name."""
        from graphc.training.compile import train_config
        from graphc.training.loop import Trainer, TrainResult, share_weights

        cfg = train_config(self)
        if cfg.gan is not None:  # alternating steps; weights named as in the combined model
            from graphc.training.gan import GanTrainer

            gan = GanTrainer(self.spec, cfg, provider)
            history = gan.fit(out, epochs, resume, log=print if verbose else None)
            combined = Model(self.spec, cfg.gan["combined"])
            result = TrainResult(history, {}, "train", out, weights=gan.weights(), model=combined)
            share_weights(combined, result)
        else:
            result = Trainer(self, cfg, provider).fit(out, epochs, resume, log=print if verbose else None)
        share_weights(self, result)
        self._session = None
        self.last_fit = result
        return result.history


def load(path: str, params: dict[str, Any] | None = None, seed: int = 0, model: str | None = None,
         weights: str | None = None) -> Model:
    """Read a spec file; `params` overrides its params (as --set), `weights` loads an .npz."""
    m = Model(load_spec(path, params, seed), model)
    return m.load_weights(weights) if weights else m


def loads(text: str, params: dict[str, Any] | None = None, seed: int = 0, model: str | None = None,
          file: str = "<spec>") -> Model:
    """Like `load`, from spec text."""
    return Model(parse_spec(text, file, params, seed), model)


__all__ = ["Model", "SpecError", "load", "loads"]
