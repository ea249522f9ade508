"""numpy arrays ↔ TensorFlow ``TensorProto`` messages (the gateway's wire-compatible copy).

Numeric tensors travel in ``tensor_content`` (raw little-endian bytes); decoding also accepts
the typed ``*_val`` fields, including TensorFlow's single-value fill shorthand.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gateway._pb import tensor_pb2
from wire.dtypes import NAME_TO_NUMPY, NAME_TO_TF, TF_TO_NAME, name_of

_VAL_FIELD = {
    "float32": "float_val",
    "float64": "double_val",
    "int32": "int_val",
    "int16": "int_val",
    "int8": "int_val",
    "uint8": "int_val",
    "uint16": "int_val",
    "int64": "int64_val",
    "bool": "bool_val",
    "string": "string_val",
    "float16": "half_val",
    "uint32": "uint32_val",
    "uint64": "uint64_val",
}


def array_to_tensor_proto(array: np.ndarray) -> Any:
    """Build a ``tensorflow.TensorProto`` holding ``array``."""
    dtype_name = name_of(array)
    proto = tensor_pb2.TensorProto(dtype=NAME_TO_TF[dtype_name])
    dims = proto.tensor_shape.dim
    for size in array.shape:
        dims.add(size=size)
    if dtype_name == "string":
        proto.string_val.extend(
            v if isinstance(v, bytes) else str(v).encode() for v in array.reshape(-1).tolist()
        )
    else:
        if array.dtype.byteorder == ">":
            array = array.astype(array.dtype.newbyteorder("<"))
        proto.tensor_content = np.ascontiguousarray(array).tobytes()
    return proto


def tensor_proto_to_array(proto: Any) -> np.ndarray:
    """Read a ``tensorflow.TensorProto`` into an array; ``ValueError`` on unknown dtypes."""
    dtype_name = TF_TO_NAME.get(proto.dtype)
    if dtype_name is None:
        raise ValueError(f"unsupported TensorProto dtype {proto.dtype}")
    shape = tuple(d.size for d in proto.tensor_shape.dim)
    count = math.prod(shape)
    dtype = NAME_TO_NUMPY[dtype_name]
    if dtype_name != "string" and proto.tensor_content:
        return np.frombuffer(proto.tensor_content, dtype=dtype).reshape(shape)
    values = getattr(proto, _VAL_FIELD[dtype_name])
    if dtype_name == "string":
        flat = np.empty(len(values), dtype=object)
        flat[:] = list(values)
    elif dtype_name == "float16":
        flat = np.array(values, dtype=np.uint16).view(np.float16)
    else:
        flat = np.array(values, dtype=dtype)
    if flat.size == count:
        return flat.reshape(shape)
    if flat.size == 0:
        return np.zeros(shape, dtype=dtype) if dtype_name != "string" else _fill(b"", shape)
    if flat.size < count:
        # TensorFlow pads a short value list with its last element.
        padded = np.concatenate([flat, np.repeat(flat[-1:], count - flat.size)])
        return padded.reshape(shape)
    raise ValueError(f"TensorProto has {flat.size} values for shape {list(shape)}")


def _fill(value: bytes, shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(math.prod(shape), dtype=object)
    out[:] = [value] * out.size
    return out.reshape(shape)
