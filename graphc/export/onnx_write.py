"""Writing ONNX files as a stream: weights go from their own numpy buffers straight to the file.

`SerializeToString` needs the whole model in one protobuf message (hard limit 2 GiB) and makes
two copies of every weight (into the message, then into the serialized bytes). Here the model is
serialized without its weights, and the weights are spliced in while writing, so the peak is the
weights themselves. The bytes are exactly those of `SerializeToString(deterministic=True)` of the
full model: deterministic serialization writes fields in field-number order, so the weights'
fields can be inserted at their place (tests/test_onnx_write.py checks this on every spec).

Models whose message would pass protobuf's limit (or any model, with `external=True`) keep their
large tensors in a data file beside the model (`model.onnx.data`), as ONNX's external data.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from typing import BinaryIO, Iterable

import numpy as np
import onnx
from onnx import TensorProto

from graphc.errors import SpecError
from graphc.util.atomic import atomic_path

PROTOBUF_LIMIT = 2**31 - 1  # bytes in one protobuf message
EXTERNAL_MIN_BYTES = 1024  # smaller tensors stay in the model file (as onnx's own converter does)
PAGE = 4096  # large external tensors start on a page, so runtimes can map them
_GRAPH_FIELD, _INITIALIZER_FIELD, _RAW_DATA_FIELD = 7, 5, 9  # ModelProto.graph, GraphProto.initializer, TensorProto.raw_data
_VALUE_INFO_FIELD = 13  # GraphProto.value_info


class Weight:
    """An initializer whose bytes are not in the ModelProto: its data, and its header (dims, type,
    name) built from it when asked, so that a model of many weights holds no header protos."""

    __slots__ = ("_header", "data", "name", "data_type")

    def __init__(self, header: TensorProto | None, data: np.ndarray | None, name: str = "", data_type: int = 0):
        self._header = header  # given: the header as is (data None: the whole tensor, dtypes without raw_data)
        self.data = data
        self.name = header.name if header is not None else name
        self.data_type = data_type

    @property
    def header(self) -> TensorProto:
        """The TensorProto without raw_data (a fresh one each time unless it was given)."""
        if self._header is not None:
            return self._header
        header = TensorProto()
        header.dims.extend(self.data.shape)
        header.name = self.name
        header.data_type = self.data_type
        return header

    @property
    def nbytes(self) -> int:
        return 0 if self.data is None else self.data.nbytes


@dataclass
class Pieces:
    """Repeated fields of the graph serialized ahead (each a run of entries, in order), so that
    their protos need not all exist at once: the ModelProto's graph then holds none of them."""

    nodes: list[bytes] = field(default_factory=list)  # GraphProto.node entries
    value_info: list[bytes] = field(default_factory=list)  # GraphProto.value_info entries


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _key(field: int, length: int) -> bytes:
    """Tag and length prefix of a length-delimited field."""
    return _varint(field << 3 | 2) + _varint(length)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """The varint at `pos` and the offset after it."""
    value, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _split_at_field(data: bytes, field: int) -> int:
    """Offset of the first top-level field numbered above `field` in serialized message `data`."""
    pos = 0
    while pos < len(data):
        start = pos
        tag, pos = _read_varint(data, pos)
        if tag >> 3 > field:
            return start
        wire = tag & 7
        if wire == 0:
            _, pos = _read_varint(data, pos)
        elif wire == 2:
            length, pos = _read_varint(data, pos)
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:  # groups: not used by ONNX
            raise ValueError(f"unexpected wire type {wire}")
    return len(data)


def _raw(array: np.ndarray) -> memoryview:
    return memoryview(np.ascontiguousarray(array)).cast("B")


def _without_graph(model: onnx.ModelProto) -> bytes:
    """The model's own fields (opsets, metadata, ...) serialized, without its graph."""
    shell = onnx.ModelProto()
    for desc, value in model.ListFields():
        if desc.name == "graph":
            continue
        repeated = desc.is_repeated if hasattr(desc, "is_repeated") else desc.label == desc.LABEL_REPEATED
        if repeated:
            getattr(shell, desc.name).extend(value)
        elif desc.type == desc.TYPE_MESSAGE:
            getattr(shell, desc.name).CopyFrom(value)
        else:
            setattr(shell, desc.name, value)
    return shell.SerializeToString(deterministic=True)


