"""graphc: a declarative graph compiler and visualizer for neural networks."""

from graphc.version import __version__
from graphc.errors import GraphcError, SpecError  # noqa: E402
from graphc.api import Model, load, loads  # noqa: E402
from graphc.functional import Input, Tensor, repeat, scope  # noqa: E402
from graphc import layers  # noqa: E402  (gc.layers.dense(x, 64), ...)
from graphc.functional.layers import install as _install  # noqa: E402

_install(layers)

__all__ = ["GraphcError", "Input", "Model", "SpecError", "Tensor", "__version__", "layers", "load", "loads",
           "repeat", "scope"]
