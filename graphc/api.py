"""The Python API: `graphc.load(path) -> Model` and what a Model can do."""

from __future__ import annotations

import copy
import tempfile
from typing import Any

import numpy as np

from graphc.autodiff import grad_graph
from graphc.errors import SpecError
from graphc.functional.layers import apply_model
from graphc.functional.model import functional_spec, training_section
from graphc.functional.pyfile import load_python
from graphc.functional.trace import caller_loc
from graphc.export.onnx_export import model_bytes, to_onnx, write_onnx
from graphc.export.fold import FOLD_ALL, FOLD_CONSTANTS
from graphc.export.onnx_write import PROTOBUF_LIMIT
from graphc.ir.graph import Graph
from graphc.ops import interpret
from graphc.passes import folds_at_export, optimize
from graphc.runtime.session import make_session, run
from graphc.runtime.weights import load_weights, save_weights
from graphc.spec.writer import spec_to_yaml
from graphc.spec.build import Spec, load_spec, parse_spec
from graphc.summary import summarize
from graphc.training.compile import train_config
from graphc.training.gan import GanTrainer
from graphc.training.loop import Trainer, TrainResult, share_weights
from graphc.viz import to_dot, svg_text
from graphc.viewer.html import write_html
from graphc.onnx_in.model import OnnxSpec, onnx_spec
from graphc.distributed.api import fit_on_ray
from graphc.export.onnx_export import OPSET, OPSETS, check_opset
from graphc.runtime.backends import load_session, require_onnxruntime_for
from graphc.runtime.session import check_feeds


