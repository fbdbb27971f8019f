"""Recurrent ops: `rnn`, `lstm`, `gru` (one layer, forward or bidirectional, batch-first).

Inputs: `x [N, T, C]`, then per direction `w_ih [G*H, C]`, `w_hh [G*H, H]`, `b_ih [G*H]`,
`b_hh [G*H]` in PyTorch's layouts and gate orders (lstm: i, f, g, o; gru: r, z, n; G = 4, 3, 1);
a bidirectional op takes the four reverse-direction parameters after the forward ones (9 inputs).
`lstm`'s attribute `gate_order` says how its parameters' rows are ordered: `ifgo` (PyTorch's,
the default), `iofg` (ONNX's i, o, f, c) or any other order of the four letters. The ONNX importer
sets it to the order of the tensors it finds (ONNX's, or PyTorch's when it sees through an
exporter's re-ordering of `state_dict` weights), so that an imported LSTM re-exports with no
re-ordering nodes on its weights beyond what the order needs; every part of the op (reference, lowering, gradient,
unrolled form) honours it, the shape rule is the same for both.
Initial states are zero. Outputs: `y [N, T, D*H]` (every step, forward then reverse features),
`h [N, D*H]` (final hidden state of each direction, concatenated), lstm also `c [N, D*H]`.

Lowering: `rnn`, `lstm` and `gru` become the native ONNX `RNN`/`LSTM`/`GRU` op (layout 0, since
onnxruntime rejects layout 1; explicit zero initial states, which tract needs), which every runtime
runs. `graphc compile --target onnxruntime` lowers `rnn` to a MatMul (the input projection of every
step) and a `Scan` instead: faster on onnxruntime than its `RNN` kernel (see `_lower_rnn_scan`),
but OpenVINO cannot convert Scan (docs/runtimes.md). The native ops come
with Transposes around them and the weights re-ordered to ONNX's gate order by Split/Concat nodes
(lstm i, o, f, c; gru z, r, h with the op's linear_before_reset: 1 is PyTorch's GRU, 0 ONNX's default). On initializers
onnxruntime folds the re-ordering away at session start.

Gradient: `lstm` has a hand-written backprop through time (`_lstm_vjp`) that recomputes the gates
of all steps at once from the forward op's `y` and emits 8 small nodes a step; `rnn` and `gru`
are unrolled into primitives (matmul, gemm, split, sigmoid, tanh, ...) and the primitives' own
gradient rules are applied in reverse over that unrolled graph. Both need a fixed sequence length
T; with a symbolic T the gradient is a ShapeError.
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import dims
from graphc.ir.reverse import gradients
from graphc.ir.types import TensorType, format_shape, onnx_dtype
from graphc.ops import cost
from graphc.ops.common import int64, need_float
from graphc.ops.registry import ABSENT, OpDef, as_list, register
from onnx import helper

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
ONNX_OP = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
# ONNX gate order as indices into PyTorch's gate chunks
ONNX_GATE_ORDER = {"rnn": [0], "lstm": [0, 3, 1, 2], "gru": [1, 0, 2]}
RNN_ACTIVATIONS = {"tanh": "Tanh", "relu": "Relu"}
LSTM_GATES = "ifgo"  # lstm `gate_order`: any order of these letters; PyTorch's (default); ONNX's is iofg


def gate_perm(order: str, want: str) -> list[int]:
    """Indices into chunks stored in gate order `order` that give gate order `want`."""
    return [order.index(g) for g in want]


def directions(n_inputs: int) -> int:
    return 2 if n_inputs == 9 else 1


# -- shape rule -----------------------------------------------------------------------------
def _infer(kind: str):
    gates = GATES[kind]

    def infer(ts: list[TensorType], a: dict) -> list[TensorType]:
        if len(ts) not in (5, 9):
            raise ShapeError(f"{kind} takes 5 inputs (x, w_ih, w_hh, b_ih, b_hh) or 9 (bidirectional), got {len(ts)}")
        x = ts[0]
        need_float(x, kind)
        if kind == "lstm" and sorted(str(a.get("gate_order", "ifgo"))) != sorted(LSTM_GATES):
            raise ShapeError(f"lstm: gate_order must be an order of the gates i, f, g, o (ifgo: PyTorch's, iofg: "
                             f"ONNX's), got {a['gate_order']!r}")
        if a.get("activation", "tanh") not in RNN_ACTIVATIONS:
            raise ShapeError(f"{kind}: activation must be tanh or relu, got {a['activation']!r}")
        if a.get("linear_before_reset", 1) not in (0, 1):
            raise ShapeError(f"{kind}: linear_before_reset must be 0 or 1, got {a['linear_before_reset']!r}")
        if x.rank != 3:
            raise ShapeError(f"input has shape {format_shape(x.shape)}, {kind} needs [N, T, C] (batch first)")
        for t in ts[1:]:
            if t.dtype != x.dtype:
                raise ShapeError(f"{kind}: parameter dtype {t.dtype} differs from the input's {x.dtype}")
        w_hh = ts[2]
        if w_hh.rank != 2:
            raise ShapeError(f"{kind}: w_hh has shape {format_shape(w_hh.shape)}, needs [{gates}*hidden, hidden]")
        hidden = w_hh.shape[1]
        rows = dims.mul(gates, hidden)
        for d in range(directions(len(ts))):
            w_ih, w_hh, b_ih, b_hh = ts[1 + 4 * d: 5 + 4 * d]
            what = f"{kind}{' reverse' if d else ''}"
            if w_ih.rank != 2 or w_hh.rank != 2 or b_ih.rank != 1 or b_hh.rank != 1:
                raise ShapeError(f"{what}: parameters must be w_ih [G*H, C], w_hh [G*H, H], b_ih [G*H], b_hh [G*H]")
            dims.unify(w_ih.shape[1], x.shape[2], f"{what}: w_ih {format_shape(w_ih.shape)} vs input features")
            for t, name in ((w_ih, "w_ih"), (w_hh, "w_hh"), (b_ih, "b_ih"), (b_hh, "b_hh")):
                dims.unify(t.shape[0], rows, f"{what}: {name} {format_shape(t.shape)} rows vs {gates}*hidden")
            dims.unify(w_hh.shape[1], hidden, f"{what}: w_hh {format_shape(w_hh.shape)} vs hidden")
        width = dims.mul(directions(len(ts)), hidden)
        n, steps = x.shape[0], x.shape[1]
        outs = [x.with_shape((n, steps, width)), x.with_shape((n, width))]
        return outs + ([x.with_shape((n, width))] if kind == "lstm" else [])
    return infer


# -- numpy reference ------------------------------------------------------------------------
def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def cell_ref(kind: str, xw: np.ndarray, h: np.ndarray, c: np.ndarray, w_hh, b_hh, activation: str,
             linear_before_reset: int = 1):
    """One step: xw = x_t @ w_ih.T + b_ih; returns the new (h, c)."""
    hw = h @ w_hh.T + b_hh
    if kind == "rnn":
        s = xw + hw
        return (np.tanh(s) if activation == "tanh" else np.maximum(s, 0)), c
    if kind == "lstm":
        i, f, g, o = np.split(xw + hw, 4, axis=-1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        return _sigmoid(o) * np.tanh(c), c
    xr, xz, xn = np.split(xw, 3, axis=-1)
    hr, hz, hn = np.split(hw, 3, axis=-1)
    r, z = _sigmoid(xr + hr), _sigmoid(xz + hz)
    if not linear_before_reset:  # ONNX's default: the reset gate scales h before the matmul
        hidden = h.shape[-1]
        hn = (r * h) @ w_hh[2 * hidden:].T + b_hh[2 * hidden:]
    n = np.tanh(xn + r * hn) if linear_before_reset else np.tanh(xn + hn)
    return (1.0 - z) * n + z * h, c


def _pytorch_order_ref(ins: list[np.ndarray], order: str) -> list[np.ndarray]:
    """lstm parameters with rows in gate order `order` -> PyTorch's i, f, g, o (numpy)."""
    perm = gate_perm(order, "ifgo")
    return [ins[0]] + [np.concatenate([np.split(p, 4, axis=0)[k] for k in perm], axis=0) for p in ins[1:]]


