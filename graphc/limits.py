"""Size limits checked before anything big is allocated: int64 dims, and parameter memory.

Parameters are created while a model is built; each is counted against `memory_limit()` (the
`--max-memory SIZE` flag or `GRAPHC_MAX_MEMORY`, else the memory this process can still get:
available RAM and `ulimit -v`) *before* its values are drawn. Once the budget is exceeded the
build goes on with zero-cost placeholders, only to total what the whole model would need, and
then stops with one located error giving that size.
"""

from __future__ import annotations

import math
import os
import re
import resource
import weakref
from dataclasses import dataclass

import numpy as np

from graphc.errors import Location, ShapeError, SpecError

INT64_MAX = 2 ** 63 - 1
_UNITS = {"": 1, "b": 1, "k": 10 ** 3, "kb": 10 ** 3, "m": 10 ** 6, "mb": 10 ** 6, "g": 10 ** 9, "gb": 10 ** 9,
          "t": 10 ** 12, "tb": 10 ** 12, "kib": 2 ** 10, "mib": 2 ** 20, "gib": 2 ** 30, "tib": 2 ** 40}
_override: int | None = None


def parse_size(text: str) -> int:
    """'8GB', '512MiB', '1.5e9', '2T' -> bytes (decimal units; KiB/MiB/GiB/TiB are binary)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
    unit = m.group(2).lower() if m else None
    if not m or unit not in _UNITS or float(m.group(1)) <= 0:
        raise SpecError(f"--max-memory: cannot read the size '{text}'", hint="write it like 8GB, 512MiB or 2e9")
    return int(float(m.group(1)) * _UNITS[unit])


def format_bytes(n: float) -> str:
    for unit, size in (("TiB", 2 ** 40), ("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} bytes"


def _size_arg(n: float) -> str:
    """The smallest whole `--max-memory` size, in the unit format_bytes shows, that holds n bytes."""
    for unit, size in (("TiB", 2 ** 40), ("GiB", 2 ** 30), ("MiB", 2 ** 20)):
        if n >= size:
            return f"{math.ceil(n / size)}{unit}"
    return "1MiB"


def set_max_memory(limit: int | str | None) -> None:
    """Override the memory limit for this process (None: back to the default)."""
    global _override
    _override = parse_size(limit) if isinstance(limit, str) else limit


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _address_space_left() -> int | None:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/status") as f:
            used = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    except (OSError, StopIteration):
        used = 0
    return max(soft - used, 0)


def memory_limit() -> tuple[int, str]:
    """(bytes, where the number comes from)."""
    if _override is not None:
        return _override, "the --max-memory limit"
    env = os.environ.get("GRAPHC_MAX_MEMORY")
    if env:
        return parse_size(env), "the GRAPHC_MAX_MEMORY limit"
    options = [(v, what) for v, what in ((_meminfo_available(), "the available memory"),
                                         (_address_space_left(), "the memory ulimit -v leaves")) if v is not None]
    return min(options) if options else (2 ** 62, "no limit")


# -- int64 dims ---------------------------------------------------------------------------------
def check_shape(shape, what: str) -> None:
    """ShapeError when a fixed dim, or the product of the fixed dims, does not fit in int64."""
    total = 1
    for d in shape:
        if isinstance(d, int):
            if d > INT64_MAX:
                raise ShapeError(f"{what} has a dim of {d:.3e}, more than int64 can hold (2^63-1)",
                                 hint="use a dim of at most 2^63-1")
            total *= d
    if total > INT64_MAX:
        raise ShapeError(f"{what} would have {total:.3e} elements, more than int64 can count (2^63-1)",
                         hint="use smaller dims: their product must be at most 2^63-1")


# -- parameter memory ----------------------------------------------------------------------------
@dataclass
class _Budget:
    used: int = 0  # bytes of parameters so far
    count: int = 0  # parameter values so far
    peak: int = 0  # bytes at the peak of creating them
    over: tuple | None = None  # (layer name, location, parameter) where the limit was first passed
    limit: int | None = None  # the memory limit when the build began (read once: /proc per parameter is slow)


_budgets: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def reserve_param(graph, name: str, shape: tuple, dtype, layer: str, loc: Location | None) -> bool:
    """Count a parameter against the memory limit; False when its values must not be allocated
    (the limit is passed: the caller creates a placeholder and the build fails at its end)."""
    budget = _budgets.setdefault(graph, _Budget())
    numel = 1
    for d in shape:
        numel *= int(d)
    itemsize = np.dtype(dtype).itemsize
    budget.peak = max(budget.peak, budget.used + numel * itemsize + min(numel, 2 ** 20) * 8)  # + a draw chunk
    budget.used += numel * itemsize
    budget.count += numel
    if budget.over is not None:
        return False
    if budget.limit is None:
        budget.limit, _ = memory_limit()
    if budget.peak > budget.limit:
        budget.over = (layer, loc, name, tuple(shape), itemsize)
        return False
    return True


def placeholder(shape: tuple, dtype) -> np.ndarray:
    """A read-only array of the shape that takes no memory (zeros broadcast from one value)."""
    return np.broadcast_to(np.zeros((), dtype), shape)


def check_params(graph) -> None:
    """Raise the located error when the model's parameters passed the memory limit."""
    budget = _budgets.pop(graph, None)
    if budget is None or budget.over is None:
        return
    limit, source = memory_limit()
    layer, loc, name, shape, itemsize = budget.over
    raise SpecError(f"{layer}: the model's parameters need {format_bytes(budget.peak)} of memory to create "
                    f"({budget.count:,} values, {format_bytes(budget.used)}; {name} {list(shape)} alone is "
                    f"{format_bytes(np.prod(shape, dtype=float) * itemsize)}), more than {source} "
                    f"({format_bytes(limit)})", loc,
                    f"use smaller sizes, or raise the limit with --max-memory {_size_arg(budget.peak)}")


def require(nbytes: int, what: str) -> None:
    """SpecError when `nbytes` more would pass the memory limit (before allocating them)."""
    limit, source = memory_limit()
    if nbytes > limit:
        raise SpecError(f"{what} needs {format_bytes(nbytes)}, more than {source} ({format_bytes(limit)})",
                        hint="raise the limit with --max-memory SIZE")