class Model:
    """One model of a spec, built into a checked graph, with its parameters.

    `Model(spec, model)` is what `graphc.load()` returns; `Model("mlp", inputs=[x], outputs=[y])`
    is the functional form (graphc.functional): the same Model, from tensors traced in Python."""

    def __init__(self, spec: Spec | str, model: str | None = None, *, inputs: Any = None, outputs: Any = None,
                 doc: str | None = None, spec_name: str | None = None):
        if isinstance(spec, str):
                spec, model = functional_spec(spec, inputs, outputs, doc, spec_name)
        self.spec = spec
        self.model_name = model or spec.default_model()
        self.graph: Graph = spec.build(self.model_name)
        self._session = None

    # -- construction -------------------------------------------------------------------
    def sibling(self, model: str | None) -> "Model":
        """The model `model` of the same spec: this one when `model` is None or its own name."""
        return self if model is None or model == self.model_name else Model(self.spec, model)

    @property
    def name(self) -> str:
        return self.graph.name

    @property
    def weights(self) -> dict[str, np.ndarray]:
        return {k: v.data for k, v in self.graph.params.items()}

    def load_weights(self, path: str) -> "Model":
        load_weights(self.graph, path)
        self._session = None
        return self

    def save_weights(self, path: str) -> None:
        save_weights(self.graph, path)

    def __call__(self, *inputs: Any, name: str | None = None):
        """Use this model as a layer on traced tensors (sharing its weights), as `- generator:` in YAML."""
        return apply_model(self, inputs, name)

    def training(self, **section: Any) -> "Model":
        """Set the spec's `training:` section (keys as in YAML: data, loss, optimizer, ...); returns self.
        Shorthands: `data="digits"` is `{dataset: digits}`, `validation=0.2` is `{split: 0.2}`."""
        self.spec.training = training_section(section, caller_loc())
        return self

    def to_yaml(self) -> str:
        """The spec as YAML text (this model first); it loads back to byte-identical ONNX."""
        return spec_to_yaml(self.spec, self.model_name)

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
        return summarize(self.graph, fmt)

    def __repr__(self) -> str:
        return f"<graphc.Model {self.name}: {len(self.graph.layers)} layers, {self.graph.param_count():,} parameters>"

    def to_dot(self, level: str = "layer", **options) -> str:
        """Graphviz DOT source of a view (layer, op or grad); see graphc.viz.ViewOptions."""
        return to_dot(self.graph, level=level, **options)

    def to_html(self, path: str, run: str | None = None, rankdir: str = "TB") -> str:
        """Write the interactive viewer page (like `graphc viz -o path.html [--run run]`); returns the path."""
        return write_html(self.graph, path, self.spec.file, run, rankdir)

    def _repr_svg_(self) -> str | None:
        """Jupyter shows a Model as its layer diagram (None without Graphviz: the text repr is used)."""
        return svg_text(self.to_dot())

    def grad(self, wrt: str | list[str] = "params", loss: str | None = None) -> "Model":
        """A Model whose graph also computes gradients (see graphc.autodiff.grad_graph); differentiable again."""
        new = copy.copy(self)
        new.graph, new._session = grad_graph(self.graph, wrt, loss), None
        return new

    # -- export and run -----------------------------------------------------------------
    def inference_graph(self, opt_level: int = 2, passes: list[str] | None = None, explain: list | None = None,
                        in_place: bool = False) -> Graph:
        """A copy pruned to what the outputs need (unused inputs dropped), optimized. in_place=True
        prunes and optimizes the model's own graph instead: no second IR in memory, and the model
        is then its inference graph (one-shot exports such as `graphc compile`)."""
        graph = self.graph if in_place else self.graph.clone()
        self._session = None if in_place else self._session
        graph.prune()
        graph.inputs = graph.used(graph.inputs)
        return optimize(graph, level=opt_level, passes=passes, explain=explain)

    @property
    def default_opset(self) -> int:
        """The opset an export writes without `opset`: graphc's (OPSET), or an imported model's own,
        clamped to what graphc writes (17..23), as onnxsim keeps it. (onnxruntime 1.32's
        AveragePool from opset 19 on takes a slower kernel: 28 us against 8 at opset 18 on
        [2, 20, 8, 8]; an Inception re-exported at 21 from an opset-17 file ran 1.29x slower.)"""
        src = self.graph.source_opset
        return OPSET if src is None else max(OPSETS[0], min(OPSETS[-1], src))

    def _fold(self, opt_level: int, passes: list[str] | None) -> str | None:
        """What the export folds (export/fold.py): nothing below -O2; constants; and parameters too
        for an imported ONNX model, whose initializer names are its exporter's, where a spec's
        initializers keep the contract's `<layer>.<param>` names and layouts."""
        if not folds_at_export(opt_level, passes):
            return None
        return FOLD_ALL if isinstance(self.spec, OnnxSpec) else FOLD_CONSTANTS

    def to_onnx(self, opt_level: int = 2, passes: list[str] | None = None, explain: list | None = None,
                opset: int | None = None, target: str = "portable"):
        """The ONNX model; `opset` 17..23 (default graphc's current one), `target` portable (runs on
        onnxruntime, OpenVINO and tract) or onnxruntime (faster forms only it runs); docs/runtimes.md."""
        opset = opset or self.default_opset
        check_opset(opset, target)
        return to_onnx(self.inference_graph(opt_level, passes, explain), opset=opset, target=target,
                       fold=self._fold(opt_level, passes))

    def onnx_bytes(self, opt_level: int = 2, passes: list[str] | None = None, explain: list | None = None,
                   opset: int | None = None, target: str = "portable") -> bytes:
        opset = opset or self.default_opset
        check_opset(opset, target)
        return model_bytes(self.inference_graph(opt_level, passes, explain), opset=opset, target=target,
                           fold=self._fold(opt_level, passes))

    def export(self, path: str, opt_level: int = 2, passes: list[str] | None = None, explain: list | None = None,
               external_data: bool | None = None, opset: int | None = None, target: str = "portable",
               in_place: bool = False) -> str:
        """Write the ONNX model atomically, streaming the weights; returns the path. external_data:
        True puts tensors of 1 KiB and more in `<path>.data` beside it; None (default) does so only
        past protobuf's 2 GiB limit. `opset`, `target`: as for `to_onnx`; `in_place`: as for
        `inference_graph`."""
        opset = opset or self.default_opset
        check_opset(opset, target)
        write_onnx(self.inference_graph(opt_level, passes, explain, in_place), path, external_data,
                   opset=opset, target=target, fold=self._fold(opt_level, passes))
        return path

    def run(self, feeds: dict[str, Any], provider: str = "auto", runtime: str = "onnxruntime") -> dict[str, np.ndarray]:
        """Run on onnxruntime (or `runtime="openvino"`); feeds map input names to arrays."""
        key = (provider, runtime)
        if self._session is None or self._session[0] != key:
            if runtime == "onnxruntime":
                session = self.session(provider, quiet=True)
            else:
                session = load_session(self.onnx_bytes(), runtime)
            self._session = (key, session)
        session = self._session[1]
        if runtime == "onnxruntime":
            return run(session, feeds)
        return session.run(check_feeds(session, feeds))

    def session(self, provider: str = "auto", quiet: bool = False):
        """An onnxruntime session of the optimized model. Past protobuf's 2 GiB limit the model
        goes through a temporary file with external data (removed once the session holds it)."""
        if self.graph.param_bytes() < PROTOBUF_LIMIT - (64 << 20):
            return make_session(self.onnx_bytes(), provider, quiet=quiet)
        with tempfile.TemporaryDirectory(prefix="graphc-") as tmp:
            return make_session(self.export(f"{tmp}/model.onnx", external_data=True), provider, quiet=quiet)

    def evaluate(self, feeds: dict[str, Any]) -> dict[str, np.ndarray]:
        """Run with the ops' numpy references (slow; an independent check of onnxruntime)."""
        return interpret(self.graph, feeds)

    def fit(self, out: str | None = None, epochs: int | None = None, resume: bool = False, verbose: bool = True,
            provider: str = "auto", workers: int | None = None, ray_address: str | None = None,
            runtime: str = "onnxruntime") -> list[dict]:
        """Train as the spec's training: section says (like `graphc train`); returns the history,
        one record per epoch. The model's weights become the trained ones; `out` (optional)
        gets model.onnx, weights.npz, history.json and checkpoint/ (see docs/training.md).
        When `training: model:` names another model of the spec, that model is trained
        (`self.last_fit.model`) and this one gets the weights the two share, by name.
        `workers=N`: data-parallel on N Ray workers (`graphc train --workers N`, docs/scale.md).
        `runtime` is onnxruntime or openvino (docs/runtimes.md)."""
        cfg = train_config(self)
        if cfg.gan is not None:  # alternating steps; weights named as in the combined model
            require_onnxruntime_for(runtime, "GAN training")
            gan = GanTrainer(self.spec, cfg, provider)
            history = gan.fit(out, epochs, resume, log=print if verbose else None)
            combined = Model(self.spec, cfg.gan["combined"])
            result = TrainResult(history, {}, "train", out, weights=gan.weights(), model=combined)
            share_weights(combined, result)
        elif workers is not None:
            result = fit_on_ray(self, cfg, workers, out, epochs, resume, print if verbose else None, False, provider,
                                ray_address)
        else:
            result = Trainer(self, cfg, provider, runtime=runtime).fit(out, epochs, resume, log=print if verbose else None)
        share_weights(self, result)
        self._session = None
        self.last_fit = result
        return result.history


def load(path: str, params: dict[str, Any] | None = None, seed: int = 0, model: str | None = None,
         weights: str | None = None, training: str | None = None) -> Model:
    """Read a spec file or an .onnx model; `params` overrides its params (as --set), `weights`
    loads an .npz, `training` (for .onnx) is a file holding a `training:` section.
    `.py` is a Python spec (it defines `model`, or the one `model` names)."""
    if str(path).lower().endswith(".onnx"):
        if params:
            raise SpecError(f"--set applies to spec parameters; {path} is an ONNX model")
        m = Model(onnx_spec(str(path), training, seed), None)
        return m.load_weights(weights) if weights else m
    if training:
        raise SpecError("--training is for .onnx models; a spec has its own training: section")
    if str(path).lower().endswith(".py"):  # Python front end (graphc.functional.pyfile)
        m = load_python(path, params, seed, model)
    else:
        m = Model(load_spec(path, params, seed), model)
    return m.load_weights(weights) if weights else m


def loads(text: str, params: dict[str, Any] | None = None, seed: int = 0, model: str | None = None,
          file: str = "<spec>") -> Model:
    """Like `load`, from spec text."""
    return Model(parse_spec(text, file, params, seed), model)


__all__ = ["Model", "SpecError", "load", "loads"]