def recurrent_ref(kind: str, ins: list[np.ndarray], a: dict) -> list[np.ndarray]:
    if kind == "lstm" and a.get("gate_order", "ifgo") != "ifgo":
        ins = _pytorch_order_ref(ins, a["gate_order"])
    x = ins[0].astype(np.float64)
    n, steps, _ = x.shape
    ys, hs, cs = [], [], []
    for d in range(directions(len(ins))):
        w_ih, w_hh, b_ih, b_hh = (p.astype(np.float64) for p in ins[1 + 4 * d: 5 + 4 * d])
        hidden = w_hh.shape[1]
        h, c = np.zeros((n, hidden)), np.zeros((n, hidden))
        y = np.zeros((n, steps, hidden))
        xw = x @ w_ih.T + b_ih
        for t in (range(steps) if d == 0 else reversed(range(steps))):
            h, c = cell_ref(kind, xw[:, t], h, c, w_hh, b_hh, a.get("activation", "tanh"),
                            a.get("linear_before_reset", 1))
            y[:, t] = h
        ys.append(y), hs.append(h), cs.append(c)
    out = [np.concatenate(ys, axis=-1), np.concatenate(hs, axis=-1)]
    if kind == "lstm":
        out.append(np.concatenate(cs, axis=-1))
    return [o.astype(ins[0].dtype) for o in out]


