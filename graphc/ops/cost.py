"""Cost rules for `OpDef.cost`: (input types, output types, attrs) -> (MACs, FLOPs) per example.

Every symbolic dim (`N`, `seq`) counts as 1. MACs are the multiply-accumulates of matmul, gemm,
convolutions and recurrent cells; FLOPs are 2 * MACs plus one per output element for bias adds,
elementwise ops and activations, and the per-op counts below. `graphc summary` sums them.
"""

from __future__ import annotations

import math

from graphc.ir.types import TensorType


def numel(t: TensorType) -> int:
    """Elements per example: symbolic dims count as 1."""
    return math.prod(d for d in t.shape if isinstance(d, int))


def _out(outs: list[TensorType]) -> int:
    return numel(outs[0]) if outs else 0


def free(ins, outs, attrs) -> tuple[int, int]:
    """No arithmetic: shape ops, copies, casts, inference-mode dropout."""
    return 0, 0


def elementwise(ins, outs, attrs) -> tuple[int, int]:
    """One FLOP per output element."""
    return 0, _out(outs)


def per_element(k: int):
    """`k` FLOPs per output element (softmax 3, batchnorm 2, layernorm 7, ...)."""
    def cost(ins, outs, attrs) -> tuple[int, int]:
        return 0, k * _out(outs)
    cost.__doc__ = f"{k} FLOPs per output element"
    return cost


def per_input_element(ins, outs, attrs) -> tuple[int, int]:
    """One FLOP per element of the first input (reductions, global pooling, scatter-adds)."""
    return 0, numel(ins[0]) if ins else 0


def window(ins, outs, attrs) -> tuple[int, int]:
    """One FLOP per window element per output element (pooling)."""
    kernel = attrs.get("kernel", attrs.get("kernel_shape", [1]))
    return 0, _out(outs) * math.prod(kernel)


def _bias(ins, outs) -> int:
    return _out(outs) if len(ins) >= 3 else 0


def matmul(ins, outs, attrs) -> tuple[int, int]:
    """out * K MACs (K the contracted size)."""
    k = ins[0].shape[-1] if ins[0].rank else 1
    macs = _out(outs) * (k if isinstance(k, int) else 1)
    return macs, 2 * macs


def gemm(ins, outs, attrs) -> tuple[int, int]:
    """out * K MACs, + one FLOP per output element for the bias."""
    a = ins[0]
    k = a.shape[0] if attrs.get("trans_a", attrs.get("transA", 0)) else a.shape[-1]
    macs = _out(outs) * (k if isinstance(k, int) else 1)
    return macs, 2 * macs + _bias(ins, outs)


def conv(ins, outs, attrs) -> tuple[int, int]:
    """Cout*Hout*Wout * Cin/groups*kh*kw MACs, + bias."""
    macs = _out(outs) * numel(ins[1].with_shape(ins[1].shape[1:]))
    return macs, 2 * macs + _bias(ins, outs)


def conv_transpose(ins, outs, attrs) -> tuple[int, int]:
    """Cin*Hin*Win * Cout/groups*kh*kw MACs, + bias."""
    macs = numel(ins[0]) * numel(ins[1].with_shape(ins[1].shape[1:]))
    return macs, 2 * macs + _bias(ins, outs)


def recurrent(ins, outs, attrs) -> tuple[int, int]:
    """T * (W_ih + W_hh elements) MACs; bias and gate elements once per step."""
    x = ins[0]
    steps = x.shape[1] if x.rank == 3 and isinstance(x.shape[1], int) else 1
    weights = sum(numel(v) for v in ins[1:] if v.rank == 2)
    biases = sum(numel(v) for v in ins[1:] if v.rank == 1)
    gates = sum(v.shape[0] for v in ins[1:] if v.rank == 2 and isinstance(v.shape[0], int)) // 2
    macs = steps * weights
    return macs, 2 * macs + steps * (biases + gates)
