"""Reading an .onnx file that may come from anywhere: `load_model_file(path) -> onnx.ModelProto`.

Every command that reads an .onnx file (run, summary, viz) goes through it. It refuses, with one
SpecError line and before allocating anything big:
- a file that is not an ONNX model (malformed or truncated protobuf, no graph);
- external data outside the model's own folder: a location that is absolute, contains `..`, or
  resolves (through symlinks) to a path outside the folder;
- tensors whose declared size (dims x element size) does not match the bytes that hold them
  (inline or in the external file), dims that overflow int64, or that pass the memory limit.
"""

from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import external_data_helper, helper

from graphc.errors import SpecError
from graphc.limits import INT64_MAX, format_bytes, memory_limit

_STRING = onnx.TensorProto.STRING


def _itemsize(path: str, tensor: onnx.TensorProto) -> int | None:
    if tensor.data_type == _STRING:
        return None
    try:
        return int(np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type)).itemsize)
    except (KeyError, TypeError, ValueError):
        raise SpecError(f"{path}: tensor '{tensor.name}' has an unknown data type {tensor.data_type}") from None


def _declared_bytes(path: str, tensor: onnx.TensorProto) -> int | None:
    numel = 1
    for d in tensor.dims:
        if d < 0:
            raise SpecError(f"{path}: tensor '{tensor.name}' has a negative dim {d}")
        numel *= d
        if numel > INT64_MAX:
            raise SpecError(f"{path}: tensor '{tensor.name}' has dims {list(tensor.dims)}, more elements than "
                            "int64 can count")
    size = _itemsize(path, tensor)
    if size is None:
        return None
    if tensor.data_type in (onnx.TensorProto.INT4, onnx.TensorProto.UINT4):
        return (numel + 1) // 2
    return numel * size


def _external(path: str, folder: str, tensor: onnx.TensorProto) -> int:
    """Check one external tensor's location and size; returns its byte count."""
    info = {e.key: e.value for e in tensor.external_data}
    location = info.get("location", "")
    parts = location.replace("\\", "/").split("/")
    if not location or os.path.isabs(location) or location.startswith(("/", "\\")) or ".." in parts or \
            (len(location) > 1 and location[1] == ":"):
        raise SpecError(f"{path}: tensor '{tensor.name}' keeps its data at '{location}', outside the model's "
                        "folder (graphc reads external data only from the model's own folder)")
    real_folder = os.path.realpath(folder)
    target = os.path.realpath(os.path.join(folder, location))
    if os.path.commonpath([real_folder, target]) != real_folder:
        raise SpecError(f"{path}: tensor '{tensor.name}': its data file '{location}' leads outside the model's "
                        "folder (a symlink?); graphc reads external data only from the model's own folder")
    if not os.path.isfile(target):
        raise SpecError(f"{path}: tensor '{tensor.name}': its data file '{location}' is missing")
    try:
        offset = int(info.get("offset", 0))
        length = int(info["length"]) if "length" in info else None
    except ValueError:
        raise SpecError(f"{path}: tensor '{tensor.name}': bad external data offset/length") from None
    file_size = os.path.getsize(target)
    if offset < 0 or (length is not None and length < 0):
        raise SpecError(f"{path}: tensor '{tensor.name}': negative external data offset or length")
    available = file_size - offset
    length = available if length is None else length
    if length > available:
        raise SpecError(f"{path}: tensor '{tensor.name}' needs {length:,} bytes at offset {offset:,} of "
                        f"'{location}', which has {file_size:,} (truncated?)")
    declared = _declared_bytes(path, tensor)
    if declared is not None and declared != length:
        raise SpecError(f"{path}: tensor '{tensor.name}' is {list(tensor.dims)} ({declared:,} bytes) but its "
                        f"external data is {length:,} bytes")
    return length


def _inline(path: str, tensor: onnx.TensorProto) -> int:
    declared = _declared_bytes(path, tensor)
    if tensor.HasField("raw_data") and declared is not None and len(tensor.raw_data) != declared:
        raise SpecError(f"{path}: tensor '{tensor.name}' is {list(tensor.dims)} ({declared:,} bytes) but holds "
                        f"{len(tensor.raw_data):,} bytes")
    return declared or 0


def load_model_file(path: str, load_external: bool = True) -> onnx.ModelProto:
    """The model of an .onnx file, checked as the module docstring says (SpecError otherwise)."""
    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        raise SpecError(f"no such file: {path}") from None
    except OSError as e:
        raise SpecError(f"cannot read {path}: {e.strerror or e}") from None
    limit, source = memory_limit()
    if size > limit:
        raise SpecError(f"{path} is {format_bytes(size)}, more than {source} ({format_bytes(limit)})",
                        hint="raise the limit with --max-memory SIZE")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise SpecError(f"cannot read {path}: {e.strerror or e}") from None
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as e:  # noqa: BLE001 - protobuf's DecodeError and friends: a damaged file
        raise SpecError(f"{path} is not a valid ONNX file (truncated or not ONNX: {str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    if not model.HasField("graph") or model.ir_version <= 0:
        raise SpecError(f"{path} is not an ONNX model (it has no graph or no IR version)")
    folder = os.path.dirname(os.path.abspath(path))
    total, external = 0, False
    for tensor in external_data_helper._get_all_tensors(model):
        if external_data_helper.uses_external_data(tensor):
            external = True
            total += _external(path, folder, tensor)
        else:
            total += _inline(path, tensor)
    if total > limit:
        raise SpecError(f"{path}: its tensors take {format_bytes(total)}, more than {source} ({format_bytes(limit)})",
                        hint="raise the limit with --max-memory SIZE")
    if external and load_external:
        try:
            external_data_helper.load_external_data_for_model(model, folder)
        except Exception as e:  # noqa: BLE001 - checked above; anything left is a damaged file
            raise SpecError(f"{path}: cannot read its external data: {e}") from None
    return model
