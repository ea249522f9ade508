"""Table-driven tests of the pure JSON <-> numpy codec."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest
from tensorflow.core.example import example_pb2

from tf_serving.server import codec
from tf_serving.server.codec import TensorSpec
from tf_serving.server.errors import InvalidArgument, Unimplemented

X = TensorSpec("x", "DT_FLOAT", (-1, 3))
ONE = {"x": X}
MULTI = {"a": TensorSpec("a", "DT_FLOAT", (-1, 2)), "b": TensorSpec("b", "DT_INT64", (-1,))}
TEXT = {"s": TensorSpec("s", "DT_STRING", (-1,))}


@pytest.mark.parametrize(
    ("value", "dtype", "expected"),
    [
        (1.5, "DT_FLOAT", np.float32(1.5)),
        ([1, 2.5], "DT_FLOAT", np.array([1, 2.5], np.float32)),
        ([[1, 2], [3, 4]], "DT_INT32", np.array([[1, 2], [3, 4]], np.int32)),
        ([True, False], "DT_BOOL", np.array([True, False])),
        (["a", {"b64": "AP8="}], "DT_STRING", np.array([b"a", b"\x00\xff"], object)),
        ([float("nan")], "DT_DOUBLE", np.array([np.nan])),
        ([], "DT_FLOAT", np.zeros((0,), np.float32)),
        ([300, -1], "DT_UINT8", np.array([44, 255], np.uint8)),  # int_val, then a C cast
    ],
)
def test_json_to_array(value: Any, dtype: str, expected: np.ndarray) -> None:
    got = codec.json_to_array(value, TensorSpec("t", dtype, None))
    assert got.dtype == expected.dtype
    assert got.shape == np.shape(expected)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    ("value", "dtype", "fragment"),
    [
        (["a"], "DT_FLOAT", "is not of expected type: float"),
        ([True], "DT_FLOAT", "is not of expected type: float"),
        ([1.5], "DT_INT64", "is not of expected type: int64"),
        ([1], "DT_STRING", "is not of expected type: string"),
        ([1], "DT_BOOL", "is not of expected type: bool"),
        ([2**31], "DT_INT32", "Type: Number is not of expected type: int32"),
        ([-1], "DT_UINT64", "Type: Number is not of expected type: uint64"),
        ([[1, 2], [3]], "DT_FLOAT", "Encountered list at unexpected size: 1 at level: 1"),
        ([[1, 2], 3], "DT_FLOAT", "JSON Value: 3 found at incorrect level: 2"),
        ([[1], [[2]]], "DT_FLOAT", "Encountered list at unexpected level: 2 expected < 2"),
        ([{"b64": 1}], "DT_STRING", "not formatted correctly for base64 data"),
        ([{"b64": "!!"}], "DT_STRING", "Unable to base64 decode"),
        ([None], "DT_FLOAT", "JSON Value: null Type: Null is not of expected type: float"),
        (json.loads("[" * 500 + "]" * 500), "DT_FLOAT", "nested 500 deep"),
    ],
)
def test_json_to_array_errors(value: Any, dtype: str, fragment: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        codec.json_to_array(value, TensorSpec("t", dtype, None))
    assert fragment in info.value.message


def test_json_to_array_half_is_unimplemented() -> None:
    # json_tensor.cc converts no JSON into DT_HALF: UNIMPLEMENTED, HTTP 501.
    with pytest.raises(Unimplemented, match=r"Conversion of JSON Value: 0\.5 to type: half"):
        codec.json_to_array([0.5], TensorSpec("t", "DT_HALF", None))


@pytest.mark.parametrize(
    ("doc", "specs", "fmt", "expected"),
    [
        ({"instances": [[1, 2, 3]]}, ONE, "row", {"x": [[1, 2, 3]]}),
        ({"inputs": [[1, 2, 3]]}, ONE, "columnar", {"x": [[1, 2, 3]]}),
        ({"inputs": {"x": [[1, 2, 3]]}}, ONE, "columnar", {"x": [[1, 2, 3]]}),
        ({"instances": [{"x": [1, 2, 3]}]}, ONE, "row", {"x": [[1, 2, 3]]}),
        (
            {"instances": [{"a": [1, 2], "b": 1}, {"a": [3, 4], "b": 2}]},
            MULTI,
            "row",
            {"a": [[1, 2], [3, 4]], "b": [1, 2]},
        ),
        ({"instances": [{"b64": "aGk="}]}, TEXT, "row", {"s": [b"hi"]}),
        ({"inputs": {"b64": "aGk="}}, TEXT, "columnar", {"s": b"hi"}),
    ],
)
def test_decode_predict_request(doc, specs, fmt, expected) -> None:
    arrays, got_fmt = codec.decode_predict_request(doc, specs)
    assert got_fmt == fmt
    assert set(arrays) == set(expected)
    for name, value in expected.items():
        assert arrays[name].tolist() == value


@pytest.mark.parametrize(
    ("doc", "specs", "fragment"),
    [
        ({}, ONE, "Missing 'inputs' or 'instances' key"),
        ({"instances": [], "inputs": []}, ONE, "expecting only one of"),
        ({"instances": []}, ONE, "No values in 'instances' array"),
        ({"instances": {"x": 1}}, ONE, "to be an list/array"),
        ({"instances": [[1, 2, 3], [1, 2]]}, ONE, "Expecting tensor size: 3 but got: 2"),
        ({"instances": [[[1, 2, 3]], [1, 2, 3]]}, ONE, "Expecting shape [1,3] but got: [3]"),
        ({"instances": [{"a": [1, 2]}]}, MULTI, "keys must be equal to: a,b"),
        ({"instances": [{"a": [1, 2], "c": 1}]}, MULTI, "does not have named input: c"),
        ({"instances": [[1, 2], {"a": 1}]}, ONE, "Expecting value/list but got object"),
        ({"instances": [{"a": [1, 2], "b": 1}, [1]]}, MULTI, "Expecting object but got list"),
        ({"inputs": [[1, 2]]}, MULTI, "inputs is a plain value/list, but expecting an object"),
        ({"inputs": {"a": [[1, 2]]}}, MULTI, "Missing named input: b in 'inputs' object."),
        ({"instances": [[1, 2]]}, MULTI, "instances is a plain list, but expecting list of"),
        ({"instances": [1]}, {}, "Failed to get input map for signature: DEFAULT"),
    ],
)
def test_decode_predict_request_errors(doc, specs, fragment) -> None:
    with pytest.raises(InvalidArgument) as info:
        codec.decode_predict_request(doc, specs)
    assert fragment in info.value.message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"a": 1}', {"a": 1}),
        (b'{"a": NaN}', "nan"),
        (b'{"a": -Infinity}', float("-inf")),
    ],
)
def test_parse_json(body: bytes, expected: Any) -> None:
    got = codec.parse_json(body)
    if expected == "nan":
        assert got["a"] != got["a"]
    else:
        assert got == expected if isinstance(expected, dict) else got["a"] == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "JSON Parse error: The document is empty"),
        (b"  ", "JSON Parse error: The document is empty. at offset: 2"),
        (b"instances = [1, 2]", "JSON Parse error: Invalid value. at offset: 0"),
        (b'{"a": 1', "JSON Parse error: Missing a comma or '}' after an object member."),
        (b'{"a": [1 2]}', "JSON Parse error: Missing a comma or ']' after an array element."),
        (b"{1: 2}", "JSON Parse error: Missing a name for object member. at offset: 1"),
        (b"\xff", "JSON Parse error: Invalid value. at offset: 0"),
        (b"[" * 5000 + b"]" * 5000, "JSON Parse error"),
        (b"[1, 2]", "JSON Value: [1, 2] Is not object"),
    ],
)
def test_parse_json_errors(body: bytes, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        codec.parse_json(body)
    assert info.value.message.startswith(message), info.value.message


def test_parse_json_stops_after_the_first_value() -> None:
    # rapidjson's kParseStopWhenDoneFlag: TF Serving ignores trailing bytes.
    assert codec.parse_json(b'{"a": 1} trailing') == {"a": 1}


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"instances": [1, 2.5, "a"]}, '{\n    "instances": [1, 2.5, "a"]\n}'),
        ({"a": {"b": []}, "c": {}}, '{\n    "a": {\n        "b": []\n    },\n    "c": {}\n}'),
        ([[1, 2], [3]], "[[1, 2], [3]]"),
        (None, "null"),
        (True, "true"),
    ],
)
def test_debug_string_is_rapidjson_pretty_writer(value: Any, text: str) -> None:
    assert codec.debug_string(value) == text


def test_debug_string_truncates_past_256_bytes() -> None:
    text = codec.debug_string(list(range(1000)))
    assert 256 <= len(text) < 262
    assert text.startswith("[0, 1, 2")


@pytest.mark.parametrize(
    ("outputs", "fmt", "expected"),
    [
        ({"y": np.array([[1.5], [2.0]], np.float32)}, "row", {"predictions": [[1.5], [2.0]]}),
        ({"y": np.array([1, 2])}, "columnar", {"outputs": [1, 2]}),
        (
            {"y": np.array([1, 2]), "z": np.array([[0.5], [1.0]], np.float32)},
            "row",
            {"predictions": [{"y": 1, "z": [0.5]}, {"y": 2, "z": [1.0]}]},
        ),
        (
            {"y": np.array([1]), "z": np.float32(3)},
            "columnar",
            {"outputs": {"y": [1], "z": 3.0}},
        ),
        (
            {"out_bytes": np.array([b"\x00"], object), "s": np.array([b"hi"], object)},
            "row",
            {"predictions": [{"out_bytes": {"b64": "AA=="}, "s": "hi"}]},
        ),
        ({"ok": np.array([True])}, "row", {"predictions": [True]}),
    ],
)
def test_encode_predict_response(outputs, fmt, expected) -> None:
    assert json.loads(codec.encode_predict_response(outputs, fmt)) == expected


def test_encode_predict_response_non_finite() -> None:
    text = codec.encode_predict_response({"y": np.array([np.nan, np.inf, -np.inf])}, "row")
    assert text == b'{"predictions":[NaN,Infinity,-Infinity]}'


@pytest.mark.parametrize(
    ("outputs", "fragment"),
    [
        ({"a": np.zeros(2), "b": np.zeros(3)}, "inconsistent batch size: 3 expecting: 2"),
        ({"a": np.float32(1)}, "Tensor name: a has no shape information "),
    ],
)
def test_encode_predict_response_row_errors(outputs, fragment) -> None:
    with pytest.raises(InvalidArgument, match=fragment):
        codec.encode_predict_response(outputs, "row")


def test_decode_examples_merges_context() -> None:
    doc = {
        "context": {"c": "ctx", "x": 9},
        "examples": [
            {"x": 1, "f": [0.5, 1.5], "t": True},
            {"raw": {"b64": base64.b64encode(b"\x01").decode()}},
        ],
    }
    first, second = (example_pb2.Example.FromString(b) for b in codec.decode_examples(doc))
    assert list(first.features.feature["x"].int64_list.value) == [1]
    assert list(first.features.feature["f"].float_list.value) == [0.5, 1.5]
    assert list(first.features.feature["t"].int64_list.value) == [1]  # bools are int64
    assert list(first.features.feature["c"].bytes_list.value) == [b"ctx"]
    assert list(second.features.feature["raw"].bytes_list.value) == [b"\x01"]
    assert list(second.features.feature["x"].int64_list.value) == [9]


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ({}, "When method is classify, key 'examples' is expected and was not found"),
        ({"examples": {}}, "Expecting 'examples' value to be an list/array"),
        ({"examples": []}, "'examples' value is an empty array"),
        ({"examples": [1]}, "Example must be JSON object but got JSON Number"),
        (
            {"examples": [{"x": [1, "a"]}]},
            "Unexpected element type in feature: x expecting type: int64",
        ),
        (
            {"examples": [{"x": [0.5, 1]}]},
            "Unexpected element type in feature: x expecting type: float",
        ),
        ({"examples": [{"x": None}]}, "Feature: x has element with unexpected JSON type: Null"),
        ({"examples": [{"x": [[1]]}]}, "Feature: x has element with unexpected JSON type: Array"),
        (
            {"examples": [{"x": 2**63}]},
            "Feature: x has uint64_t element. Only int64_t is supported.",
        ),
        ({"context": 1, "examples": [{}]}, "Example must be JSON object but got JSON Number"),
    ],
)
def test_decode_examples_errors(doc, fragment) -> None:
    with pytest.raises(InvalidArgument) as info:
        codec.decode_examples(doc)
    assert fragment in info.value.message


def test_encode_classification_and_regression() -> None:
    assert json.loads(codec.encode_classification([[("a", 0.25), ("b", 0.75)]])) == {
        "results": [[["a", 0.25], ["b", 0.75]]]
    }
    assert json.loads(codec.encode_regression([1.5, 2.0])) == {"results": [1.5, 2.0]}


@pytest.mark.parametrize(
    "array",
    [
        np.array([[1.5, 2]], np.float32),
        np.array([1, 2], np.int64),
        np.array([b"a", b"\x00"], object),
    ],
)
def test_tensor_proto_round_trip(array: np.ndarray) -> None:
    back = codec.tensor_proto_to_array(codec.array_to_tensor_proto(array))
    np.testing.assert_array_equal(back, array)


def test_lone_surrogates_never_break_a_response() -> None:
    doc = codec.parse_json(b'{"instances": ["\\ud800"], "x": 1}')
    arrays, _ = codec.decode_predict_request(doc, TEXT)
    assert arrays["s"].tolist() == ["\ud800".encode("utf-8", "surrogatepass")]
    with pytest.raises(InvalidArgument) as info:
        codec.decode_predict_request(doc, ONE)
    body = json.loads(codec.format_error(info.value.message))
    assert "\ud800" in body["error"]
