"""The counter-based hash PRNG of graphc/ops/sampling.py, re-implemented by hand from its
definition (the oracle for dropout masks and noise in the op and training tests).

Python-int-sized (uint64, masked) arithmetic instead of graphc's wrapping uint32:
  key = H(H(seed ^ salt)),  h_i = H(i * 0x9E3779B9 ^ key),  u_i = (h_i >> 8) / 2**24,
H = lowbias32 (x ^= x >> 16; x *= 0x7FEB352D; x ^= x >> 15; x *= 0x846CA68B; x ^= x >> 16, mod 2**32).
"""

from __future__ import annotations

import numpy as np

_MASK32 = np.uint64(0xFFFFFFFF)


def lowbias32(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.uint64) & _MASK32
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & _MASK32
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & _MASK32
    return x ^ (x >> np.uint64(16))


def hash_uniform(n: int, seed: int, salt: int) -> np.ndarray:
    key = lowbias32(lowbias32(np.uint64((seed % 2**32) ^ (salt % 2**32))))
    idx = np.arange(n, dtype=np.uint64)
    h = lowbias32(((idx * np.uint64(0x9E3779B9)) & _MASK32) ^ key)
    return ((h >> np.uint64(8)).astype(np.float64) / 2.0 ** 24).astype(np.float32)


def hash_normal(x: np.ndarray, seed: int, salt: int) -> np.ndarray:
    """Box-Muller (in float64) over the streams salt and salt ^ 0x5BD1E995."""
    u1 = hash_uniform(x.size, seed, salt).astype(np.float64)
    u2 = hash_uniform(x.size, seed, salt ^ 0x5BD1E995).astype(np.float64)
    z = np.sqrt(-2.0 * np.log(1.0 - u1)) * np.cos(2.0 * np.pi * u2)
    return z.astype(np.float32).astype(x.dtype).reshape(x.shape)


def dropout_mask_oracle(ins: list, a: dict) -> list[np.ndarray]:
    """16-bit uniforms, two per hash: element i < m = ceil(n/2) takes the low half of
    lowbias32((key + i * golden) mod 2^32), element m + i the high half; keep when u >= rate."""
    x, seed = ins
    rate, n = a.get("rate", 0.5), x.size
    key = lowbias32(lowbias32(np.uint64((int(seed) % 2**32) ^ (a.get("salt", 0) % 2**32))))
    m = (n + 1) // 2
    h = lowbias32((key + np.arange(m, dtype=np.uint64) * np.uint64(0x9E3779B9)) & _MASK32)
    u = np.concatenate([h & np.uint64(0xFFFF), h >> np.uint64(16)])[:n].astype(np.float64) / 2.0 ** 16
    return [np.where(u.reshape(x.shape) >= rate, 1.0 / (1.0 - rate), 0.0).astype(x.dtype)]
