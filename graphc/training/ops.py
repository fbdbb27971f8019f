"""Compatibility re-exports: the training ops now live in the op registry's own modules.

`dropout_mask`, `normal_from_seed` and the hash PRNG are in graphc/ops/sampling.py, `cos` (and
`sin`) in graphc/ops/elementwise.py; all are registered when `graphc.ops` is imported.
"""

from __future__ import annotations

from graphc.ops.sampling import SECOND_STREAM, hash32, normal_bits, normal_from_uniforms, uniform_bits

_SECOND_STREAM = SECOND_STREAM

__all__ = ["hash32", "normal_bits", "normal_from_uniforms", "uniform_bits"]
