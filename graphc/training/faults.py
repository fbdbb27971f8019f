"""Faults during `graphc train`: signals, non-finite losses, and how each one ends the run.

- SIGINT / SIGTERM: `stop_on_signals()` turns them into `Stopped` (a KeyboardInterrupt), raised
  between steps; nothing of the current epoch is written, so the last complete checkpoint stays
  and `--resume` repeats the epoch exactly (batches and dropout seeds are pure functions of seed,
  epoch and step). The command prints one line and exits 128 + the signal number (130, 143).
- A NaN or infinite loss: `check_loss` raises `NonFiniteLoss` naming the epoch and step; the
  checkpoint of the last good epoch (with the best weights so far) is kept; exit status 2.
"""

from __future__ import annotations

import math
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

from graphc.errors import GraphcError, Location, SpecError
from graphc.training import checkpoint


class Stopped(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived during training."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


class NonFiniteLoss(GraphcError):
    def __init__(self, value: float, epoch: int, step: int, batch: int, what: str = "loss"):
        self.value, self.epoch, self.step, self.batch, self.what = value, epoch, step, batch, what
        super().__init__(f"the {what} is {value} at epoch {epoch}, batch {batch} (step {step})")


def check_loss(value: float, epoch: int, step: int, batch: int, what: str = "loss") -> None:
    """Raise NonFiniteLoss when a training loss is NaN or infinite."""
    if not math.isfinite(value):
        raise NonFiniteLoss(value, epoch, step, batch, what)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise `Stopped` in the main thread while the block runs."""
    def handler(signum, frame):
        raise Stopped(signum)

    saved = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in saved.items():
            signal.signal(s, h)


def _last_epoch(out_dir: str) -> int | None:
    return checkpoint.last_epoch(os.path.join(out_dir, "checkpoint"))


def stopped_message(e: Stopped, out_dir: str) -> str:
    epoch = _last_epoch(out_dir)
    kept = (f"the last complete checkpoint (epoch {epoch}) is kept in {out_dir}/checkpoint; continue with --resume"
            if epoch else "no epoch had finished, so there is no checkpoint yet")
    return f"graphc train: stopped by {e.name}: {kept}"


def non_finite_error(e: NonFiniteLoss, out_dir: str, loc: Location | None) -> SpecError:
    epoch = _last_epoch(out_dir)
    kept = (f"the last good checkpoint (epoch {epoch}, with the best weights so far) is kept in {out_dir}/checkpoint"
            if epoch else "no epoch had finished, so there is no checkpoint")
    return SpecError(f"training stopped: {e}; {kept}", loc, "lower the learning rate, or check the data for NaN/inf")