# -- ONNX lowering --------------------------------------------------------------------------
def _onnx_gates(ctx, node, name: str, gates: int, order: list[int], tag: str) -> str:
    """A parameter's rows re-ordered from PyTorch's gate order to ONNX's."""
    if order == list(range(gates)):
        return name
    hidden = node.inputs[2].shape[1]
    parts = [ctx.tmp(node, f"{tag}_gate{k}") for k in range(gates)]
    ctx.emit("Split", [name, ctx.const(int64([hidden] * gates), f"{node.name}/gate_sizes")], parts, axis=0)
    out = ctx.tmp(node, f"{tag}_onnx")
    ctx.emit("Concat", [parts[k] for k in order], [out], axis=0)
    return out


def _stack_directions(ctx, node, names: list[str], tag: str) -> str:
    """[rows, ...] per direction -> [D, rows, ...]."""
    axes = ctx.const(int64([0]), f"{node.name}/axis0")
    lifted = []
    for d, name in enumerate(names):
        out = ctx.tmp(node, f"{tag}_d{d}")
        ctx.emit("Unsqueeze", [name, axes], [out])
        lifted.append(out)
    if len(lifted) == 1:
        return lifted[0]
    out = ctx.tmp(node, tag)
    ctx.emit("Concat", lifted, [out], axis=0)
    return out


def _zero_state(ctx, node, ndir: int, hidden: int) -> str:
    """Zeros [D, N, H], the explicit initial state: tract cannot build its own for a symbolic
    batch size N (it panics), and onnxruntime and OpenVINO run it as fast as none. A static batch
    size gives a constant shape (and, at -O2, a zeros initializer: export/fold.py)."""
    batch, shape, zeros = (ctx.tmp(node, k) for k in ("batch", "state0_shape", "state0"))
    n = node.inputs[0].shape[0]
    if isinstance(n, int):
        shape = ctx.const(int64([ndir, n, hidden]), f"{node.name}/state0_shape")
    else:
        ctx.emit("Shape", [ctx.name(node.inputs[0])], [batch], start=0, end=1)
        ctx.emit("Concat", [ctx.const(int64([ndir]), f"{node.name}/directions"), batch,
                            ctx.const(int64([hidden]), f"{node.name}/hidden")], [shape], axis=0)
    ctx.emit("ConstantOfShape", [shape], [zeros],
             value=helper.make_tensor("value", onnx_dtype(node.inputs[0].dtype), [1], [0]))
    return zeros


