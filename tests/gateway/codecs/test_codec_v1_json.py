"""Table tests of the TF Serving REST v1 codec."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from gateway.codecs import v1_json
from gateway.errors import BadRequest, InvalidTensor

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
    decoded = v1_json.decode_predict(body, dtypes)
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
    with pytest.raises(error):
        v1_json.decode_predict(body, ONE)


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
    assert orjson.loads(v1_json.encode_predict(outputs, layout)) == expected
