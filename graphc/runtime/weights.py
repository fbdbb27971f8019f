"""Parameters to and from weight files, named `<layer>.<param>` in PyTorch layouts.

Formats, by file extension:
- `.npz`: numpy archives (`allow_pickle=False`);
- `.safetensors`: the safetensors format (its `safetensors.numpy` API: no pickle);
- `.pt` / `.pth`: PyTorch state dicts (`torch.save(model.state_dict(), ...)`), read with
  `torch.load(weights_only=True)`, so no code in the file runs; needs torch (`pip install torch`).
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from graphc.errors import SpecError
from graphc.ir.graph import Graph
from graphc.util.atomic import atomic_path

IGNORED_SUFFIXES = (".num_batches_tracked",)  # PyTorch batch-norm bookkeeping, not a parameter
FORMATS = {".npz": "npz", ".safetensors": "safetensors", ".pt": "torch", ".pth": "torch"}


def weights_format(path: str) -> str:
    """`npz`, `safetensors` or `torch`, from the file extension."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise SpecError(f"{path}: weights must be a .npz, .safetensors, .pt or .pth file, not '{ext or path}'")
    return FORMATS[ext]


def _torch(path: str, what: str):
    try:
        import torch
    except ImportError:
        raise SpecError(f"{path}: {what} PyTorch .pt/.pth weights needs PyTorch: pip install torch") from None
    return torch


def read_npz(path: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise SpecError(f"no such weights file: {path}") from None
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise SpecError(f"cannot read weights {path}: {e}") from None


def _read_safetensors(path: str) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return dict(load_file(path))
    except FileNotFoundError:
        raise SpecError(f"no such weights file: {path}") from None
    except (SafetensorError, OSError, ValueError, TypeError) as e:
        raise SpecError(f"cannot read weights {path}: {' '.join(str(e).split())}") from None


def _state_dict(obj, path: str) -> dict:
    """The tensors of a loaded .pt object: a state dict, or a checkpoint holding one."""
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise SpecError(f"cannot read weights {path}: it holds a {type(obj).__name__}, not a state dict "
                        "(save model.state_dict(), not the model)")
    return obj


def _read_torch(path: str) -> dict[str, np.ndarray]:
    torch = _torch(path, "reading")
    if not os.path.exists(path):
        raise SpecError(f"no such weights file: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a bad or unsafe file
        first = " ".join(str(e).split()) or type(e).__name__
        if "weights only load failed" in first.lower():  # a pickle with code or objects, refused unrun
            first = "torch.load(weights_only=True) refused it: it is not a plain state dict of tensors"
        raise SpecError(f"cannot read weights {path}: {first[:300]}") from None
    arrays = {}
    for name, value in _state_dict(obj, path).items():
        if not isinstance(value, torch.Tensor):
            raise SpecError(f"cannot read weights {path}: '{name}' is a {type(value).__name__}, not a tensor")
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:  # numpy has no bfloat16
            value = value.float()
        arrays[str(name)] = value.numpy().copy()
    return arrays


def read_weights(path: str) -> dict[str, np.ndarray]:
    """Every array of a weight file by name (.npz, .safetensors, .pt/.pth)."""
    kind = weights_format(path)
    if kind == "npz":
        return read_npz(path)
    if kind == "safetensors":
        return _read_safetensors(path)
    return _read_torch(path)


def write_weights(arrays: dict[str, np.ndarray], path: str) -> None:
    """Write arrays by name, atomically, in the format of the extension."""
    kind = weights_format(path)
    arrays = {k: np.require(v, requirements="C") for k, v in arrays.items()}  # keeps 0-d arrays 0-d
    if kind == "torch":
        torch = _torch(path, "writing")
    with atomic_path(path, suffix=os.path.splitext(path)[1]) as tmp:
        if kind == "npz":
            np.savez(tmp, **arrays)
        elif kind == "safetensors":
            from safetensors.numpy import save_file

            save_file(arrays, tmp)
        else:
            torch.save({k: torch.from_numpy(v.copy()) for k, v in arrays.items()}, tmp)


def mismatches(params: dict[str, tuple], arrays: dict[str, np.ndarray]) -> list[str]:
    """Every way `arrays` fails to fit parameters of these shapes: missing, extra, wrong shape."""
    arrays = {k: v for k, v in arrays.items() if not k.endswith(IGNORED_SUFFIXES)}
    problems = []
    missing = [k for k in params if k not in arrays]
    extra = [k for k in arrays if k not in params]
    if missing:
        problems.append("missing: " + ", ".join(missing))
    if extra:
        problems.append("not in the model: " + ", ".join(extra))
    for name, shape in params.items():
        if name in arrays and tuple(arrays[name].shape) != tuple(shape):
            problems.append(f"{name} has shape {list(arrays[name].shape)}, the model needs {list(shape)}")
    return problems


def load_weights(graph: Graph, path: str) -> None:
    """Replace every parameter of `graph` by the array of the same name; all mismatches in one error."""
    arrays = read_weights(path)
    problems = mismatches({k: p.shape for k, p in graph.params.items()}, arrays)
    if problems:
        raise SpecError(f"weights {path} do not fit the model: " + "; ".join(problems))
    for name, param in graph.params.items():
        param.data = np.array(arrays[name], dtype=param.data.dtype, order="C")  # keeps 0-d arrays 0-d


def save_weights(graph: Graph, path: str) -> None:
    """The parameters to a weight file (.npz, .safetensors or .pt, by extension)."""
    write_weights({name: p.data for name, p in graph.params.items()}, path)


def convert_weights(src: str, dst: str, graph: Graph | None = None) -> int:
    """Copy every array of `src` into `dst` (formats by extension); with `graph`, first check every
    name and shape against its parameters (all mismatches in one error). Returns the array count."""
    weights_format(dst)
    arrays = read_weights(src)
    if graph is not None:
        problems = mismatches({k: p.shape for k, p in graph.params.items()}, arrays)
        if problems:
            raise SpecError(f"weights {src} do not fit the model {graph.name}: " + "; ".join(problems))
    write_weights(arrays, dst)
    return len(arrays)