def _lower_rnn_scan(ctx, node) -> None:
    """`rnn` as one MatMul for every step's input projection, then a Scan over T of
    h = act(Gemm(h, w_hh.T, xw_t)): in onnxruntime 2.5x faster than its `RNN` kernel at N=64
    (which applies the activation one element at a time; specs/rnn.yaml, T=16: 0.9 ms vs 2.3 ms),
    and as fast at N=1 (bench/inference.py).
    Scan runs along axis 0 forwards only (what onnx.reference implements); the reverse direction
    reverses time with Slice(step -1) before and after."""
    ins = ctx.names(node.inputs)
    dtype = onnx_dtype(node.inputs[0].dtype)
    hidden, act = int(node.inputs[2].shape[1]), RNN_ACTIVATIONS[node.attrs["activation"]]
    x_tnc, batch, h0_shape, h0 = (ctx.tmp(node, k) for k in ("x_tnc", "batch", "h0_shape", "h0"))
    ctx.emit("Transpose", [ins[0]], [x_tnc], perm=[1, 0, 2])
    ctx.emit("Shape", [ins[0]], [batch], start=0, end=1)
    ctx.emit("Concat", [batch, ctx.const(int64([hidden]), f"{node.name}/hidden")], [h0_shape], axis=0)
    ctx.emit("ConstantOfShape", [h0_shape], [h0], value=helper.make_tensor("value", dtype, [1], [0]))
    reverse = [ctx.const(int64([v]), f"{node.name}/{k}") for k, v in  # (only a reverse direction reads them)
               (("rev_start", -1), ("rev_end", -(2 ** 63)), ("rev_axis", 0), ("rev_step", -1))] \
        if directions(len(ins)) == 2 else []
    want_y = ctx.used(node.outputs[0])  # else the Scan keeps only its state (no per-step output)
    ys, hs = [], []
    for d in range(directions(len(ins))):
        w_ih, w_hh, b_ih, b_hh = ins[1 + 4 * d: 5 + 4 * d]
        n = {k: ctx.tmp(node, f"{k}{d}") for k in ("w_ih_t", "w_hh_t", "b", "xw_mm", "xw", "xw_rev", "h", "y_tnh",
                                                    "y_rev", "y")}
        ctx.emit("Transpose", [w_ih], [n["w_ih_t"]], perm=[1, 0])  # initializers: folded at session start
        ctx.emit("Transpose", [w_hh], [n["w_hh_t"]], perm=[1, 0])
        ctx.emit("Add", [b_ih, b_hh], [n["b"]])
        ctx.emit("MatMul", [x_tnc, n["w_ih_t"]], [n["xw_mm"]])  # [T, N, H]: every step at once
        ctx.emit("Add", [n["xw_mm"], n["b"]], [n["xw"]])
        xw, y_tnh = n["xw"], n["y_tnh"]
        if d == 1:
            ctx.emit("Slice", [xw] + reverse, [n["xw_rev"]])
            xw, y_tnh = n["xw_rev"], n["y_rev"]
        p = f"{node.name}/scan{d}/"
        body = helper.make_graph(
            [helper.make_node("Gemm", [p + "h_in", n["w_hh_t"], p + "xw_t"], [p + "pre"], name=p + "Gemm"),
             helper.make_node(act, [p + "pre"], [p + "h_out"], name=p + act)]
            + [helper.make_node("Identity", [p + "h_out"], [p + "y_t"], name=p + "Identity")] * want_y,
            p + "body",
            [helper.make_tensor_value_info(p + "h_in", dtype, [None, hidden]),
             helper.make_tensor_value_info(p + "xw_t", dtype, [None, hidden])],
            [helper.make_tensor_value_info(p + k, dtype, [None, hidden]) for k in ("h_out", "y_t")[:1 + want_y]])
        ctx.emit("Scan", [h0, xw], [n["h"], y_tnh][:1 + want_y], body=body, num_scan_inputs=1)
        hs.append(n["h"])
        if not want_y:
            continue
        if d == 1:
            ctx.emit("Slice", [y_tnh] + reverse, [n["y_tnh"]])
        ctx.emit("Transpose", [n["y_tnh"]], [n["y"]], perm=[1, 0, 2])
        ys.append(n["y"])
    for parts, out in zip((ys, hs), ctx.names(node.outputs)):  # y [N, T, D*H], h [N, D*H]
        if parts:
            ctx.emit("Concat", parts, [out], axis=-1) if len(parts) > 1 else ctx.emit("Identity", parts, [out])


