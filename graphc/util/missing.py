"""Optional pieces graphc uses: a missing one is one line saying what to install, never a trace."""

from __future__ import annotations

import importlib
from types import ModuleType

from graphc.errors import GraphcError

INSTALL = {  # module -> (what it is, how to install it)
    "sklearn": ("scikit-learn", "pip install scikit-learn"),
    "torch": ("PyTorch", "pip install torch==2.13.0"),
    "onnxruntime": ("onnxruntime", "pip install onnxruntime"),
}


class MissingPiece(GraphcError):
    """A package or program graphc needs for this command is not installed."""


def require(module: str, needed_for: str) -> ModuleType:
    """Import `module`, or raise MissingPiece naming what to install."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        top = module.split(".")[0]
        name, how = INSTALL.get(top, (top, f"pip install {top}"))
        raise MissingPiece(f"{needed_for} needs {name}, which is not installed ({type(e).__name__}: {e}): "
                           f"{how}") from None
