"""A signature's tensor as TF Serving names it (``DT_FLOAT``), and its numpy carrier."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tensorflow.core.framework import types_pb2

from tf_serving.server.errors import InvalidArgument
from wire.dtypes import NAME_TO_NUMPY, TF_ENUM_VALUES, TF_TO_NAME

# TF Serving's enum name -> numpy carrier, from the wire contract's one dtype table.
_NUMPY_BY_DTYPE: dict[str, Any] = {
    enum: NAME_TO_NUMPY[TF_TO_NAME[number]] for enum, number in TF_ENUM_VALUES.items()
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
