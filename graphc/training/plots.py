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
        ax.set_title(f"{title}: {name}" if title and ax is axes.flat[0] else name, fontsize=10)
        ax.set_xlabel("epoch", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.subplots_adjust(left=0.06 + 0.04 / cols, right=0.98, bottom=0.5 / (3 * rows) + 0.02,
                        top=1 - 0.28 / (3 * rows), wspace=0.28, hspace=0.45)
    _save(fig, path)
    return path


def _save(fig, path: str) -> None:
    plt = _pyplot()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)  # a run folder not made yet
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


def _cell(image: np.ndarray) -> np.ndarray:
    """One sample as a CELL x CELL RGB tile (values in [0, 1]; upscaled by an integer factor)."""
    img = np.asarray(image, np.float32)
    lo, hi = float(img.min()), float(img.max())
    if lo < -0.01 or hi > 1.01:  # not probabilities: stretch to [0, 1]
        img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    img = np.clip(img, 0.0, 1.0)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    inner = CELL - 8
    h, w = img.shape[:2]
    if max(h, w) > inner:  # too big: keep every k-th pixel
        step = -(-max(h, w) // inner)
        img = img[::step, ::step]
    else:
        k = max(1, inner // max(h, w))
        img = img.repeat(k, axis=0).repeat(k, axis=1)
    tile = np.full((CELL, CELL, 3), 0.85, np.float32)
    top, left = (CELL - img.shape[0]) // 2, (CELL - img.shape[1]) // 2
    tile[top:top + img.shape[0], left:left + img.shape[1]] = img
    return tile


def image_grid(rows: list[tuple[str, np.ndarray]], path: str, title: str = "") -> str:
    """One row of CELL x CELL tiles per (label, samples) pair, as long as the longest row: the
    samples drawn as images when they look like images (`as_images`), else as line plots."""
    plt = _pyplot()
    cols = max(len(s) for _, s in rows)
    if any(as_images(s) is None for _, s in rows):
        return _line_grid(rows, cols, path, title)
    mosaic = np.ones((CELL * len(rows), CELL * cols, 3), np.float32)
    for r, (_, samples) in enumerate(rows):
        for c, image in enumerate(as_images(samples)):
            mosaic[r * CELL:(r + 1) * CELL, c * CELL:(c + 1) * CELL] = _cell(image)
    fig = plt.figure(figsize=(CELL * cols / DPI, CELL * len(rows) / DPI), dpi=DPI)
    fig.figimage(mosaic, xo=0, yo=0, origin="upper")
    box = {"facecolor": "white", "alpha": 0.8, "pad": 1, "linewidth": 0}
    for r, (label, _) in enumerate(rows):
        if label:
            fig.text(2 / (CELL * cols), 1 - (r * CELL + 2) / (CELL * len(rows)), label, fontsize=7, va="top",
                     bbox=box)
    if title:
        fig.text(1 - 2 / (CELL * cols), 1 - 2 / (CELL * len(rows)), title, fontsize=7, va="top", ha="right", bbox=box)
    _save(fig, path)
    return path


def _line_grid(rows: list[tuple[str, np.ndarray]], cols: int, path: str, title: str) -> str:
    """The grid for samples that are not images: a small line plot per sample."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(rows), cols, figsize=(CELL * cols / DPI, CELL * len(rows) / DPI), dpi=DPI,
                             squeeze=False)
    for r, (label, samples) in enumerate(rows):
        for c in range(cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(samples):
                ax.plot(np.asarray(samples[c]).ravel(), linewidth=0.8)
            else:
                ax.axis("off")
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
