"""Table tests for the handler's request/response glue over ``wire`` (no torch, no server)."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from torchserve.handler import intra_op_threads, parse_body, split_outputs
from wire import WireError as BadRequest
from wire.endpoint import decode_request, encode_response
from wire.spec import ModelIO, TensorSpec

ONE = ModelIO(
    name="m",
    version="1",
    format="torchscript",
    serialized_file="model.pt",
    inputs=(TensorSpec("x", "float32", (-1, 2)),),
    outputs=(TensorSpec("y", "float32", (-1,)),),
)
TWO = ModelIO(
    name="m2",
    version="3",
    format="eager",
    serialized_file="state_dict.pt",
    inputs=(TensorSpec("a", "float32", (-1, 2)), TensorSpec("b", "int64", (-1,))),
    outputs=(TensorSpec("p", "float32", (-1, 2)), TensorSpec("k", "int64", (-1,))),
)

GOOD = [
    # (id, io, request document, protocol, expected arrays)
    ("row", ONE, {"instances": [[1, 2], [3, 4]]}, "v1_row", [[[1, 2], [3, 4]]]),
    ("row-named", ONE, {"instances": [{"x": [1, 2]}]}, "v1_row", [[[1, 2]]]),
    ("columnar", ONE, {"inputs": [[1, 2]]}, "v1_columnar", [[[1, 2]]]),
    ("columnar-named", ONE, {"inputs": {"x": [[1.5, 2]]}}, "v1_columnar", [[[1.5, 2]]]),
    ("row-multi", TWO, {"instances": [{"a": [1, 2], "b": 7}]}, "v1_row", [[[1, 2]], [7]]),
    ("columnar-multi", TWO, {"inputs": {"a": [[1, 2]], "b": [7]}}, "v1_columnar", [[[1, 2]], [7]]),
    (
        "v2",
        ONE,
        {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 2], "data": [1, 2, 3, 4]}]},
        "v2",
        [[[1, 2], [3, 4]]],
    ),
    (
        "v2-nested-data",
        ONE,
        {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [[1, 2]]}]},
        "v2",
        [[[1, 2]]],
    ),
]


@pytest.mark.parametrize(
    ("io", "doc", "protocol", "expected"), [g[1:] for g in GOOD], ids=[g[0] for g in GOOD]
)
def test_decode_good(io: ModelIO, doc: dict, protocol: str, expected: list) -> None:
    decoded = decode_request(doc, io)
    assert decoded.protocol == protocol
    for arr, spec, want in zip(decoded.arrays, io.inputs, expected, strict=True):
        assert arr.dtype == np.dtype(spec.dtype)
        np.testing.assert_array_equal(arr, np.asarray(want))


BAD = [
    # (id, io, request document, fragments of the 400 message)
    ("not-object", ONE, [1, 2], ["JSON object"]),
    (
        "both-keys",
        ONE,
        {"instances": [[1, 2]], "inputs": [[1, 2]]},
        ["both 'instances' and 'inputs'"],
    ),
    ("no-keys", ONE, {"data": 1}, ["missing 'instances' or 'inputs'"]),
    ("empty-instances", ONE, {"instances": []}, ["non-empty list"]),
    (
        "wrong-shape",
        ONE,
        {"instances": [[1, 2, 3]]},
        ["'x'", "expected shape [-1, 2]", "float32", "got shape [1, 3]"],
    ),
    ("ragged", ONE, {"instances": [[1, 2], [3]]}, ["'x'", "ragged"]),
    ("strings", ONE, {"instances": [["a", "b"]]}, ["'x'", "expected float32", "non-numeric"]),
    (
        "float-for-int",
        TWO,
        {"inputs": {"a": [[1, 2]], "b": [1.5]}},
        ["'b'", "expected int64", "float64"],
    ),
    (
        "missing-input",
        TWO,
        {"inputs": {"a": [[1, 2]]}},
        ["missing input 'b'", "'b' int64 (INT64) [-1]"],
    ),
    ("unknown-input", ONE, {"inputs": {"x": [[1, 2]], "z": [1]}}, ["unknown input 'z'"]),
    ("batch-mismatch", TWO, {"inputs": {"a": [[1, 2], [3, 4]], "b": [1]}}, ["batch size"]),
    (
        "v2-wrong-datatype",
        ONE,
        {"inputs": [{"name": "x", "datatype": "INT64", "shape": [1, 2], "data": [1, 2]}]},
        ["'x'", "expected 'x' float32 (FP32)", "INT64"],
    ),
    (
        "v2-count-mismatch",
        ONE,
        {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 2], "data": [1, 2]}]},
        ["needs 4 values, got 2"],
    ),
    (
        "v2-bad-shape-field",
        ONE,
        {"inputs": [{"name": "x", "datatype": "FP32", "shape": "2x2", "data": [1, 2]}]},
        ["'shape' must be a list"],
    ),
    (
        "v2-wrong-rank",
        ONE,
        {"inputs": [{"name": "x", "datatype": "FP32", "shape": [4], "data": [1, 2, 3, 4]}]},
        ["expected shape [-1, 2]"],
    ),
    (
        "v2-unknown-output",
        ONE,
        {
            "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [1, 2]}],
            "outputs": [{"name": "nope"}],
        },
        ["unknown output", "nope"],
    ),
]


@pytest.mark.parametrize(("io", "doc", "fragments"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_decode_bad(io: ModelIO, doc: object, fragments: list[str]) -> None:
    with pytest.raises(BadRequest) as info:
        decode_request(doc, io)
    for fragment in fragments:
        assert fragment in str(info.value), f"{fragment!r} not in {info.value}"


@pytest.mark.parametrize(
    ("body", "header", "fragment"),
    [
        (b"", None, "empty request body"),
        (None, None, "empty request body"),
        (b"{nope", None, "not valid JSON"),
        (b"\xff\xfe", None, "not valid JSON"),
        (b"{}", 10, "exceeds the body"),
        ({"instances": []}, 2, "not raw"),
    ],
)
def test_parse_body_errors(body: object, header: int | None, fragment: str) -> None:
    with pytest.raises(BadRequest, match=fragment):
        parse_body(body, header)


def test_parse_body_accepts_bytes_str_and_parsed_json() -> None:
    assert parse_body(b'{"a": 1}') == ({"a": 1}, None)
    assert parse_body('{"a": 1}') == ({"a": 1}, None)
    assert parse_body(bytearray(b'{"a": 1}')) == ({"a": 1}, None)
    assert parse_body({"a": 1}) == ({"a": 1}, None)


def _binary_request(values: np.ndarray, declared_size: int | None = None) -> tuple[bytes, int]:
    raw = values.astype("<f4").tobytes()
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "datatype": "FP32",
                    "shape": list(values.shape),
                    "parameters": {"binary_data_size": declared_size or len(raw)},
                }
            ]
        }
    ).encode()
    return header + raw, len(header)


def test_v2_binary_extension_round_trip() -> None:
    values = np.arange(6, dtype=np.float32).reshape(3, 2)
    body, length = _binary_request(values)
    doc, binary = parse_body(body, length)
    decoded = decode_request(doc, ONE, binary)
    np.testing.assert_array_equal(decoded.arrays[0], values)
    assert decoded.batch == 3


@pytest.mark.parametrize(
    ("declared", "extra", "fragment"),
    [
        (20, b"", "does not match shape"),
        (None, b"\x00" * 4, "unused bytes"),
        (400, b"", "out of range"),
    ],
)
def test_v2_binary_errors(declared: int | None, extra: bytes, fragment: str) -> None:
    body, length = _binary_request(np.zeros((3, 2), np.float32), declared)
    doc, binary = parse_body(body + extra, length)
    with pytest.raises(BadRequest, match=fragment):
        decode_request(doc, ONE, binary)


def test_encode_each_protocol() -> None:
    p = np.array([[0.25, 0.75]], np.float32)
    k = np.array([1], np.int64)
    row = decode_request({"instances": [{"a": [1, 2], "b": 3}]}, TWO)
    assert json.loads(encode_response(row, [p, k], TWO)[0]) == {
        "predictions": [{"p": [0.25, 0.75], "k": 1}]
    }
    col = decode_request({"inputs": {"a": [[1, 2]], "b": [3]}}, TWO)
    assert json.loads(encode_response(col, [p, k], TWO)[0]) == {
        "outputs": {"p": [[0.25, 0.75]], "k": [1]}
    }
    v2 = decode_request(
        {
            "id": "r1",
            "inputs": [
                {"name": "a", "datatype": "FP32", "shape": [1, 2], "data": [1, 2]},
                {"name": "b", "datatype": "INT64", "shape": [1], "data": [3]},
            ],
            "outputs": [{"name": "k"}],
        },
        TWO,
    )
    assert json.loads(encode_response(v2, [p, k], TWO, "3")[0]) == {
        "model_name": "m2",
        "model_version": "3",
        "id": "r1",
        "outputs": [{"name": "k", "datatype": "INT64", "shape": [1], "data": [1]}],
    }


def test_single_output_row_and_columnar_are_bare_values() -> None:
    y = np.array([0.5, 1.5], np.float32)
    row = decode_request({"instances": [[1, 2], [3, 4]]}, ONE)
    assert json.loads(encode_response(row, [y], ONE)[0]) == {"predictions": [0.5, 1.5]}
    col = decode_request({"inputs": [[1, 2], [3, 4]]}, ONE)
    assert json.loads(encode_response(col, [y], ONE)[0]) == {"outputs": [0.5, 1.5]}


def test_nan_and_infinity_survive_encoding() -> None:
    row = decode_request({"instances": [[1, 2], [3, 4]]}, ONE)
    out, _ = encode_response(row, [np.array([np.nan, np.inf], np.float32)], ONE)
    assert out == b'{"predictions":[NaN,Infinity]}'


def test_split_outputs_follows_request_sizes() -> None:
    y = np.arange(6)
    parts = split_outputs([y, y * 10], [1, 3, 2])
    assert [p[0].tolist() for p in parts] == [[0], [1, 2, 3], [4, 5]]
    assert [p[1].tolist() for p in parts] == [[0], [10, 20, 30], [40, 50]]


def test_model_io_json_round_trip() -> None:
    assert ModelIO.from_json(json.loads(json.dumps(TWO.to_json()))) == TWO


def test_binary_header_is_little_endian() -> None:
    # The extension is little-endian whatever the host: check the decoder reads it so.
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "datatype": "FP32",
                    "shape": [1, 2],
                    "parameters": {"binary_data_size": 8},
                }
            ]
        }
    ).encode()
    body = header + struct.pack("<2f", 1.5, -2.0)
    doc, binary = parse_body(body, len(header))
    assert decode_request(doc, ONE, binary).arrays[0].tolist() == [[1.5, -2.0]]


def test_v2_binary_output_for_the_gateway() -> None:
    """The gateway asks for raw outputs: float32 travels as its own bytes, never as text."""
    doc = {
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [1, 2]}],
        "parameters": {"binary_data_output": True},
    }
    y = np.array([3.2102612e-8], np.float32)
    body, length = encode_response(decode_request(doc, ONE), [y], ONE)
    assert length is not None
    header = json.loads(body[:length])
    assert header["outputs"][0]["parameters"] == {"binary_data_size": 4}
    assert body[length:] == y.tobytes()


def test_handler_module_defines_one_class() -> None:
    """TorchServe refuses a handler module that defines more than one class."""
    import inspect

    import torchserve.handler as module

    defined = [
        name
        for name, obj in inspect.getmembers(module, inspect.isclass)
        if obj.__module__ == module.__name__
    ]
    assert defined == ["TandemHandler"]


@pytest.mark.parametrize(
    ("raw", "threads"), [(None, None), ("", None), ("0", None), ("-2", None), ("x", None), ("3", 3)]
)
def test_intra_op_threads_setting(raw: str | None, threads: int | None) -> None:
    assert intra_op_threads(raw) == threads
