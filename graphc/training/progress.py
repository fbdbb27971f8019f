"""A progress bar within each epoch (tqdm): steps, running loss and steps per second.

Shown only on a terminal (stdout and stderr both ttys, and not --quiet) and only once an epoch
has run for `delay` seconds (2 s; GRAPHC_PROGRESS_DELAY overrides), so short runs and logs
piped to a file get the plain per-epoch lines alone.
"""

from __future__ import annotations

import os
import sys


def wants_bar(quiet: bool = False) -> bool:
    return not quiet and sys.stdout.isatty() and sys.stderr.isatty()


class EpochBar:
    """`bar(step, total, loss)` after every batch; `bar.close()` at the end of the epoch."""

    def __init__(self, epoch: int, epochs: int, total: int):
        from tqdm import tqdm

        delay = float(os.environ.get("GRAPHC_PROGRESS_DELAY", "2"))
        self.bar = tqdm(total=total, desc=f"epoch {epoch}/{epochs}", unit="step", leave=False, delay=delay,
                        file=sys.stderr, dynamic_ncols=True, mininterval=0.2)
        self.sum = 0.0

    def __call__(self, step: int, total: int, loss: float | None = None) -> None:
        if loss is not None:
            self.sum += float(loss)
            self.bar.set_postfix(loss=f"{self.sum / step:.4f}", refresh=False)
        self.bar.update(step - self.bar.n)
        if step == total and self.bar.n:  # the last step of an epoch is always drawn
            self.bar.refresh()

    def close(self) -> None:
        self.bar.close()
