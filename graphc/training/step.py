"""The whole training step as one graph: forward (training mode), loss, regularization, symbolic
gradients, clipping, learning-rate schedule and optimizer update.

Interface of the step graph (also in docs/training.md):

    inputs   the batch inputs (spec names: image, label, ...)
             param.<p>            every parameter (trainable or not)
             state.<p>.<slot>     optimizer state, e.g. state.dense_1.weight.exp_avg
             step                 int64 scalar: optimizer steps taken before this one (0 first)
             seed                 int64 scalar: dropout seed (only when the model has dropout)
    outputs  loss                 float scalar: data loss + regularization, mean over the batch
             metric.accuracy      batch accuracy (classification losses only)
             new.param.<p>        parameter after the step (running statistics included)
             new.state.<p>.<slot> optimizer state after the step
             new.step             step + 1

Every state input X has an output new.X of the same type, so a trainer feeds outputs back as
inputs (`carried` lists the pairs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from graphc.autodiff import gradients
from graphc.errors import ShapeError, SpecError, did_you_mean
from graphc.ir.graph import Graph, Value
from graphc.ir.types import TensorType, is_float
from graphc.ops import Builder
from graphc.passes import rewrite
from graphc.passes.training_mode import RunningUpdate, needs_seed
from graphc.training.config import TrainConfig
from graphc.training.losses import LOSS_FUNCTIONS
from graphc.training.optimizers import UPDATES, initial_value, learning_rate, slots


@dataclass
class TrainStep:
    """A built train-step graph and what a trainer needs to drive it."""

    graph: Graph
    batch_inputs: list[str]
    params: list[str]  # parameter names (input param.<p>)
    trainable: list[str]
    state_slots: list[tuple[str, str]]  # (parameter, slot): input state.<p>.<slot>
    initial: dict[str, np.ndarray] = field(default_factory=dict)  # every carried input's start value
    metrics: list[str] = field(default_factory=list)  # metric.<m> outputs
    has_seed: bool = False

    @property
    def carried(self) -> list[tuple[str, str]]:
        """(input, output) pairs a trainer feeds back each step."""
        names = [f"param.{p}" for p in self.params] + [f"state.{p}.{s}" for p, s in self.state_slots] + ["step"]
        return [(n, f"new.{n}") for n in names]


def _lookup(graph: Graph, name: str, loc) -> Value:
    """A spec name (input, layer, `layer.k`) -> its Value in `graph`."""
    values = {v.name: v for v in graph.values()}
    for v in graph.inputs:
        if v.name == name:
            return v
    info = graph.layer(name)
    if info is not None and info.outputs and info.outputs[0] in values:
        return values[info.outputs[0]]
    base, _, suffix = name.rpartition(".")
    info = graph.layer(base) if base else None
    if info is not None and suffix.isdigit() and int(suffix) < len(info.outputs):
        return values[info.outputs[int(suffix)]]
    if name in values and values[name].kind != "param":
        return values[name]
    choices = [v.name for v in graph.inputs] + [l.name for l in graph.layers]
    raise SpecError(f"loss input '{name}' is not an input or layer of model {graph.name}", loc,
                    did_you_mean(name, choices))


def _output(b: Builder, value: Value, name: str, taken: set[int]) -> Value:
    """Make `value` a graph output called `name` (an Identity when it cannot just be renamed)."""
    value = b.output(value, name, taken)
    if value.name != name:
        raise SpecError(f"internal: output name {name} is taken")
    return value


def params_as_inputs(graph: Graph) -> list[Value]:
    """Turn every parameter into an input named param.<p> (not yet in graph.inputs); returns them."""
    params = list(graph.params.values())
    for p in params:
        graph.rename(p, f"param.{p.name}")
        p.kind, p.data = "input", None
    graph.params = {}
    return params


def build_loss(b: Builder, graph: Graph, cfg: TrainConfig) -> tuple[Value, Value | None, Value | None]:
    """The scalar loss and, for classification, (scores, target) for the accuracy metric."""
    total: Value | None = None
    scores = target = None
    for term in cfg.losses:
        args = [_lookup(graph, n, term.loc) for n in term.args]
        if term.kind == "output":
            value = args[0]
            if value.type.rank != 0 or not is_float(value.dtype):
                raise SpecError(f"loss '{term.args[0]}' must be a float scalar, it is {value.type}", term.loc,
                                "reduce it with a mean layer, or use a named loss like mse")
        else:
            try:
                value = LOSS_FUNCTIONS[term.kind](b, *args)
            except ShapeError as e:
                raise SpecError(e.message, term.loc, e.hint) from None
            if term.kind in ("cross_entropy", "categorical_crossentropy", "nll") and scores is None:
                scores, target = args
        if term.weight != 1.0:
            value = b.mul(value, term.weight)
        total = value if total is None else b.add(total, value)
    return total, scores, target


def _regularization(b: Builder, weights: list[Value], cfg: TrainConfig) -> Value | None:
    """l1 * sum|w| + l2 * sum w^2 over weights of rank >= 2 (not biases or norm scales)."""
    terms = []
    for w in weights:
        if w.type.rank < 2:
            continue
        if cfg.l2:
            terms.append(b.mul(b.sum(b.mul(w, w)), cfg.l2))
        if cfg.l1:
            terms.append(b.mul(b.sum(b.abs(w)), cfg.l1))
    total = None
    for t in terms:
        total = t if total is None else b.add(total, t)
    return total


def _accuracy(b: Builder, scores: Value, target: Value) -> Value:
    pred = b.argmax(scores, axis=-1)
    if is_float(target.dtype):
        target = b.argmax(target, axis=-1)
    elif target.dtype != "int64":
        target = b.cast(target, to="int64")
    return b.mean(b.cast(b.equal(pred, target), to=scores.dtype))


def _clip(b: Builder, grads: list[Value], max_norm: float) -> list[Value]:
    """torch.nn.utils.clip_grad_norm_: scale by min(1, max_norm / (total_norm + 1e-6))."""
    total = None
    for g in grads:
        s = b.sum(b.mul(g, g))
        total = s if total is None else b.add(total, s)
    coef = b.minimum(b.div(b.const(float(max_norm)), b.add(b.sqrt(total), 1e-6)), 1.0)
    return [b.mul(g, coef) for g in grads]


def _training_graph(model_graph: Graph) -> tuple[Graph, list[Value], Value | None, list[RunningUpdate]]:
    """A copy of the model in training mode: (graph, batch inputs, seed input or None, running updates)."""
    g = model_graph.clone()
    g.name = f"{model_graph.name}_train_step"
    g.outputs = []
    batch_inputs = list(g.inputs)
    rewrite(g, "unroll_recurrent")
    seed = g.add_input("seed", TensorType("int64", ())) if needs_seed(g) else None
    running = rewrite(g, "training_mode", seed=seed)
    return g, batch_inputs, seed, running


def _gradients(b: Builder, g: Graph, loss: Value, wanted: list[Value], cfg: TrainConfig) -> list[Value]:
    """d loss / d wanted (zeros where a parameter does not reach the loss), clipped as cfg says."""
    rewrite(g, "pool_before_relu")  # after the loss: a relu output the loss reads has two users and stays
    grads = gradients(g, [loss], [None], wanted)
    grads = [gr if gr is not None else b.zeros_like(p) for gr, p in zip(grads, wanted)]
    return _clip(b, grads, cfg.clip_grad_norm) if cfg.clip_grad_norm else grads


@dataclass
class _Updates:
    """The optimizer's part of a step: new parameter values and optimizer state, in and out."""

    new_params: dict[str, Value] = field(default_factory=dict)
    state_slots: list[tuple[str, str]] = field(default_factory=list)
    state_inputs: list[Value] = field(default_factory=list)
    new_state: dict[tuple[str, str], Value] = field(default_factory=dict)
    initial: dict[str, np.ndarray] = field(default_factory=dict)


