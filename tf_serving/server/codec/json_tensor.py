"""One JSON value (scalar or nested lists) -> a numpy array of a signature's dtype.

The walk, the type rules and the error texts port TF Serving's ``util/json_tensor.cc``
(``FillTensorProto``, ``AddValueToTensor``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tf_serving.server.codec.b64 import decode_b64
from tf_serving.server.codec.json_doc import debug_string, json_type, utf8
from tf_serving.server.codec.tensor_spec import TensorSpec
from tf_serving.server.errors import InvalidArgument, Unimplemented

MAX_RANK = 64  # TF's own limit is 254; this keeps the recursive walk far from Python's


def _dtype_string(dtype: str) -> str:
    """TF's ``DataTypeString``: ``DT_FLOAT`` -> ``float``."""
    return dtype.removeprefix("DT_").lower()


def _type_error(value: Any, dtype: str) -> InvalidArgument:
    return InvalidArgument(
        f"JSON Value: {debug_string(value)} Type: {json_type(value)} "
        f"is not of expected type: {_dtype_string(dtype)}"
    )


def _dense_shape(value: Any) -> list[int]:
    """``GetDenseTensorShape``: the shape read along the first element of each level."""
    shape: list[int] = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


_INT32 = (-(2**31), 2**31)
# rapidjson's IsInt / IsInt64 / IsUint / IsUint64 per dtype (half-open ranges).
_INT_RANGES: dict[str, tuple[int, int]] = {
    "DT_INT32": _INT32,
    "DT_INT16": _INT32,
    "DT_INT8": _INT32,
    "DT_UINT8": _INT32,
    "DT_INT64": (-(2**63), 2**63),
    "DT_UINT32": (0, 2**32),
    "DT_UINT64": (0, 2**64),
}
_NARROW_INTS = ("DT_INT16", "DT_INT8", "DT_UINT8")


def _check_scalar(value: Any, dtype: str) -> Any:
    """``AddValueToTensor``: a JSON scalar -> the Python value stored for ``dtype``."""
    if dtype in ("DT_FLOAT", "DT_DOUBLE"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _type_error(value, dtype)
        return float(value)
    if dtype in _INT_RANGES:
        low, high = _INT_RANGES[dtype]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value < high:
            raise _type_error(value, dtype)
        return value
    if dtype == "DT_BOOL":
        if not isinstance(value, bool):
            raise _type_error(value, dtype)
        return value
    if dtype == "DT_STRING":
        if not isinstance(value, str):
            raise _type_error(value, dtype)
        return utf8(value)
    raise Unimplemented(
        f"Conversion of JSON Value: {debug_string(value)} to type: {_dtype_string(dtype)}"
    )


def _fill(value: Any, level: int, shape: list[int], dtype: str, out: list[Any]) -> None:
    """``FillTensorProto``: walk the nested lists, checking them against ``shape``."""
    rank = len(shape)
    if not isinstance(value, list):
        if level != rank:
            raise InvalidArgument(
                f"JSON Value: {debug_string(value)} found at incorrect level: {level + 1} "
                f"in the JSON DOM. Expected at level: {rank}"
            )
        if isinstance(value, dict):
            if dtype != "DT_STRING":
                raise _type_error(value, dtype)
            out.append(decode_b64(value))
        else:
            out.append(_check_scalar(value, dtype))
        return
    if level >= rank:
        raise InvalidArgument(f"Encountered list at unexpected level: {level} expected < {rank}")
    if len(value) != shape[level]:
        raise InvalidArgument(
            f"Encountered list at unexpected size: {len(value)} at level: {level} "
            f"expected size: {shape[level]}"
        )
    for item in value:
        _fill(item, level + 1, shape, dtype, out)


def json_to_array(value: Any, spec: TensorSpec) -> np.ndarray:
    """One JSON value (scalar or nested lists) -> ndarray of the signature's dtype.

    The shape comes from the value itself: TF Serving does not check it against the
    signature (the model's own ops do). The walk, the type rules and the error texts
    follow ``json_tensor.cc``.
    """
    shape = _dense_shape(value)
    if len(shape) > MAX_RANK:
        raise InvalidArgument(f"Tensor value is nested {len(shape)} deep; the limit is {MAX_RANK}")
    flat: list[Any] = []
    _fill(value, 0, shape, spec.dtype, flat)
    if spec.dtype == "DT_STRING":
        array = np.empty(len(flat), dtype=object)
        array[:] = flat
        return array.reshape(shape)
    if spec.dtype in _NARROW_INTS:
        # They travel as int32 (int_val); the tensor keeps the low bits, as a C cast does.
        return np.asarray(flat, dtype=np.int64).astype(spec.numpy_dtype).reshape(shape)
    return np.asarray(flat, dtype=spec.numpy_dtype).reshape(shape)