class _Plan:
    """Where every weight goes (inline or at an offset of the data file), and the message sizes.

    The graph's bytes are `head`, the weights' initializer entries, then `tail`: the serialized
    graph without the weights, cut before its own initializers, with the `Pieces` at their fields."""

    def __init__(self, model: onnx.ModelProto, weights: list[Weight], external: bool | None, data_name: str,
                 pieces: Pieces | None = None):
        self.weights = weights
        self.external_ids: set[int] = set()
        self.offsets: dict[int, int] = {}
        self.shell = _without_graph(model)
        rest = model.graph.SerializeToString(deterministic=True)
        pieces = pieces or Pieces()
        cut, vcut = _split_at_field(rest, _INITIALIZER_FIELD - 1), _split_at_field(rest, _VALUE_INFO_FIELD)
        self.head = [*pieces.nodes, rest[:cut]]  # node (1) entries come first in a GraphProto
        self.tail = [rest[cut:vcut], *pieces.value_info, rest[vcut:]]
        del rest
        own = sum(map(len, self.head)) + sum(map(len, self.tail))
        self.headers = [w.header.SerializeToString(deterministic=True) for w in weights]
        inline = own + sum(self._entry_size(i, True) for i in range(len(weights)))
        if external is None:
            external = self._total(inline) > PROTOBUF_LIMIT
        self.external = external
        if external:
            offset = 0
            for i, w in enumerate(weights):
                if w.data is None or w.nbytes < EXTERNAL_MIN_BYTES:
                    continue
                align = PAGE if w.nbytes >= 1 << 20 else 64
                offset = -(-offset // align) * align
                self.offsets[i] = offset
                offset += w.nbytes
                self.external_ids.add(i)
                header = w.header
                _mark_external(header, data_name, self.offsets[i], w.nbytes)
                self.headers[i] = header.SerializeToString(deterministic=True)
        self.graph_len = own + sum(self._entry_size(i, self.inline(i)) for i in range(len(weights)))

    def inline(self, i: int) -> bool:
        return i not in self.external_ids

    def _total(self, graph_len: int) -> int:
        return len(self.shell) + len(_key(_GRAPH_FIELD, graph_len)) + graph_len

    @property
    def total(self) -> int:
        return self._total(self.graph_len)

    def tensor_len(self, i: int, inline: bool) -> int:
        n, w = len(self.headers[i]), self.weights[i]
        if w.data is None or not inline:
            return n
        return n + len(_key(_RAW_DATA_FIELD, w.nbytes)) + w.nbytes

    def _entry_size(self, i: int, inline: bool) -> int:
        n = self.tensor_len(i, inline)
        return len(_key(_INITIALIZER_FIELD, n)) + n


def _mark_external(tensor: TensorProto, location: str, offset: int, length: int) -> None:
    del tensor.external_data[:]
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    tensor.data_location = TensorProto.EXTERNAL


def _write_model(f: BinaryIO, plan: _Plan) -> None:
    """The model's fields before its graph, the graph with the weights spliced in before its own
    initializers, then the model's remaining fields."""
    mcut = _split_at_field(plan.shell, _GRAPH_FIELD)
    f.write(plan.shell[:mcut])
    f.write(_key(_GRAPH_FIELD, plan.graph_len))
    for chunk in plan.head:
        f.write(chunk)
    for i, w in enumerate(plan.weights):
        inline = plan.inline(i)
        f.write(_key(_INITIALIZER_FIELD, plan.tensor_len(i, inline)))
        f.write(plan.headers[i])
        if inline and w.data is not None:
            f.write(_key(_RAW_DATA_FIELD, w.nbytes))
            f.write(_raw(w.data))
    for chunk in plan.tail:
        f.write(chunk)
    f.write(plan.shell[mcut:])


def _write_data(f: BinaryIO, plan: _Plan) -> None:
    pos = 0
    for i in sorted(plan.external_ids, key=plan.offsets.__getitem__):
        offset = plan.offsets[i]
        if offset > pos:
            f.write(b"\0" * (offset - pos))
        data = plan.weights[i].data
        f.write(_raw(data))
        pos = offset + data.nbytes


def write_model(path: str, model: onnx.ModelProto, weights: list[Weight], external: bool | None = None,
                pieces: Pieces | None = None) -> list[str]:
    """Write `model` with `weights` put before its own initializers (and `pieces`, the graph's
    nodes and value infos serialized ahead, at their places); returns the files written.

    external: True keeps tensors of 1 KiB and more in `<path>.data`; None (default) does so only
    when the model would pass protobuf's 2 GiB limit; False never (an error past the limit)."""
    data_name = os.path.basename(path) + ".data"
    plan = _Plan(model, weights, external, data_name, pieces)
    if plan.total > PROTOBUF_LIMIT:
        raise SpecError(f"{path}: the model is {plan.total:,} bytes, over protobuf's 2 GiB limit for one "
                        f"file: write its weights as external data (--external-data)")
    written = []
    data_path = os.path.join(os.path.dirname(os.path.abspath(path)), data_name)
    if plan.external:  # the data file first: a model file never points at data that is not there yet
        with atomic_path(data_path) as tmp:
            with open(tmp, "wb") as f:
                _write_data(f, plan)
        written.append(data_path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            _write_model(f, plan)
    written.insert(0, path)
    return written


def model_bytes(model: onnx.ModelProto, weights: Iterable[Weight], pieces: Pieces | None = None) -> bytes:
    """The whole model in memory (for sessions and hashing); an error past protobuf's limit."""
    weights = list(weights)
    plan = _Plan(model, weights, False, "", pieces)
    if plan.total > PROTOBUF_LIMIT:
        raise SpecError(f"the model is {plan.total:,} bytes, over protobuf's 2 GiB limit for one message: "
                        f"export it to a file, which keeps its weights as external data")
    buf = io.BytesIO()
    _write_model(buf, plan)
    return buf.getvalue()