def _updates(b: Builder, g: Graph, cfg: TrainConfig, wanted: list[Value], grads: list[Value], lr: Value,
             t: Value) -> _Updates:
    """One optimizer update per trained parameter, with state inputs state.<p>.<slot>."""
    update = UPDATES[cfg.optimizer]
    slot_names = slots(cfg.optimizer, cfg.opt_args)
    out = _Updates()
    for p, grad in zip(wanted, grads):
        state = {}
        for s in slot_names:
            v = state[s] = g.add_input(f"state.{p.name}.{s}", p.type)
            out.state_inputs.append(v)
            out.state_slots.append((p.name, s))
            out.initial[v.name] = np.full(p.shape, initial_value(cfg.optimizer, s, cfg.opt_args), dtype=p.data.dtype)
        new_p, new_state = update(b, p, grad, state, lr, t, cfg.opt_args)
        out.new_params[p.name] = new_p
        for s in slot_names:
            out.new_state[p.name, s] = new_state.get(s, state[s])
    return out


def build_train_step(model_graph: Graph, cfg: TrainConfig, train_only=None) -> TrainStep:
    """The train-step graph of `model_graph` as `cfg` says. `train_only(name)` picks the parameters
    to update (default: every trainable one); the others are inputs passed through unchanged."""
    g, batch_inputs, seed, running = _training_graph(model_graph)
    b = Builder(g)
    loss, scores, target = build_loss(b, g, cfg)
    params = list(g.params.values())
    param_names = [p.name for p in params]
    wanted = [p for p in params if p.trainable and (train_only is None or train_only(p.name))]
    reg = _regularization(b, wanted, cfg)
    if reg is not None:
        loss = b.add(loss, reg)
    grads = _gradients(b, g, loss, wanted, cfg)

    step = g.add_input("step", TensorType("int64", ()))
    t0 = b.cast(step, to="float32")
    t = b.add(t0, 1.0)
    lr = learning_rate(b, float(cfg.opt_args["lr"]), t0, cfg.schedule)
    taken: set[int] = set()
    _output(b, loss, "loss", taken)
    metrics = []
    if scores is not None:
        _output(b, _accuracy(b, scores, target), "metric.accuracy", taken)
        metrics.append("accuracy")
    up = _updates(b, g, cfg, wanted, grads, lr, t)
    for r in running:
        up.new_params[r.param.name] = r.new

    initial = dict(up.initial)
    for p in params:
        initial[f"param.{p.name}"] = np.array(p.data, copy=True)
    params_as_inputs(g)
    for name, p in zip(param_names, params):
        _output(b, up.new_params.get(name, p), f"new.param.{name}", taken)
    for key, v in zip(up.state_slots, up.state_inputs):
        _output(b, up.new_state[key], f"new.{v.name}", taken)
    _output(b, b.add(step, np.asarray(1, np.int64)), "new.step", taken)
    initial["step"] = np.asarray(0, np.int64)

    g.prune()
    batch = [v for v in g.used(batch_inputs) if v.kind == "input"]
    g.inputs = batch + params + up.state_inputs + [step] + ([seed] if seed is not None else [])
    return TrainStep(g, [v.name for v in batch], param_names, [p.name.removeprefix("param.") for p in wanted],
                     up.state_slots, initial, metrics, seed is not None)


