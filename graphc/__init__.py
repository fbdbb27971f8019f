"""graphc: a declarative graph compiler and visualizer for neural networks."""

from graphc.version import __version__
from graphc.errors import GraphcError, SpecError  # noqa: E402
from graphc.api import Model, load, loads  # noqa: E402
from graphc import dsl  # noqa: E402

__all__ = ["GraphcError", "Model", "SpecError", "__version__", "dsl", "load", "loads"]
