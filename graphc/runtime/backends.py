"""ONNX runtimes behind one small interface: load a model, run feeds, read outputs by name.

`onnxruntime` (the default, a dependency), `openvino` (CPU, f32 precision hint; the
`graphc[openvino]` extra) and `tract` (inference only; tests and bench). Outputs are matched
by position to the ONNX graph's outputs, so every runtime returns them under the same names.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import numpy as np
import onnx

from graphc.errors import SpecError
from graphc.runtime.session import make_session

RUNTIMES = ("onnxruntime", "openvino")  # what `graphc run/train --runtime` accept
ALL_RUNTIMES = RUNTIMES + ("tract",)
INSTALL = {"openvino": "pip install 'graphc[openvino]'", "tract": "pip install tract"}

_NP = {onnx.TensorProto.FLOAT: np.float32, onnx.TensorProto.DOUBLE: np.float64, onnx.TensorProto.FLOAT16: np.float16,
       onnx.TensorProto.INT64: np.int64, onnx.TensorProto.INT32: np.int32, onnx.TensorProto.BOOL: np.bool_}


@dataclass(frozen=True)
class IOInfo:
    """An input or output of a model: name, shape (ints and symbolic dim names) and numpy dtype."""

    name: str
    shape: tuple
    dtype: type


def io_infos(values) -> list[IOInfo]:
    out = []
    for v in values:
        t = v.type.tensor_type
        shape = tuple(d.dim_param if d.dim_param else (d.dim_value if d.HasField("dim_value") else None)
                      for d in t.shape.dim)
        out.append(IOInfo(v.name, shape, _NP.get(t.elem_type, np.float32)))
    return out


def require(runtime: str):
    """Import a runtime's module, or a SpecError saying in one line what to install."""
    if runtime not in ALL_RUNTIMES:
        raise SpecError(f"unknown runtime '{runtime}'", hint=f"one of {', '.join(RUNTIMES)}")
    module = {"onnxruntime": "onnxruntime", "openvino": "openvino", "tract": "tract"}[runtime]
    try:
        return __import__(module)
    except ImportError:
        raise SpecError(f"--runtime {runtime} needs the {runtime} package: {INSTALL.get(runtime, 'pip install ' + module)}") \
            from None


def require_onnxruntime_for(runtime: str, what: str) -> None:
    """A SpecError when `what` runs on onnxruntime only and another runtime was asked for."""
    require(runtime)
    if runtime != "onnxruntime":
        raise SpecError(f"--runtime {runtime}: {what} runs on onnxruntime only (docs/runtimes.md)",
                        hint="use --runtime onnxruntime")


class Session:
    """A loaded model on one runtime; `run(feeds) -> {output name: array}`."""

    runtime = ""

    def __init__(self, proto: onnx.ModelProto):
        self.inputs = io_infos(proto.graph.input)
        self.outputs = io_infos(proto.graph.output)
        self.output_names = [o.name for o in self.outputs]

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError


class OrtSession(Session):
    runtime = "onnxruntime"

    def __init__(self, proto, data: bytes, threads: int | None = None, provider: str = "cpu", quiet: bool = True):
        super().__init__(proto)
        self.session = make_session(data, provider, quiet=quiet, threads=threads)

    def run(self, feeds):
        return dict(zip(self.output_names, self.session.run(self.output_names, feeds)))


def ov_core():
    """One OpenVINO Core per process (it caches plugins)."""
    global _CORE
    if _CORE is None:
        ov = require("openvino")
        _CORE = ov.Core()
    return _CORE


_CORE = None


def ov_config(threads: int | None) -> dict:
    """CPU, float32 arithmetic (OpenVINO may otherwise pick bf16/f16 on CPUs that have them), latency mode."""
    config = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}  # one request at a time
    if threads:
        config["INFERENCE_NUM_THREADS"] = int(threads)
    return config


class OpenVinoSession(Session):
    runtime = "openvino"

    def __init__(self, proto, data: bytes, threads: int | None = None):
        super().__init__(proto)
        core = ov_core()
        try:
            self.compiled = core.compile_model(core.read_model(data), "CPU", ov_config(threads))
        except (RuntimeError, OSError) as e:
            raise SpecError(f"OpenVINO cannot load this model: {_first_line(e)}") from None
        self.request = self.compiled.create_infer_request()

    def run(self, feeds):
        import openvino as ov

        arrays = {k: np.asarray(v, order="C") for k, v in feeds.items()}  # alive until infer() returns
        for name, array in arrays.items():
            self.request.set_tensor(name, ov.Tensor(array, shared_memory=True))
        self.request.infer()
        return {name: np.array(self.request.get_output_tensor(k).data) for k, name in enumerate(self.output_names)}


class TractSession(Session):
    """tract needs a file and the input facts; symbolic dims stay symbols (`N,64,f32`)."""

    runtime = "tract"
    _TYPES = {np.float32: "f32", np.float64: "f64", np.int64: "i64", np.int32: "i32", np.bool_: "bool",
              np.float16: "f16"}

    def __init__(self, proto, data: bytes, threads: int | None = None):
        tract = require("tract")
        super().__init__(proto)
        fd, path = tempfile.mkstemp(suffix=".onnx")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            model = tract.onnx().load(path)
            for k, info in enumerate(self.inputs):
                dims = [str(d) for d in info.shape]
                model.set_input_fact(k, ",".join(dims + [self._TYPES[info.dtype]]))
            self.runnable = model.into_model().into_runnable()
        except tract.TractError as e:
            raise SpecError(f"tract cannot load this model: {_first_line(e)}") from None
        finally:
            os.unlink(path)

    def run(self, feeds):
        arrays = [np.asarray(feeds[i.name], dtype=i.dtype, order="C") for i in self.inputs]
        outs = self.runnable.run(arrays)
        return {name: out.to_numpy() for name, out in zip(self.output_names, outs)}


def _first_line(e: Exception) -> str:
    """The telling line of a runtime's multi-line error (OpenVINO's summary line when it has one)."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    summary = [line.lstrip("- ") for line in lines if "Conversion is failed for" in line]
    return (summary or lines or [type(e).__name__])[0]


def load_session(model: bytes | str | onnx.ModelProto, runtime: str = "onnxruntime", threads: int | None = None,
                 provider: str = "cpu", quiet: bool = True) -> Session:
    """`model` (ONNX bytes, a path or a ModelProto) loaded on `runtime`."""
    require(runtime)
    if isinstance(model, onnx.ModelProto):
        proto, data = model, model.SerializeToString()
    else:
        data = model if isinstance(model, bytes) else open(model, "rb").read()
        proto = onnx.load_from_string(data)
    if runtime == "onnxruntime":
        return OrtSession(proto, data, threads, provider, quiet)
    if runtime == "openvino":
        return OpenVinoSession(proto, data, threads)
    return TractSession(proto, data, threads)
