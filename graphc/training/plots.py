"""Pictures of a training run (matplotlib, Agg backend), written atomically into the run folder.

- `curves.png`: one panel per quantity in the history (loss first, then each metric), the
  training value and the validation value (`val_<name>`) per epoch. Panels are 400 x 300
  pixels, three to a row: the image is 400 * min(3, panels) wide, 300 * rows high.
- `samples.png`, for generative models, at the end of every epoch: a grid of 100 x 100 pixel
  cells (`image_grid`): for a GAN 8 x 8 generator samples from fixed noise; for a VAE three
  rows of 8: inputs, their reconstructions, and samples decoded from z ~ N(0, 1).
"""

from __future__ import annotations

import math
import os

import numpy as np

from graphc.util.atomic import atomic_path

PANEL = (400, 300)  # pixels per curves panel
CELL = 100  # pixels per samples cell
DPI = 100
_SKIP = ("epoch", "seconds")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def curve_names(history: list[dict]) -> list[str]:
    """The quantities to draw, in first-seen order with `loss` first; `val_x` joins `x`."""
    names: dict[str, None] = {}
    for record in history:
        for key, value in record.items():
            if key in _SKIP or not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            names[key.removeprefix("val_")] = None
    order = list(names)
    return sorted(order, key=lambda n: (n != "loss", order.index(n)))


def plot_curves(history: list[dict], path: str, title: str = "") -> str:
    """Write curves.png for `history` (a list of per-epoch records); returns the path."""
    plt = _pyplot()
    names = curve_names(history) or ["loss"]
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(PANEL[0] * cols / DPI, PANEL[1] * rows / DPI), dpi=DPI,
                             squeeze=False)
    epochs = [r.get("epoch", i + 1) for i, r in enumerate(history)]
    for ax, name in zip(axes.flat, names):
        for key, label, style in ((name, "train", "-o"), (f"val_{name}", "validation", "-s")):
            points = [(e, r[key]) for e, r in zip(epochs, history) if isinstance(r.get(key), (int, float))]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, style, markersize=3, label=label)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epoch", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _save(fig, path)
    return path


def _save(fig, path: str) -> None:
    plt = _pyplot()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    plt.close(fig)


def as_images(rows: np.ndarray) -> np.ndarray | None:
    """[n, ...] rows as [n, H, W] or [n, H, W, 3] images, or None when they are not images."""
    x = np.asarray(rows, dtype=np.float32)
    if x.ndim == 2:
        side = math.isqrt(x.shape[1])
        return x.reshape(len(x), side, side) if side * side == x.shape[1] and side > 1 else None
    if x.ndim == 3:
        return x
    if x.ndim == 4 and x.shape[1] in (1, 3):
        return x[:, 0] if x.shape[1] == 1 else x.transpose(0, 2, 3, 1)
    return None


def image_grid(rows: list[tuple[str, np.ndarray]], path: str, title: str = "") -> str:
    """One row of cells per (label, samples) pair (all rows as long as the longest): images when
    the samples look like images, else a line plot per sample."""
    plt = _pyplot()
    cols = max(len(s) for _, s in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(CELL * cols / DPI, CELL * len(rows) / DPI), dpi=DPI,
                             squeeze=False)
    for r, (label, samples) in enumerate(rows):
        images = as_images(samples)
        for c in range(cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(samples):
                ax.axis("off")
                continue
            if images is not None:
                img = np.clip(images[c], 0.0, 1.0) if images[c].min() >= -0.01 else images[c]
                ax.imshow(img, cmap="gray", vmin=0 if img.min() >= 0 else None, vmax=1 if img.max() <= 1 else None,
                          interpolation="nearest")
            else:
                ax.plot(np.asarray(samples[c]).ravel(), linewidth=0.8)
            if c == 0 and label:
                ax.set_ylabel(label, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=8)
    fig.subplots_adjust(left=0.04, right=0.99, bottom=0.01, top=0.9 if title else 0.99, wspace=0.05, hspace=0.1)
    _save(fig, path)
    return path


def write_curves(out_dir: str, history: list[dict], title: str = "") -> None:
    if history:
        plot_curves(history, os.path.join(out_dir, "curves.png"), title)