def _lower(kind: str):
    gates = GATES[kind]

    def lower(ctx, node) -> None:
        if kind == "rnn" and ctx.target == "onnxruntime":
            return _lower_rnn_scan(ctx, node)
        order = ONNX_GATE_ORDER[kind]
        if kind == "lstm" and node.attrs.get("gate_order", "ifgo") != "ifgo":
            order = gate_perm(node.attrs["gate_order"], "iofg")  # rows stored in ONNX's order: no nodes
        ins = ctx.names(node.inputs)
        ndir = directions(len(ins))
        hidden = node.inputs[2].shape[1]
        w, r, bias = [], [], []
        for d in range(ndir):
            w_ih, w_hh, b_ih, b_hh = ins[1 + 4 * d: 5 + 4 * d]
            w.append(_onnx_gates(ctx, node, w_ih, gates, order, f"W{d}"))
            r.append(_onnx_gates(ctx, node, w_hh, gates, order, f"R{d}"))
            b = ctx.tmp(node, f"B{d}")
            ctx.emit("Concat", [_onnx_gates(ctx, node, b_ih, gates, order, f"Wb{d}"),
                                _onnx_gates(ctx, node, b_hh, gates, order, f"Rb{d}")], [b], axis=0)
            bias.append(b)
        x_tnc = ctx.tmp(node, "x_tnc")
        ctx.emit("Transpose", [ins[0]], [x_tnc], perm=[1, 0, 2])
        # an output nothing reads is left out ("", ONNX's optional output): 7% faster at batch 64
        outs = [ctx.tmp(node, s) if ctx.used(v) else "" for s, v in zip(("Y", "Y_h", "Y_c"), node.outputs)]
        attrs = {"hidden_size": int(hidden), "direction": "bidirectional" if ndir == 2 else "forward"}
        if kind == "gru":
            attrs["linear_before_reset"] = int(node.attrs.get("linear_before_reset", 1))
        if kind == "rnn":
            attrs["activations"] = [RNN_ACTIVATIONS[node.attrs["activation"]]] * ndir
        zeros = _zero_state(ctx, node, ndir, int(hidden))
        ctx.emit(ONNX_OP[kind], [x_tnc, _stack_directions(ctx, node, w, "W"), _stack_directions(ctx, node, r, "R"),
                                 _stack_directions(ctx, node, bias, "B"), "", zeros] + [zeros] * (kind == "lstm"),
                 outs, **attrs)
        names = ctx.names(node.outputs)
        if outs[0] and ndir == 1:  # [T, 1, N, H] -> [T, N, H] (no copy) -> [N, T, H]: as torch.onnx writes it,
            y_tnh = ctx.tmp(node, "y_tnh")  # a 3-D transpose (5% faster than the 4-D one at N=2, T=5)
            ctx.emit("Squeeze", [outs[0], ctx.const(int64([1]), f"{node.name}/direction_axis")], [y_tnh])
            ctx.emit("Transpose", [y_tnh], [names[0]], perm=[1, 0, 2])
        elif outs[0]:
            y_ntdh = ctx.tmp(node, "y_ntdh")
            ctx.emit("Transpose", [outs[0]], [y_ntdh], perm=[2, 0, 1, 3])  # [T, D, N, H] -> [N, T, D, H]
            ctx.emit("Reshape", [y_ntdh, ctx.const(int64([0, 0, -1]), f"{node.name}/y_shape")], [names[0]])
        for state, name in zip(outs[1:], names[1:]):  # [D, N, H] -> [N, D*H]
            if not state:
                continue
            ndh = ctx.tmp(node, f"{name}_ndh")
            ctx.emit("Transpose", [state], [ndh], perm=[1, 0, 2])
            ctx.emit("Reshape", [ndh, ctx.const(int64([0, -1]), f"{node.name}/state_shape")], [name])
    return lower


# -- unrolled form and gradient -------------------------------------------------------------
def _cell(b, kind: str, xw, h, c, w_hh, b_hh, hidden: int, activation: str, linear_before_reset: int = 1):
    """One step in graphc primitives; h and c are None at the first step (zero state)."""
    if kind == "gru" and not linear_before_reset:
        return _gru_cell_reset_first(b, xw, h, w_hh, b_hh, hidden)
    hw = b.gemm(h, w_hh, b_hh, trans_b=1) if h is not None else b_hh
    if kind == "rnn":
        return b.emit(activation, b.add(xw, hw)), None
    if kind == "lstm":
        i, f, g, o = b.split(b.add(xw, hw), axis=-1, sizes=[hidden] * 4)
        ig = b.mul(b.sigmoid(i), b.tanh(g))
        c = ig if c is None else b.add(b.mul(b.sigmoid(f), c), ig)
        return b.mul(b.sigmoid(o), b.tanh(c)), c
    xr, xz, xn = b.split(xw, axis=-1, sizes=[hidden] * 3)
    hr, hz, hn = b.split(hw, axis=-1, sizes=[hidden] * 3)
    r, z = b.sigmoid(b.add(xr, hr)), b.sigmoid(b.add(xz, hz))
    n = b.tanh(b.add(xn, b.mul(r, hn)))
    new = b.mul(b.sub(1.0, z), n)
    return (new if h is None else b.add(new, b.mul(z, h))), None


def _gru_cell_reset_first(b, xw, h, w_hh, b_hh, hidden: int):
    """A GRU step with linear_before_reset=0 (ONNX's default): n = tanh(xn + (r * h) W_hn^T + b_hn)."""
    xr, xz, xn = b.split(xw, axis=-1, sizes=[hidden] * 3)
    w_rz, w_n = b.split(w_hh, axis=0, sizes=[2 * hidden, hidden])
    b_rz, b_n = b.split(b_hh, axis=0, sizes=[2 * hidden, hidden])
    hw = b.gemm(h, w_rz, b_rz, trans_b=1) if h is not None else b_rz
    hr, hz = b.split(hw, axis=-1, sizes=[hidden] * 2)
    r, z = b.sigmoid(b.add(xr, hr)), b.sigmoid(b.add(xz, hz))
    hn = b.gemm(b.mul(r, h), w_n, b_n, trans_b=1) if h is not None else b_n
    n = b.tanh(b.add(xn, hn))
    new = b.mul(b.sub(1.0, z), n)
    return (new if h is None else b.add(new, b.mul(z, h))), None


