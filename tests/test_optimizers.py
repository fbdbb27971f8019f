"""Optimizer update graphs vs torch.optim: five steps from the same parameters and gradients."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from graphc.export.onnx_export import to_onnx
from graphc.ir.graph import Graph
from graphc.ir.types import TensorType
from graphc.ops import Builder
from graphc.training.config import OPTIMIZERS
from graphc.training.optimizers import UPDATES, initial_value, learning_rate, slots

SHAPE = (3, 4)
CASES = [
    ("sgd", {"lr": 0.1}, torch.optim.SGD, {"lr": 0.1}),
    ("sgd", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01},
     torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}),
    ("sgd", {"lr": 0.05, "momentum": 0.8, "nesterov": True}, torch.optim.SGD,
     {"lr": 0.05, "momentum": 0.8, "nesterov": True}),
    ("adam", {"lr": 0.01}, torch.optim.Adam, {"lr": 0.01}),
    ("adam", {"lr": 0.01, "beta1": 0.5, "weight_decay": 0.1}, torch.optim.Adam,
     {"lr": 0.01, "betas": (0.5, 0.999), "weight_decay": 0.1}),
    ("adamw", {"lr": 0.01, "weight_decay": 0.1}, torch.optim.AdamW, {"lr": 0.01, "weight_decay": 0.1}),
    ("adadelta", {}, torch.optim.Adadelta, {}),
    ("adadelta", {"lr": 0.5, "rho": 0.95, "eps": 1e-7, "weight_decay": 0.01}, torch.optim.Adadelta,
     {"lr": 0.5, "rho": 0.95, "eps": 1e-7, "weight_decay": 0.01}),
    ("rmsprop", {"lr": 0.01}, torch.optim.RMSprop, {"lr": 0.01}),
    ("rmsprop", {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.01}, torch.optim.RMSprop,
     {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.01}),
    ("adagrad", {"lr": 0.1}, torch.optim.Adagrad, {"lr": 0.1}),
    ("adagrad", {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1}, torch.optim.Adagrad,
     {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1}),
]


def _update_session(name: str, args: dict, schedule: dict | None = None):
    """A graph: (p, g, state..., step) -> (new p, new state...), exported and loaded in onnxruntime."""
    g = Graph("opt")
    b = Builder(g)
    ttype = TensorType("float32", SHAPE)
    p, grad = g.add_input("p", ttype), g.add_input("g", ttype)
    names = slots(name, args)
    state = {s: g.add_input(f"s_{s}", ttype) for s in names}
    step = g.add_input("step", TensorType("int64", ()))
    t0 = b.cast(step, to="float32")
    lr = learning_rate(b, args["lr"], t0, schedule or {})
    new_p, new_state = UPDATES[name](b, p, grad, state, lr, b.add(t0, 1.0), args)
    outs = [b.identity(new_p)] + [b.identity(new_state[s]) for s in names] + [b.identity(lr)]
    g.outputs = outs
    sess = ort.InferenceSession(to_onnx(g).SerializeToString())
    return sess, names


@pytest.mark.parametrize("name,args,torch_cls,torch_args", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_five_steps_match_torch(name, args, torch_cls, torch_args):
    full = dict(OPTIMIZERS[name])
    full.update(args)
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(SHAPE).astype(np.float32)
    grads = [rng.standard_normal(SHAPE).astype(np.float32) for _ in range(5)]
    sess, names = _update_session(name, full)
    p = p0.copy()
    state = {s: np.full(SHAPE, initial_value(name, s, full), np.float32) for s in names}
    tp = torch.nn.Parameter(torch.tensor(p0))
    opt = torch_cls([tp], **torch_args)
    for k, gk in enumerate(grads):
        feeds = {"p": p, "g": gk, "step": np.asarray(k, np.int64)}
        feeds.update({f"s_{s}": v for s, v in state.items()})
        out = sess.run(None, feeds)
        p = out[0]
        state = dict(zip(names, out[1:1 + len(names)]))
        tp.grad = torch.tensor(gk)
        opt.step()
        np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_schedules_match_torch():
    """cosine (CosineAnnealingLR), step (StepLR) and linear warm-up (LambdaLR), step by step."""
    cases = [({"cosine": {"steps": 7, "min_lr": 0.001}},
              lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=7, eta_min=0.001)),
             ({"step": {"every": 3, "gamma": 0.5}}, lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.5)),
             ({"warmup": {"steps": 4}},
              lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda e: min(1.0, (e + 1) / 4)))]
    for schedule, make in cases:
        sess, names = _update_session("sgd", dict(OPTIMIZERS["sgd"], lr=0.1), schedule)
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        sched = make(opt)
        zeros = np.zeros(SHAPE, np.float32)
        for k in range(8):  # cosine stays at min_lr after `steps` (torch would rise again)
            lr = sess.run(None, {"p": zeros, "g": zeros, "step": np.asarray(k, np.int64)})[-1]
            assert abs(float(lr) - opt.param_groups[0]["lr"]) < 1e-6 * max(1.0, opt.param_groups[0]["lr"]), \
                (schedule, k)
            opt.step()
            sched.step()
