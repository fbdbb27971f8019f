"""Shared helpers of the bench/ scripts: timing in blocks, timing a process, JSON results.

    from common import time_block, compare, write_json
    t = time_block(lambda: sess.run(None, feeds), repeat=5, number=100)   # t["median_s"] per call
    write_json("inference", {"rows": rows})   # -> bench/results/inference.json, with machine info

Times are per call, in seconds. A block runs `fn` `number` times back to back (warm caches,
no per-call timer overhead); blocks of several functions are interleaved by `compare`, so
that a load spike on this shared machine hits every contender, not just one.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from importlib import metadata
from typing import Callable

from graphc.util.atomic import write_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.environ.get("GRAPHC_BENCH_RESULTS") or os.path.join(ROOT, "bench", "results")  # tests redirect it


def _block(fn: Callable[[], object], number: int, cpu_clock: Callable[[], float]) -> tuple[float, float]:
    """Per-call (wall, CPU) seconds of `number` back-to-back calls."""
    start, cpu = time.perf_counter(), cpu_clock()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number, (cpu_clock() - cpu) / number


def _summary(blocks: list[tuple[float, float]], number: int) -> dict:
    wall, cpu = [b[0] for b in blocks], [b[1] for b in blocks]
    return {"median_s": statistics.median(wall), "min_s": min(wall), "blocks_s": wall, "number": number,
            "cpu_median_s": statistics.median(cpu), "cpu_min_s": min(cpu)}


def time_block(fn: Callable[[], object], repeat: int = 5, number: int = 10, warmup: int = 1,
               cpu_clock: Callable[[], float] = time.process_time) -> dict:
    """Per-call time of `fn`: `repeat` blocks of `number` calls each (after `warmup` calls).

    Returns {"median_s", "min_s", "blocks_s": [per-call wall time of each block], "number",
    "cpu_median_s", "cpu_min_s"}. CPU time is `cpu_clock`: by default the whole process's
    (all threads); `time.thread_time` counts only the calling thread (right for single-threaded
    work when other threads, e.g. torch's, may spin in the background).
    """
    for _ in range(warmup):
        fn()
    return _summary([_block(fn, number, cpu_clock) for _ in range(repeat)], number)


def calibrate(fn: Callable[[], object], target_s: float = 0.1, cap: int = 10_000) -> int:
    """A `number` of calls that makes one block last about `target_s` (at least 1)."""
    fn()
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    return max(1, min(cap, int(target_s / once)))


def compare(fns: dict[str, Callable[[], object]], repeat: int = 5, number: int = 10, warmup: int = 1,
            cpu_clock: Callable[[], float] = time.process_time) -> dict:
    """`time_block` for several functions, their blocks interleaved (A, B, B, A, A, B, ...)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    blocks: dict[str, list[tuple[float, float]]] = {k: [] for k in fns}
    order = list(fns)
    for r in range(repeat):
        for key in order if r % 2 == 0 else order[::-1]:  # ABBA: no contender always goes first
            blocks[key].append(_block(fns[key], number, cpu_clock))
    return {k: _summary(v, number) for k, v in blocks.items()}


def matmul_peak_gflops(threads: int, n: int = 1024, repeat: int = 7) -> float:
    """The machine's measured float32 matmul rate: numpy sgemm n x n at `threads` BLAS threads
    (the physical limit a model's GFLOP/s is set beside, measured in the same run)."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = a.T.copy()
    with threadpool_limits(limits=threads, user_api="blas"):
        a @ b
        best = min(_timed(lambda: a @ b) for _ in range(repeat))
    return 2 * n ** 3 / best / 1e9


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def time_process(cmd: list[str], timeout: float | None = None, **kwargs) -> dict:
    """Run a command once: {"wall_s", "cpu_s" (user + sys of the child), "peak_rss_bytes" (the
    child's own maximum resident set, from wait4), "rc", "stdout", "stderr"}.

    On a timeout: {"timeout_s": timeout, "rc": None}. The CPU time is the fairer number when
    other people's processes share the cores; the wall time is what a user waits.
    """
    import tempfile
    import threading

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, **kwargs)
        killer = threading.Timer(timeout, proc.kill) if timeout else None
        if killer:
            killer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if killer:
            killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        if timeout and wall >= timeout and proc.returncode < 0:
            return {"timeout_s": timeout, "rc": None}
        out.seek(0)
        err.seek(0)
        return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_bytes": usage.ru_maxrss * 1024,
                "rc": proc.returncode, "stdout": out.read(), "stderr": err.read()}


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    """Where and with what the numbers were taken."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "versions": {d: _version(d) for d in ("graphc", "torch", "onnxruntime", "onnx", "onnxscript", "numpy")},
    }


def write_json(name: str, data: dict, directory: str | None = None) -> str:
    """Write `data` plus {"machine": machine_info()} to bench/results/<name>.json atomically; returns the path."""
    directory = directory or RESULTS
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{name}.json")
    payload = {"benchmark": name, "machine": machine_info(), **data}
    write_text(path, json.dumps(payload, indent=2, default=str) + "\n")
    return path


def print_table(rows: list[list], header: list[str]) -> None:
    """A plain aligned text table on stdout."""
    cells = [[str(c) for c in header]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for r in cells:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
    sys.stdout.flush()


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)
