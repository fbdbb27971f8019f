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
from graphc.ops import Builder
from graphc.ir.graph import Graph, Value
from graphc.ir.types import TensorType, is_float
from graphc.ops.recurrent import unrolled
from graphc.training.config import TrainConfig
from graphc.training.losses import LOSS_FUNCTIONS
from graphc.training.modes import needs_seed, to_training_mode
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


def _output(graph: Graph, b: Builder, value: Value, name: str, taken: set[int]) -> Value:
    """Make `value` a graph output called `name` (an Identity when it cannot just be renamed)."""
    if value.kind != "node" or id(value) in taken:
        value = b.identity(value)
    graph.rename(value, name)
    if value.name != name:
        raise SpecError(f"internal: output name {name} is taken")
    taken.add(id(value))
    graph.outputs.append(value)
    return value


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


def pool_before_relu(graph: Graph) -> int:
    """Rewrite maxpool(relu(x)) as relu(maxpool(x)) in place where the relu feeds only the pool;
    returns how many. The values are identical (relu is monotone, so it commutes with max), the
    relu and its gradient mask then touch the pooled tensor (4x smaller for 2x2 windows), and
    the gradient differs from the original order only where a window's maximum is tied at or
    below zero, where both are valid subgradients (every such entry is 0 in both orders)."""
    users = graph.users()
    outputs = {id(v) for v in graph.outputs}
    count = 0
    for relu in list(graph.nodes):
        r = relu.outputs[0]
        readers = users.get(id(r), [])
        if relu.op != "relu" or id(r) in outputs or len(readers) != 1 or readers[0].op != "maxpool":
            continue
        pool = readers[0]
        j = graph.nodes.index(pool)
        m = pool.outputs[0]
        pooled = Value(graph.fresh_name(f"{pool.name}_pre_relu"), m.type, producer=pool)
        pool.inputs[0], pool.outputs[0] = relu.inputs[0], pooled
        relu.inputs[0], relu.outputs[0] = pooled, m
        m.producer = relu
        graph.nodes[graph.nodes.index(relu)], graph.nodes[j] = pool, relu
        count += 1
    return count


def unroll_recurrent(graph: Graph) -> int:
    """Replace each rnn / gru node with a fixed length by its step-by-step decomposition in
    graphc primitives, in place; returns how many. Their gradient rule differentiates that same
    decomposition, so the backward pass then reuses the forward's gates and states instead of
    computing the sequence a second time (onnxruntime's GRU op, then the unrolled copy). lstm stays
    one node: its hand-written gradient (graphc/ops/recurrent.py) recomputes every step's gates in
    a few batched nodes from the op's `y`, which beats the unrolled forward (bench/train.py)."""
    count = 0
    for node in list(graph.nodes):
        if node.op not in ("rnn", "gru") or not isinstance(node.inputs[0].shape[1], int):
            continue
        start = len(graph.nodes)
        results = unrolled(Builder(graph, node.layer, node.loc), node.op, list(node.inputs), node.attrs)
        new = graph.nodes[start:]
        del graph.nodes[start:]
        swap = {}
        for old, value in zip(node.outputs, results):  # the old Values keep their names and users
            producer = value.producer
            producer.outputs[producer.outputs.index(value)] = old
            old.producer = producer
            swap[id(value)] = old
        for n in new:
            n.inputs = [swap.get(id(v), v) for v in n.inputs]
        k = graph.nodes.index(node)
        graph.nodes[k:k + 1] = new
        count += 1
    return count