def unrolled(b, kind: str, inputs: list, attrs: dict) -> list:
    """The op's outputs computed step by step with graphc primitives (needs a fixed T)."""
    if kind == "lstm" and attrs.get("gate_order", "ifgo") != "ifgo":
        inputs = _pytorch_order(b, inputs, attrs["gate_order"])
    x = inputs[0]
    steps = x.shape[1]
    if not isinstance(steps, int):
        raise ShapeError(f"{kind}: the gradient unrolls the sequence and needs a fixed length T, got symbolic "
                         f"{steps}", hint="give T as a number in the input shape for training")
    ys, hs, cs = [], [], []
    for d in range(directions(len(inputs))):
        w_ih, w_hh, b_ih, b_hh = inputs[1 + 4 * d: 5 + 4 * d]
        hidden = int(w_hh.shape[1])
        xw = b.add(b.matmul(x, b.transpose(w_ih, perm=[1, 0])), b_ih)  # [N, T, G*H]
        per_step = as_list(b.split(xw, axis=1, sizes=[1] * steps)) if steps > 1 else [xw]
        h = c = None
        outs = [None] * steps
        for t in (range(steps) if d == 0 else reversed(range(steps))):
            h, c = _cell(b, kind, b.squeeze(per_step[t], axes=[1]), h, c, w_hh, b_hh, hidden,
                         attrs.get("activation", "tanh"), attrs.get("linear_before_reset", 1))
            outs[t] = b.unsqueeze(h, axes=[1])
        ys.append(b.concat(*outs, axis=1) if steps > 1 else outs[0])
        hs.append(h), cs.append(c)
    cat = (lambda vs: b.concat(*vs, axis=-1) if len(vs) > 1 else vs[0])
    result = [cat(ys), cat(hs)]
    return result + ([cat(cs)] if kind == "lstm" else [])


def _steps(b, v, steps: int, width: int) -> list:
    """[N, T, W] -> T tensors [N, W], one per time step, by one Reshape and one Split."""
    wide = b.reshape(v, shape=[0, -1])
    return as_list(b.split(wide, axis=1, sizes=[width] * steps)) if steps > 1 else [wide]


def _stack_steps(b, vs: list, width: int):
    """T tensors [N, W] -> [N, T, W] (the inverse of `_steps`)."""
    return b.reshape(b.concat(*vs, axis=1) if len(vs) > 1 else vs[0], shape=[0, len(vs), width])


