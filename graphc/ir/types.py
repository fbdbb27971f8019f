"""Tensor types: a dtype and a shape whose dims are ints or symbolic names (`N`, `seq`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from onnx import TensorProto

from graphc.ir.dims import format_shape, product
from graphc.ir.symbolic import Dim

Shape = tuple  # tuple[Dim, ...]

DTYPES: dict[str, tuple[type, int]] = {
    "float32": (np.float32, TensorProto.FLOAT),
    "float16": (np.float16, TensorProto.FLOAT16),
    "float64": (np.float64, TensorProto.DOUBLE),
    "int32": (np.int32, TensorProto.INT32),
    "int64": (np.int64, TensorProto.INT64),
    "bool": (np.bool_, TensorProto.BOOL),
}
FLOAT_DTYPES = ("float32", "float16", "float64")


def np_dtype(dtype: str) -> np.dtype:
    return np.dtype(DTYPES[dtype][0])


def onnx_dtype(dtype: str) -> int:
    return DTYPES[dtype][1]


def dtype_of_array(array: np.ndarray) -> str:
    for name, (np_type, _) in DTYPES.items():
        if array.dtype == np_type:
            return name
    raise TypeError(f"unsupported array dtype {array.dtype}")


def is_float(dtype: str) -> bool:
    return dtype in FLOAT_DTYPES


@dataclass(frozen=True)
class TensorType:
    """dtype plus shape; a dim is a positive int or a symbolic name."""

    dtype: str
    shape: Shape

    @property
    def rank(self) -> int:
        return len(self.shape)

    def with_shape(self, shape) -> "TensorType":
        return TensorType(self.dtype, tuple(shape))

    def with_dtype(self, dtype: str) -> "TensorType":
        return TensorType(dtype, self.shape)

    def is_static(self) -> bool:
        return all(isinstance(d, int) for d in self.shape)

    def numel(self) -> Dim:
        return product(self.shape)

    def __str__(self) -> str:
        return format_shape(self.shape) + ("" if self.dtype == "float32" else f" {self.dtype}")


__all__ = ["DTYPES", "Dim", "FLOAT_DTYPES", "Shape", "TensorType", "dtype_of_array", "format_shape", "is_float",
           "np_dtype", "onnx_dtype"]
