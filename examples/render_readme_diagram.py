"""Render the README's diagram of the Keras MNIST CNN: docs/images/mnist_cnn.svg (and .png).

    python examples/render_readme_diagram.py

The PNG is written only when Graphviz's `dot` is installed (the SVG too: without it the
script writes docs/images/mnist_cnn.dot and says how to install Graphviz).
"""

from __future__ import annotations

import os

import graphc
from graphc.viz import render, to_dot

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    model = graphc.load(os.path.join(ROOT, "specs", "mnist_cnn.yaml"))
    dot = to_dot(model.graph, level="layer", rankdir="TB")
    out_dir = os.path.join(ROOT, "docs", "images")
    os.makedirs(out_dir, exist_ok=True)
    for ext in ("svg", "png"):
        path, message = render(dot, os.path.join(out_dir, f"mnist_cnn.{ext}"))
        print(message or f"wrote {os.path.relpath(path, ROOT)}")
        if message:
            break


if __name__ == "__main__":
    main()