@dataclass
class EvalStep:
    """Inference-mode loss and predictions with the parameters as inputs (param.<p>)."""

    graph: Graph
    batch_inputs: list[str]
    params: list[str]
    pred: str | None  # output with the predictions the metrics read ("pred")


def build_eval_step(model_graph: Graph, cfg: TrainConfig) -> EvalStep:
    g = model_graph.clone()
    g.name = f"{model_graph.name}_eval"
    g.outputs = []
    b = Builder(g)
    loss, scores, _ = build_loss(b, g, cfg)
    taken: set[int] = set()
    _output(b, loss, "loss", taken)
    pred = scores
    if pred is None:
        first = next((t for t in cfg.losses if t.kind != "output" and t.kind != "kl_normal"), None)
        pred = _lookup(g, first.args[0], first.loc) if first else None
    if pred is not None:
        _output(b, pred, "pred", taken)
    params = params_as_inputs(g)
    batch = list(g.inputs)
    g.prune()
    batch, params = g.used(batch), g.used(params)
    g.inputs = batch + params
    return EvalStep(g, [v.name for v in batch], [p.name.removeprefix("param.") for p in params],
                    "pred" if pred is not None else None)


def forward_with_params(graph: Graph) -> Graph:
    """The model with its parameters as inputs param.<p> (to sample from the current generator)."""
    g = graph.clone()
    out = g.outputs[0]
    g.outputs = []
    Builder(g).output(out, "out", taken={id(out)})  # always a new identity node
    g.inputs += params_as_inputs(g)
    return g
