"""Table tests of numpy ↔ TensorProto."""

from __future__ import annotations

import numpy as np
import pytest

from gateway._pb import tensor_pb2
from gateway.codecs.tensor_proto import array_to_tensor_proto, tensor_proto_to_array


@pytest.mark.parametrize(
    "array",
    [
        np.arange(6, dtype=np.float32).reshape(2, 3),
        np.array([1.5], np.float64),
        np.array([[1, -2]], np.int32),
        np.array([2**40], np.int64),
        np.array([True, False]),
        np.array([0.5], np.float16),
        np.array([7], np.uint8),
        np.array([b"x", b"\x00y"], dtype=object),
        np.zeros((0, 4), np.float32),
    ],
)
def test_roundtrip(array):
    proto = tensor_pb2.TensorProto.FromString(array_to_tensor_proto(array).SerializeToString())
    back = tensor_proto_to_array(proto)
    assert back.shape == array.shape
    assert back.tolist() == array.tolist()


@pytest.mark.parametrize(
    ("fields", "dtype", "shape", "expected"),
    [
        ({"float_val": [1.0, 2.0]}, 1, [2], [1.0, 2.0]),
        ({"float_val": [3.0]}, 1, [2, 2], [[3.0, 3.0], [3.0, 3.0]]),
        ({"int64_val": [5, 6]}, 9, [2], [5, 6]),
        ({"int_val": [1, 2]}, 4, [2], [1, 2]),
        ({"bool_val": [True]}, 10, [1], [True]),
        ({"double_val": []}, 2, [2], [0.0, 0.0]),
        ({"string_val": [b"a"]}, 7, [1], [b"a"]),
        ({"half_val": [0x3800]}, 19, [1], [0.5]),
    ],
)
def test_typed_value_fields(fields, dtype, shape, expected):
    proto = tensor_pb2.TensorProto(dtype=dtype, **fields)
    for size in shape:
        proto.tensor_shape.dim.add(size=size)
    assert tensor_proto_to_array(proto).tolist() == expected


def test_unknown_dtype():
    with pytest.raises(ValueError, match="unsupported"):
        tensor_proto_to_array(tensor_pb2.TensorProto(dtype=0))
