"""A signature's tensor as TF Serving names it (``DT_FLOAT``), and its numpy carrier."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from tensorflow.core.framework import types_pb2

from tf_serving.server.errors import InvalidArgument

_NUMPY_BY_DTYPE: dict[str, Any] = {
    "DT_FLOAT": np.float32,
    "DT_DOUBLE": np.float64,
    "DT_HALF": np.float16,
    "DT_INT8": np.int8,
    "DT_INT16": np.int16,
    "DT_INT32": np.int32,
    "DT_INT64": np.int64,
    "DT_UINT8": np.uint8,
    "DT_UINT16": np.uint16,
    "DT_UINT32": np.uint32,
    "DT_UINT64": np.uint64,
    "DT_BOOL": np.bool_,
    "DT_STRING": np.object_,
}


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a signature, as the signature def declares it."""

    key: str
    dtype: str  # TF Serving's enum name, e.g. "DT_FLOAT"
    shape: tuple[int, ...] | None  # -1 for unknown dims; None for unknown rank
    tensor_name: str = ""

    @property
    def numpy_dtype(self) -> Any:
        """The numpy dtype used to carry this tensor."""
        try:
            return _NUMPY_BY_DTYPE[self.dtype]
        except KeyError:
            raise InvalidArgument(f"Unsupported tensor dtype {self.dtype}") from None


def dtype_name(enum_value: int) -> str:
    """``DataType`` enum number -> name, e.g. 1 -> ``DT_FLOAT``."""
    return str(types_pb2.DataType.Name(enum_value))
