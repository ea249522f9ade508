"""Table tests of the TF Serving REST v1 codec (``wire.v1``)."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from wire import WireError, v1

# What the gateway answers: a body error (400) or a tensor error (400 naming the tensor).
BadRequest, InvalidTensor = "body", "tensor"

ONE = {"pixels": "float32"}
TWO = {"a": "int64", "s": "string"}


@pytest.mark.parametrize(
    ("body", "dtypes", "layout", "expected"),
    [
        ({"instances": [[1, 2], [3, 4]]}, ONE, "row", {"pixels": [[1.0, 2.0], [3.0, 4.0]]}),
        ({"inputs": [[1, 2]]}, ONE, "columnar", {"pixels": [[1.0, 2.0]]}),
        ({"inputs": {"pixels": [[1, 2]]}}, ONE, "columnar", {"pixels": [[1.0, 2.0]]}),
        ({"instances": [{"pixels": [1, 2]}]}, ONE, "row", {"pixels": [[1.0, 2.0]]}),
        (
            {"instances": [{"a": 1, "s": "x"}, {"a": 2, "s": {"b64": "eQ=="}}]},
            TWO,
            "row",
            {"a": [1, 2], "s": [b"x", b"y"]},
        ),
        (
            {"inputs": {"a": [5], "s": [{"b64": "AAE="}]}},
            TWO,
            "columnar",
            {"a": [5], "s": [b"\x00\x01"]},
        ),
    ],
)
def test_decode_predict(body, dtypes, layout, expected):
    decoded = v1.decode_predict(body, dtypes)
    assert decoded.layout == layout
    assert set(decoded.inputs) == set(expected)
    for name, value in expected.items():
        assert decoded.inputs[name].tolist() == value


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ([], BadRequest),
        ({}, BadRequest),
        ({"instances": [[1]], "inputs": [[1]]}, BadRequest),
        ({"instances": []}, BadRequest),
        ({"instances": [[1, 2], [3]]}, InvalidTensor),
        ({"instances": [["a"]]}, InvalidTensor),
        ({"inputs": {"nope": [1]}}, InvalidTensor),
        ({"instances": [{"pixels": [1]}, {"other": [1]}]}, BadRequest),
        ({"signature_name": 3, "inputs": [1]}, BadRequest),
        ({"instances": [[{"b64": "!!"}]]}, InvalidTensor),
    ],
)
def test_decode_predict_rejects(body, error):
    with pytest.raises(WireError) as info:
        v1.decode_predict(body, ONE)
    if error == InvalidTensor:
        assert info.value.tensor is not None


@pytest.mark.parametrize(
    ("outputs", "layout", "expected"),
    [
        ({"y": np.array([[1.5], [2.5]], np.float32)}, "row", {"predictions": [[1.5], [2.5]]}),
        (
            {"y": np.array([1, 2], np.int64), "z": np.array([True, False])},
            "row",
            {"predictions": [{"y": 1, "z": True}, {"y": 2, "z": False}]},
        ),
        ({"y": np.array([1], np.int32)}, "columnar", {"outputs": [1]}),
        ({"y": np.array([1]), "z": np.array([2])}, "columnar", {"outputs": {"y": [1], "z": [2]}}),
        ({"s": np.array([b"hi"], dtype=object)}, "columnar", {"outputs": ["hi"]}),
        ({"s_bytes": np.array([b"hi"], dtype=object)}, "columnar", {"outputs": [{"b64": "aGk="}]}),
        ({"h": np.array([0.5], np.float16)}, "columnar", {"outputs": [0.5]}),
    ],
)
def test_encode_predict(outputs, layout, expected):
    assert orjson.loads(v1.encode_predict(outputs, layout)) == expected


def test_float32_keeps_float32_text():
    """Shortest round-trip float32 text, as the backends write it (issue 12), in every layout."""
    y = np.array([3.2102612e-8, 0.1], np.float32)
    z = np.array([1, 2], np.int64)
    assert v1.encode_predict({"y": y}, "row") == b'{"predictions":[3.2102612e-8,0.1]}'
    assert v1.encode_predict({"y": y, "z": z}, "row") == (
        b'{"predictions":[{"y":3.2102612e-8,"z":1},{"y":0.1,"z":2}]}'
    )
    assert v1.encode_predict({"y": y, "z": z}, "columnar") == (
        b'{"outputs":{"y":[3.2102612e-8,0.1],"z":[1,2]}}'
    )


@pytest.mark.parametrize(
    ("value", "dtype", "fragment"),
    [
        ([1.5], "int64", "expected int64, got float64 values"),
        ([300], "uint8", "out of range for uint8"),
        ([[1, 2], [3]], "float32", "ragged"),
        (["a"], "float32", "non-numeric"),
    ],
)
def test_lossy_conversions_are_refused(value, dtype, fragment):
    with pytest.raises(WireError, match=fragment) as info:
        v1.decode_predict({"inputs": value}, {"x": dtype})
    assert info.value.tensor == "x"


def test_nan_is_written_as_tf_serving_writes_it():
    out = v1.encode_predict({"y": np.array([np.nan, np.inf, 1.5], np.float32)}, "columnar")
    assert out == b'{"outputs":[NaN,Infinity,1.5]}'


def test_a_string_holding_null_is_not_mistaken_for_nan():
    out = v1.encode_predict({"s": np.array([b"null", b"x"], dtype=object)}, "columnar")
    assert orjson.loads(out) == {"outputs": ["null", "x"]}
