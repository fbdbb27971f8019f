"""Ray for graphc: the one-line message when it is missing, joining or starting a cluster, and
`ray.get` with a deadline so a worker that cannot start is an error, not a hang."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from graphc.errors import SpecError
import logging

INSTALL = "pip install 'graphc[ray]'"
START_TIMEOUT_S = float(os.environ.get("GRAPHC_RAY_START_TIMEOUT", "300"))  # workers up and sessions built
TASK_TIMEOUT_S = float(os.environ.get("GRAPHC_RAY_TASK_TIMEOUT", "900"))  # one step / one batch (with retries)


def require_ray(flag: str):
    """The `ray` module, or a SpecError saying what to install."""
    try:
        import ray
    except ImportError:
        raise SpecError(f"{flag} needs Ray, which is not installed", hint=f"install it: {INSTALL}") from None
    return ray


@contextmanager
def connected(address: str | None, flag: str) -> Iterator[Any]:
    """Ray, connected: to `address` (or $RAY_ADDRESS) when given, else a local Ray with this
    machine's CPUs. An already connected Ray (tests, notebooks) is used as it is. Shuts down only
    the Ray it started."""
    ray = require_ray(flag)
    if ray.is_initialized():
        yield ray
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                 configure_logging=True)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise SpecError(f"cannot start or join {where}: {str(e).splitlines()[0]}",
                        hint="check --ray-address / RAY_ADDRESS (host:port of `ray start --head`)") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def check_workers(workers: int | None, flag: str) -> int:
    """The worker count (default: every CPU of the cluster); more than the cluster has is an error."""
    have = cpus()
    if workers is None:
        return max(1, have)
    if workers > have:
        raise SpecError(f"{flag}: {workers} workers need {workers} CPUs, the Ray cluster has {have}",
                        hint="use fewer --workers, or add machines (docs/scale.md)")
    return workers


@contextmanager
def quiet_logs() -> Iterator[None]:
    """Ray Data logs a worker's failure with its whole trace; graphc reports it in one line."""

    loggers = [logging.getLogger(n) for n in ("ray.data", "ray")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def cpus() -> int:
    """CPUs the connected cluster has."""
    import ray

    return int(ray.cluster_resources().get("CPU", 0))


def get(refs, what: str, timeout: float = TASK_TIMEOUT_S):
    """`ray.get(refs)` that turns a dead worker or a deadline into one SpecError line."""
    import ray
    from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

    try:
        return ray.get(refs, timeout=timeout)
    except GetTimeoutError:
        raise SpecError(f"{what}: no answer from the Ray workers within {timeout:.0f} s",
                        hint=f"the cluster has {cpus()} CPUs; each worker needs one (fewer --workers, or "
                             "GRAPHC_RAY_START_TIMEOUT / GRAPHC_RAY_TASK_TIMEOUT for slow nodes)") from None
    except (RayActorError, RayTaskError) as e:
        raise SpecError(f"{what}: a Ray worker failed: {_cause(e)}",
                        hint="every worker needs graphc, onnxruntime and numpy installed (docs/scale.md)") from None


def _cause(e: Exception) -> str:
    """The last meaningful line of a Ray error (the worker's own exception)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip() and not ln.startswith(" " * 4)]
    useful = [ln for ln in lines if "Error" in ln or "error" in ln] or lines or [type(e).__name__]
    return useful[-1][:300]


def stop(actors) -> None:
    """Free the workers' CPUs (a shared Ray keeps running)."""
    import ray

    for a in actors:
        ray.kill(a, no_restart=True)