def _lstm_direction_vjp(b, x, y_d, w_ih, w_hh, b_ih, b_hh, gy, gh, gc, reverse: bool):
    """Backprop through time of one LSTM direction, recomputing the gates from the forward op's
    hidden states `y_d [N, T, H]`: every step-independent product (gate pre-activations, gate
    derivatives, weight and bias gradients, dx) is one node over all T steps at once; each step
    costs one Gemm (dh from the next step's gate cotangent), Mul/Add for dc and one Concat+Mul
    for the [N, 4H] gate cotangent. `gy [N, T, H]`, `gh`, `gc [N, H]` may be None.
    Returns (dx [N, T, C], dw_ih, dw_hh, gate cotangents [N*T, 4H], whose column sums are db)."""
    steps, channels, hidden = int(x.shape[1]), x.shape[2], int(w_hh.shape[1])
    order = list(reversed(range(steps))) if reverse else list(range(steps))  # forward processing order
    # hidden state entering each step: y shifted by one step along T, zero at the first step
    if steps > 1:
        zero = b.zeros_like(b.slice(y_d, starts=[0], ends=[1], axes=[1]))
        shifted = (b.concat(b.slice(y_d, starts=[1], ends=[steps], axes=[1]), zero, axis=1) if reverse else
                   b.concat(zero, b.slice(y_d, starts=[0], ends=[steps - 1], axes=[1]), axis=1))
    else:
        shifted = b.zeros_like(y_d)
    xh = b.concat(x, shifted, axis=-1)  # [N, T, C + H]
    w = b.concat(w_ih, w_hh, axis=1)  # [4H, C + H]
    pre = b.add(b.matmul(xh, b.transpose(w, perm=[1, 0])), b.add(b_ih, b_hh))  # [N, T, 4H]
    i, f, g, o = b.split(pre, axis=-1, sizes=[hidden] * 4)
    si, sf, tg, so = b.sigmoid(i), b.sigmoid(f), b.tanh(g), b.sigmoid(o)
    # cell states: c_t = f_t * c_{t-1} + i_t * g_t, two nodes a step
    ig = b.mul(si, tg)
    f_t, ig_t = _steps(b, sf, steps, hidden), _steps(b, ig, steps, hidden)
    c_t: list = [None] * steps
    c_prev_t: list = [None] * steps
    prev = None
    for t in order:
        c_prev_t[t] = prev
        prev = ig_t[t] if prev is None else b.add(b.mul(f_t[t], prev), ig_t[t])
        c_t[t] = prev
    c_prev_t[order[0]] = b.zeros_like(c_t[0])
    tc = b.tanh(_stack_steps(b, c_t, hidden))  # [N, T, H]
    # dL/dpre = [dc * g * s_i', dc * c_prev * s_f', dc * i * tanh_g', dh * tanh(c) * s_o'] = E * P, with
    # P per gate from i*g (ig) and h = o*tanh(c) (y_d) computed already: two or three passes each
    p = b.concat(b.mul(ig, b.sub(1.0, si)), b.mul(_stack_steps(b, c_prev_t, hidden), b.mul(sf, b.sub(1.0, sf))),
                 b.sub(si, b.mul(ig, tg)), b.mul(y_d, b.sub(1.0, so)), axis=-1)
    p_t = _steps(b, p, steps, 4 * hidden)
    q_t = _steps(b, b.sub(so, b.mul(y_d, tc)), steps, hidden)  # dc/dh through h = o tanh(c): o (1 - tanh(c)^2)
    gy_t = _steps(b, gy, steps, hidden) if gy is not None else [None] * steps
    gpre_t: list = [None] * steps
    gpre_next = dc_next = None
    for k, t in enumerate(reversed(order)):
        dh = gy_t[t]
        if gpre_next is not None:
            dh = b.gemm(gpre_next, w_hh, dh) if dh is not None else b.gemm(gpre_next, w_hh)
        if k == 0 and gh is not None:
            dh = gh if dh is None else b.add(dh, gh)
        if dh is None:
            dh = b.zeros_like(q_t[t])
        dc = b.mul(dh, q_t[t])
        if dc_next is not None:
            dc = b.add(dc, dc_next)
        if k == 0 and gc is not None:
            dc = b.add(dc, gc)
        gpre_next = gpre_t[t] = b.mul(b.concat(dc, dc, dc, dh, axis=-1), p_t[t])
        if k < steps - 1:
            dc_next = b.mul(dc, f_t[t])
    gpre = _stack_steps(b, gpre_t, 4 * hidden)  # [N, T, 4H]
    flat = b.reshape(gpre, shape=[-1, 4 * hidden])  # [N*T, 4H]
    dw = b.gemm(flat, b.reshape(xh, shape=[-1, xh.shape[2]]), trans_a=1)  # [4H, C + H]
    dw_ih, dw_hh = b.split(dw, axis=1, sizes=[channels, hidden])
    return b.matmul(gpre, w_ih), dw_ih, dw_hh, flat


def _lstm_vjp(b, node, g):
    """Hand-written LSTM gradient (see `_lstm_direction_vjp`): 8 nodes a step instead of the
    ~50 of backprop through the unrolled primitives."""
    x = node.inputs[0]
    if not isinstance(x.shape[1], int):
        raise ShapeError(f"lstm: the gradient unrolls the sequence and needs a fixed length T, got symbolic "
                         f"{x.shape[1]}", hint="give T as a number in the input shape for training")
    hidden = int(node.inputs[2].shape[1])
    ndir = directions(len(node.inputs))
    g = list(g) + [None] * (3 - len(g))

    def part(v, d):
        if v is None or ndir == 1:
            return v
        return b.slice(v, starts=[d * hidden], ends=[(d + 1) * hidden], axes=[v.type.rank - 1])

    grads: list = [None]
    for d in range(ndir):
        w_ih, w_hh, b_ih, b_hh = node.inputs[1 + 4 * d: 5 + 4 * d]
        dx, dw_ih, dw_hh, flat = _lstm_direction_vjp(b, x, part(node.outputs[0], d), w_ih, w_hh, b_ih, b_hh,
                                                   part(g[0], d), part(g[1], d), part(g[2], d), d == 1)
        grads[0] = dx if grads[0] is None else b.add(grads[0], dx)
        grads += [dw_ih, dw_hh, b.sum(flat, axis=0), b.sum(flat, axis=0)]  # distinct values: b_ih, b_hh
    return grads


