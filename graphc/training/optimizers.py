"""Optimizers as graph builders: one parameter's update, with torch.optim's exact formulas.

`update(b, p, g, state, lr, t, args)` returns the new parameter and the new state slots; `lr` is a
float scalar Value (after the schedule), `t` the 1-based step number as a float scalar Value.
State slots start at zero (adagrad: `initial_accumulator_value`), which reproduces torch's first
step exactly (with dampening 0, torch's first momentum buffer equals the gradient).
"""

from __future__ import annotations

import math
from typing import Any, Callable

from graphc.ir.graph import Value
from graphc.ops import Builder

SLOTS: dict[str, tuple[str, ...]] = {
    "sgd": ("momentum_buffer",),
    "adam": ("exp_avg", "exp_avg_sq"),
    "adamw": ("exp_avg", "exp_avg_sq"),
    "adadelta": ("square_avg", "acc_delta"),
    "rmsprop": ("square_avg", "momentum_buffer", "grad_avg"),
    "adagrad": ("sum",),
}


def slots(name: str, args: dict[str, Any]) -> tuple[str, ...]:
    """The state slots this optimizer keeps per parameter (only those it uses)."""
    if name == "sgd" and not args.get("momentum"):
        return ()
    if name == "rmsprop":
        return ("square_avg",) + (("momentum_buffer",) if args.get("momentum") else ()) + \
            (("grad_avg",) if args.get("centered") else ())
    return SLOTS[name]


def initial_value(name: str, slot: str, args: dict[str, Any]) -> float:
    return float(args.get("initial_accumulator_value", 0.0)) if name == "adagrad" else 0.0


def _decayed(b: Builder, p: Value, g: Value, args: dict[str, Any]) -> Value:
    wd = float(args.get("weight_decay", 0.0))
    return b.add(g, b.mul(p, wd)) if wd else g


def _times(b: Builder, x: Value, lr: Value) -> Value:
    """x * lr, skipping the multiply when lr is the constant 1 (Adadelta's default)."""
    return x if lr.kind == "const" and float(lr.data) == 1.0 else b.mul(x, lr)


def _ema(b: Builder, old: Value, new: Value, decay: float) -> Value:
    """decay * old + (1 - decay) * new."""
    return b.add(b.mul(old, decay), b.mul(new, 1.0 - decay))


def sgd(b, p, g, s, lr, t, a):
    g = _decayed(b, p, g, a)
    mom = float(a["momentum"])
    new = {}
    if mom:
        buf = b.add(b.mul(s["momentum_buffer"], mom), g)
        new["momentum_buffer"] = buf
        g = b.add(g, b.mul(buf, mom)) if a["nesterov"] else buf
    return b.sub(p, _times(b, g, lr)), new


def _adam_common(b, p, g, s, lr, t, a):
    b1, b2 = float(a["beta1"]), float(a["beta2"])
    m = _ema(b, s["exp_avg"], g, b1)
    v = _ema(b, s["exp_avg_sq"], b.mul(g, g), b2)
    bc1 = b.sub(1.0, b.pow(b.const(b1), t))
    bc2 = b.sub(1.0, b.pow(b.const(b2), t))
    denom = b.add(b.div(b.sqrt(v), b.sqrt(bc2)), float(a["eps"]))
    step_size = b.div(lr, bc1)
    return b.sub(p, b.mul(step_size, b.div(m, denom))), {"exp_avg": m, "exp_avg_sq": v}


def adam(b, p, g, s, lr, t, a):
    return _adam_common(b, p, _decayed(b, p, g, a), s, lr, t, a)


def adamw(b, p, g, s, lr, t, a):
    wd = float(a["weight_decay"])
    if wd:
        p = b.mul(p, b.sub(1.0, b.mul(lr, wd)))
    return _adam_common(b, p, g, s, lr, t, a)


def adadelta(b, p, g, s, lr, t, a):
    g = _decayed(b, p, g, a)
    rho, eps = float(a["rho"]), float(a["eps"])
    square_avg = _ema(b, s["square_avg"], b.mul(g, g), rho)
    # sqrt(acc_delta + eps) / sqrt(square_avg + eps) as one sqrt of the ratio (one pass less)
    delta = b.mul(b.sqrt(b.div(b.add(s["acc_delta"], eps), b.add(square_avg, eps))), g)
    acc_delta = _ema(b, s["acc_delta"], b.mul(delta, delta), rho)
    return b.sub(p, _times(b, delta, lr)), {"square_avg": square_avg, "acc_delta": acc_delta}


def rmsprop(b, p, g, s, lr, t, a):
    g = _decayed(b, p, g, a)
    alpha, eps, mom = float(a["alpha"]), float(a["eps"]), float(a["momentum"])
    square_avg = _ema(b, s["square_avg"], b.mul(g, g), alpha)
    new = {"square_avg": square_avg}
    if a["centered"]:
        grad_avg = _ema(b, s["grad_avg"], g, alpha)
        new["grad_avg"] = grad_avg
        avg = b.add(b.sqrt(b.sub(square_avg, b.mul(grad_avg, grad_avg))), eps)
    else:
        avg = b.add(b.sqrt(square_avg), eps)
    if mom:
        buf = b.add(b.mul(s["momentum_buffer"], mom), b.div(g, avg))
        new["momentum_buffer"] = buf
        return b.sub(p, _times(b, buf, lr)), new
    return b.sub(p, _times(b, b.div(g, avg), lr)), new


def adagrad(b, p, g, s, lr, t, a):
    g = _decayed(b, p, g, a)
    clr = b.div(lr, b.add(1.0, b.mul(b.sub(t, 1.0), float(a["lr_decay"])))) if a["lr_decay"] else lr
    total = b.add(s["sum"], b.mul(g, g))
    std = b.add(b.sqrt(total), float(a["eps"]))
    return b.sub(p, b.mul(b.div(g, std), clr)), {"sum": total}


UPDATES: dict[str, Callable] = {"sgd": sgd, "adam": adam, "adamw": adamw, "adadelta": adadelta,
                                "rmsprop": rmsprop, "adagrad": adagrad}


def learning_rate(b: Builder, base_lr: float, t0: Value, schedule: dict[str, dict[str, Any]]) -> Value:
    """The learning rate at 0-based step `t0` (float scalar): step / cosine decay, then linear warm-up.

    step:   lr * gamma ** floor(t0 / every)                      (torch StepLR, counted in steps)
    cosine: min_lr + (lr - min_lr) * (1 + cos(pi * min(t0, steps) / steps)) / 2   (CosineAnnealingLR)
    warmup: multiplied by min(1, (t0 + 1) / steps)
    """
    lr = b.const(float(base_lr))
    if "step" in schedule:
        s = schedule["step"]
        k = _floor(b, b.div(t0, float(s["every"])))
        lr = b.mul(lr, b.pow(b.const(float(s["gamma"])), k))
    if "cosine" in schedule:
        s = schedule["cosine"]
        frac = b.div(b.minimum(t0, float(s["steps"])), float(s["steps"]))
        cos = b.cos(b.mul(frac, math.pi))
        lo = float(s["min_lr"])
        lr = b.add(lo, b.mul(float(base_lr) - lo, b.mul(b.add(cos, 1.0), 0.5)))
    if "warmup" in schedule:
        n = float(schedule["warmup"]["steps"])
        lr = b.mul(lr, b.minimum(b.div(b.add(t0, 1.0), n), 1.0))
    return lr


def _floor(b: Builder, x: Value) -> Value:
    """floor of a non-negative float via an integer cast (truncation)."""
    return b.cast(b.cast(x, to="int64"), to=x.dtype)
