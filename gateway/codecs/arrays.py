"""JSON values ↔ numpy arrays for one declared dtype (shared by the v1 and v2 JSON codecs)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gateway.codecs.bytes_tensors import flatten_nested, object_array, to_json_string
from gateway.codecs.dtypes import NAME_TO_NUMPY
from gateway.errors import InvalidTensor


def json_to_array(name: str, data: Any, dtype_name: str) -> np.ndarray:
    """Convert a (possibly nested) JSON value into an array of ``dtype_name``.

    Raises :class:`InvalidTensor` naming the tensor when the value cannot be converted.
    """
    try:
        if dtype_name == "string":
            flat, shape = flatten_nested(data)
            return object_array(flat).reshape(shape)
        array = np.asarray(data, dtype=NAME_TO_NUMPY[dtype_name])
    except KeyError as exc:
        raise InvalidTensor(f"input {name!r}: unsupported dtype {dtype_name!r}") from exc
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidTensor(
            f"input {name!r}: cannot convert data to {dtype_name}: {_short(exc)}"
        ) from exc
    if array.dtype == object:
        raise InvalidTensor(f"input {name!r}: data is not a rectangular array of numbers")
    return array


def array_to_json(array: np.ndarray, *, force_b64: bool = False) -> Any:
    """An array as something ``orjson`` (with ``OPT_SERIALIZE_NUMPY``) can write.

    Numeric arrays are returned as C-contiguous arrays (serialised without a Python-list
    detour); string arrays become nested lists of text or ``{"b64": ...}`` objects.
    """
    if array.dtype == object or array.dtype.kind in "SU":
        flat = [
            to_json_string(v if isinstance(v, bytes) else str(v).encode(), force_b64=force_b64)
            for v in array.reshape(-1).tolist()
        ]
        return np.array(flat, dtype=object).reshape(array.shape).tolist() if array.ndim else flat[0]
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    if array.dtype == np.float16:
        array = array.astype(np.float32)
    return np.ascontiguousarray(array)


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 120 else text[:117] + "..."