def _reorder_rows(b, v, perm: list[int]):
    """v's four gate chunks of rows (axis 0) taken in the order `perm`."""
    parts = as_list(b.split(v, axis=0, sizes=[int(v.shape[0]) // 4] * 4))
    return b.concat(*[parts[k] for k in perm], axis=0)


def _pytorch_order(b, inputs: list, order: str) -> list:
    """lstm inputs with parameters in gate order `order` -> the same with PyTorch's (graphc ops)."""
    perm = gate_perm(order, "ifgo")
    return [inputs[0]] + [_reorder_rows(b, p, perm) for p in inputs[1:]]


class _Reordered:
    """The lstm node as `_lstm_vjp` sees it: its parameters re-ordered to PyTorch's gates."""

    def __init__(self, b, node):
        self.inputs = _pytorch_order(b, list(node.inputs), node.attrs["gate_order"])
        self.outputs, self.attrs = node.outputs, {**node.attrs, "gate_order": "ifgo"}


def _lstm_vjp_gate_order(b, node, g):
    """Hand-written LSTM gradient (`_lstm_vjp`, 8 nodes a step); with a `gate_order` other than
    PyTorch's, on the parameters re-ordered to it, the parameter gradients re-ordered back."""
    if node.attrs.get("gate_order", "ifgo") == "ifgo":
        return _lstm_vjp(b, node, g)
    grads = _lstm_vjp(b, _Reordered(b, node), g)
    back = gate_perm("ifgo", node.attrs["gate_order"])
    return grads[:1] + [None if d is None else _reorder_rows(b, d, back) for d in grads[1:]]


def _vjp(kind: str):
    if kind == "lstm":
        return _lstm_vjp_gate_order

    def vjp(b, node, g):  # reverse mode through the unrolled decomposition (the primitives' rules)
        outputs = unrolled(b, kind, list(node.inputs), node.attrs)
        pairs = [(y, gy) for y, gy in zip(outputs, g) if gy is not None]
        return gradients(b.graph, [y for y, _ in pairs], [gy for _, gy in pairs], list(node.inputs), b.ops)
    return vjp


# -- registration ---------------------------------------------------------------------------
_INPUTS = ("x", "w_ih", "w_hh", "b_ih", "b_hh", "w_ih_reverse", "w_hh_reverse", "b_ih_reverse", "b_hh_reverse")
_ONNX_OPS = {"rnn": ("RNN", "Transpose", "Reshape", "Squeeze", "Concat", "Unsqueeze", "Shape", "ConstantOfShape",  # portable
                     "Scan", "MatMul", "Add", "Slice", "Identity"),  # --target onnxruntime
             **{k: (ONNX_OP[k], "Transpose", "Reshape", "Squeeze", "Concat", "Split", "Unsqueeze", "Shape",
                    "ConstantOfShape")
                for k in ("lstm", "gru")}}
_DOC = {"rnn": "Elman RNN layer, h = act(x W_ih^T + b_ih + h W_hh^T + b_hh)",
        "lstm": "LSTM layer (gate order i, f, g, o: PyTorch's; attribute gate_order, e.g. iofg: ONNX's)",
        "gru": "GRU layer (PyTorch gate order r, z, n; reset applied after the hidden matmul, or before it with "
               "linear_before_reset: 0, ONNX's default)"}

# gate_order / linear_before_reset: absent means PyTorch's ifgo / 1 (so that spec-built LSTMs and GRUs keep
# their digest and bytes)
_ATTRS = {"rnn": {"activation": "tanh"}, "lstm": {"gate_order": ABSENT}, "gru": {"linear_before_reset": ABSENT}}

for _kind in ("rnn", "lstm", "gru"):
    register(OpDef(_kind, _INPUTS, _infer(_kind), (lambda k: lambda ins, a: recurrent_ref(k, ins, a))(_kind),
                   _lower(_kind), attrs=_ATTRS.get(_kind, {}),
                   outputs=("y", "h", "c") if _kind == "lstm" else ("y", "h"), vjp=_vjp(_kind), family="recurrent",
                   public=False, min_inputs=5, doc=_DOC[_kind] + "; batch-first [N, T, C], zero initial state",
                   onnx_ops=_ONNX_OPS[_kind], cost=cost.recurrent))