def build_train_step(model_graph: Graph, cfg: TrainConfig, train_only=None) -> TrainStep:
    """The train-step graph of `model_graph` as `cfg` says. `train_only(name)` picks the parameters
    to update (default: every trainable one); the others are inputs passed through unchanged."""
    g = model_graph.clone()
    g.name = f"{model_graph.name}_train_step"
    g.outputs = []
    batch_inputs = list(g.inputs)
    unroll_recurrent(g)
    seed = None
    if needs_seed(g):
        seed = Value("seed", TensorType("int64", ()), kind="input")
        g._names.add("seed")
    running = to_training_mode(g, seed)
    b = Builder(g)
    loss, scores, target = build_loss(b, g, cfg)
    params = list(g.params.values())
    param_names = [p.name for p in params]
    wanted = [p for p in params if p.trainable and (train_only is None or train_only(p.name))]
    reg = _regularization(b, wanted, cfg)
    if reg is not None:
        loss = b.add(loss, reg)
    pool_before_relu(g)  # after the loss: a relu output the loss reads has two users and stays
    grads = gradients(g, [loss], [None], wanted)
    grads = [gr if gr is not None else b.zeros_like(p) for gr, p in zip(grads, wanted)]
    if cfg.clip_grad_norm:
        grads = _clip(b, grads, cfg.clip_grad_norm)

    step = Value("step", TensorType("int64", ()), kind="input")
    g._names.add("step")
    t0 = b.cast(step, to="float32")
    t = b.add(t0, 1.0)
    lr = learning_rate(b, float(cfg.opt_args["lr"]), t0, cfg.schedule)
    taken: set[int] = set()
    _output(g, b, loss, "loss", taken)
    metrics = []
    if scores is not None:
        _output(g, b, _accuracy(b, scores, target), "metric.accuracy", taken)
        metrics.append("accuracy")

    update = UPDATES[cfg.optimizer]
    slot_names = slots(cfg.optimizer, cfg.opt_args)
    new_params: dict[str, Value] = {}
    state_slots: list[tuple[str, str]] = []
    state_inputs: list[Value] = []
    initial: dict[str, np.ndarray] = {}
    for p, grad in zip(wanted, grads):
        state = {}
        for s in slot_names:
            v = Value(f"state.{p.name}.{s}", p.type, kind="input")
            g._names.add(v.name)
            state[s] = v
            state_inputs.append(v)
            state_slots.append((p.name, s))
            initial[v.name] = np.full(p.shape, initial_value(cfg.optimizer, s, cfg.opt_args), dtype=p.data.dtype)
        new_p, new_state = update(b, p, grad, state, lr, t, cfg.opt_args)
        new_params[p.name] = new_p
        for s in slot_names:
            new_state.setdefault(s, state[s])
        state.update(new_state)
        p._new_state = new_state  # type: ignore[attr-defined]
    for r in running:
        new_params[r.param.name] = r.new

    # parameters become inputs named param.<p>
    for p in params:
        initial[f"param.{p.name}"] = np.array(p.data, copy=True)
    for name, p in zip(param_names, params):
        g.rename(p, f"param.{name}")
        p.kind, p.data = "input", None
    g.params = {}
    for name, p in zip(param_names, params):
        _output(g, b, new_params.get(name, p), f"new.param.{name}", taken)
    for (pname, s), v in zip(state_slots, state_inputs):
        p = next(q for q in wanted if q.name == f"param.{pname}")
        _output(g, b, p._new_state[s], f"new.{v.name}", taken)  # type: ignore[attr-defined]
    for p in wanted:
        del p._new_state  # type: ignore[attr-defined]
    _output(g, b, b.add(step, np.asarray(1, np.int64)), "new.step", taken)
    initial["step"] = np.asarray(0, np.int64)

    g.prune()
    used = {id(v) for n in g.nodes for v in n.inputs} | {id(v) for v in g.outputs}
    batch = [v for v in batch_inputs if id(v) in used and v.kind == "input"]
    g.inputs = batch + params + state_inputs + [step] + ([seed] if seed is not None else [])
    return TrainStep(g, [v.name for v in batch], param_names, [p.name.removeprefix("param.") for p in wanted],
                     state_slots, initial, metrics, seed is not None)


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
    _output(g, b, loss, "loss", taken)
    pred = scores
    if pred is None:
        first = next((t for t in cfg.losses if t.kind != "output" and t.kind != "kl_normal"), None)
        pred = _lookup(g, first.args[0], first.loc) if first else None
    if pred is not None:
        _output(g, b, pred, "pred", taken)
    params = list(g.params.values())
    names = [p.name for p in params]
    for name, p in zip(names, params):
        g.rename(p, f"param.{name}")
        p.kind, p.data = "input", None
    g.params = {}
    batch = list(g.inputs)
    g.prune()
    used = {id(v) for n in g.nodes for v in n.inputs} | {id(v) for v in g.outputs}
    g.inputs = [v for v in batch if id(v) in used] + [p for p in params if id(p) in used]
    return EvalStep(g, [v.name for v in batch if id(v) in used], [p.name.removeprefix("param.") for p in params
                                                                   if id(p) in used], "pred" if pred is not None else None)
