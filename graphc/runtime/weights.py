"""Parameters to and from `.npz` files, named `<layer>.<param>` in PyTorch layouts."""

from __future__ import annotations

import zipfile

import numpy as np

from graphc.errors import SpecError
from graphc.ir.graph import Graph
from graphc.util.atomic import atomic_path

IGNORED_SUFFIXES = (".num_batches_tracked",)  # PyTorch batch-norm bookkeeping, not a parameter


def read_npz(path: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise SpecError(f"no such weights file: {path}") from None
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise SpecError(f"cannot read weights {path}: {e}") from None


def load_weights(graph: Graph, path: str) -> None:
    """Replace every parameter of `graph` by the array of the same name; all mismatches in one error."""
    arrays = {k: v for k, v in read_npz(path).items() if not k.endswith(IGNORED_SUFFIXES)}
    problems = []
    missing = [k for k in graph.params if k not in arrays]
    extra = [k for k in arrays if k not in graph.params]
    if missing:
        problems.append("missing: " + ", ".join(missing))
    if extra:
        problems.append("not in the model: " + ", ".join(extra))
    for name, param in graph.params.items():
        if name in arrays and tuple(arrays[name].shape) != tuple(param.shape):
            problems.append(f"{name} has shape {list(arrays[name].shape)}, the model needs {list(param.shape)}")
    if problems:
        raise SpecError(f"weights {path} do not fit the model: " + "; ".join(problems))
    for name, param in graph.params.items():
        param.data = np.array(arrays[name], dtype=param.data.dtype, order="C")  # keeps 0-d arrays 0-d


def save_weights(graph: Graph, path: str) -> None:
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **{name: p.data for name, p in graph.params.items()})
