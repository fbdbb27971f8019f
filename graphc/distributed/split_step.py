"""The train step split in two standard ONNX graphs for data-parallel training.

The gradient graph runs on every worker, on its shard of the global batch:

    inputs   the batch inputs, param.<p> (every parameter), and when the model draws random
             numbers: seed, row0 (global index of the shard's first row), rows (global batch size)
    outputs  loss, metric.<m>       means over the shard
             grad.<p>               gradient of the shard's mean loss (+ regularization)
             new.param.<p>          running statistics after the step (batch norm; per shard)

The optimizer-step graph runs once per step on the averaged gradients:

    inputs   param.<p>, grad.<p>, state.<p>.<slot> (trainable parameters), step
    outputs  new.param.<p>, new.state.<p>.<slot>, new.step

Every loss graphc builds is a mean over the batch, so the global batch's gradient is the
shard gradients weighted by shard rows / global rows. Both graphs are built from the same
pieces as the fused step (graphc/training/step.py), which stays the one-process path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from graphc.autodiff import gradients
from graphc.export.onnx_export import to_onnx
from graphc.ir.graph import Graph, Value
from graphc.ir.types import TensorType
from graphc.ops import Builder
from graphc.passes import rewrite
from graphc.passes.training_mode import needs_seed, to_training_mode
from graphc.training.config import TrainConfig
from graphc.training.optimizers import UPDATES, initial_value, learning_rate, slots
from graphc.training.step import _accuracy, _clip, _output, _regularization, build_loss


@dataclass
class GradStep:
    """The per-worker gradient graph and its interface."""

    graph: Graph
    batch_inputs: list[str]
    params: list[str]  # every parameter the graph reads (input param.<p>)
    trainable: list[str]  # grad.<p> outputs
    running: list[str]  # non-trainable parameters it updates (new.param.<p> outputs)
    metrics: list[str] = field(default_factory=list)
    has_seed: bool = False


@dataclass
class OptimizerStep:
    """The optimizer-step graph: averaged gradients -> new parameters and state."""

    graph: Graph
    trainable: list[str]
    state_slots: list[tuple[str, str]]
    initial: dict[str, np.ndarray] = field(default_factory=dict)  # state.* and step start values


@dataclass
class SplitStep:
    grad: GradStep
    optimizer: OptimizerStep
    params: list[str]  # every parameter of the model
    initial: dict[str, np.ndarray] = field(default_factory=dict)  # param.*, state.*, step

    @property
    def batch_inputs(self) -> list[str]:
        return self.grad.batch_inputs

    @property
    def carried(self) -> list[str]:
        """Names of the arrays a checkpoint holds (as the fused step's carried inputs)."""
        return [f"param.{p}" for p in self.params] + \
            [f"state.{p}.{s}" for p, s in self.optimizer.state_slots] + ["step"]


def _scalar(g: Graph, name: str) -> Value:
    v = Value(name, TensorType("int64", ()), kind="input")
    g._names.add(name)
    return v


def build_grad_step(model_graph: Graph, cfg: TrainConfig) -> GradStep:
    """Forward (training mode), loss, regularization and gradients of `model_graph`."""

    g = model_graph.clone()
    g.name = f"{model_graph.name}_grad_step"
    g.outputs = []
    batch_inputs = list(g.inputs)
    rewrite(g, "unroll_recurrent")
    extra: list[Value] = []
    seed = None
    if needs_seed(g):
        seed = _scalar(g, "seed")
        extra = [seed, _scalar(g, "row0"), _scalar(g, "rows")]
    running = to_training_mode(g, seed, (extra[1], extra[2]) if extra else None)
    b = Builder(g)
    loss, scores, target = build_loss(b, g, cfg)
    params = list(g.params.values())
    names = [p.name for p in params]
    wanted = [p for p in params if p.trainable]
    reg = _regularization(b, wanted, cfg)
    if reg is not None:
        loss = b.add(loss, reg)
    rewrite(g, "pool_before_relu")
    grads = gradients(g, [loss], [None], wanted)
    grads = [gr if gr is not None else b.zeros_like(p) for gr, p in zip(grads, wanted)]
    taken: set[int] = set()
    _output(b, loss, "loss", taken)
    metrics = []
    if scores is not None:
        _output(b, _accuracy(b, scores, target), "metric.accuracy", taken)
        metrics.append("accuracy")
    trainable = [p.name for p in wanted]
    for name, grad in zip(trainable, grads):
        _output(b, grad, f"grad.{name}", taken)
    running_names = [r.param.name for r in running]
    for r in running:
        _output(b, r.new, f"new.param.{r.param.name}", taken)
    for name, p in zip(names, params):
        g.rename(p, f"param.{name}")
        p.kind, p.data = "input", None
    g.params = {}
    g.prune()
    used = {id(v) for n in g.nodes for v in n.inputs} | {id(v) for v in g.outputs}
    g.inputs = [v for v in batch_inputs if id(v) in used and v.kind == "input"] + \
        [p for p in params if id(p) in used] + extra
    return GradStep(g, [v.name for v in batch_inputs if id(v) in used], [p.name.removeprefix("param.") for p in params
                                                                          if id(p) in used],
                    trainable, running_names, metrics, seed is not None)


def build_optimizer_step(model_graph: Graph, cfg: TrainConfig) -> OptimizerStep:
    """Clipping, learning-rate schedule and the optimizer update of every trainable parameter."""
    g = Graph(f"{model_graph.name}_optimizer_step")
    b = Builder(g)
    wanted = [p for p in model_graph.params.values() if p.trainable]
    params = [g.add_input(f"param.{p.name}", p.type) for p in wanted]
    grads = [g.add_input(f"grad.{p.name}", p.type) for p in wanted]
    if cfg.clip_grad_norm:
        grads = _clip(b, grads, cfg.clip_grad_norm)
    slot_names = slots(cfg.optimizer, cfg.opt_args)
    states = [{s: g.add_input(f"state.{p.name}.{s}", p.type) for s in slot_names} for p in wanted]
    step = g.add_input("step", TensorType("int64", ()))
    t0 = b.cast(step, to="float32")
    lr = learning_rate(b, float(cfg.opt_args["lr"]), t0, cfg.schedule)
    t = b.add(t0, 1.0)
    update = UPDATES[cfg.optimizer]
    taken: set[int] = set()
    results = [update(b, p, grad, dict(state), lr, t, cfg.opt_args) for p, grad, state in zip(params, grads, states)]
    initial: dict[str, np.ndarray] = {"step": np.asarray(0, np.int64)}
    for p, (new_p, _) in zip(wanted, results):
        _output(b, new_p, f"new.param.{p.name}", taken)
    for p, state, (_, new_state) in zip(wanted, states, results):
        for s in slot_names:
            _output(b, new_state.get(s, state[s]), f"new.state.{p.name}.{s}", taken)
            initial[f"state.{p.name}.{s}"] = np.full(p.shape, initial_value(cfg.optimizer, s, cfg.opt_args),
                                                     dtype=p.data.dtype)
    _output(b, b.add(step, np.asarray(1, np.int64)), "new.step", taken)
    g.prune()
    return OptimizerStep(g, [p.name for p in wanted], [(p.name, s) for p in wanted for s in slot_names], initial)


def build_split_step(model_graph: Graph, cfg: TrainConfig) -> SplitStep:
    """Both graphs, plus every carried array's start value (the fused step's `initial`)."""
    grad = build_grad_step(model_graph, cfg)
    opt = build_optimizer_step(model_graph, cfg)
    initial = {f"param.{n}": np.array(p.data, copy=True) for n, p in model_graph.params.items()}
    initial.update(opt.initial)
    return SplitStep(grad, opt, list(model_graph.params), initial)


def split_step_bytes(step: SplitStep) -> tuple[bytes, bytes]:
    """(gradient graph, optimizer-step graph) as deterministic ONNX bytes."""

    return (to_onnx(step.grad.graph).SerializeToString(deterministic=True),
            to_onnx(step.optimizer.graph).SerializeToString(deterministic=True))
