"""Table tests of the OIP v2 JSON codec and binary tensor data extension (``wire.v2``)."""

from __future__ import annotations

import struct

import numpy as np
import orjson
import pytest

from wire import WireError, v2
from wire.dtypes import V2_TO_NAME

# What the gateway answers: a body error (400) or a tensor error (400 naming the tensor).
BadRequest, InvalidTensor = "body", "tensor"

CASES = [
    ("FP32", np.array([[1.0, 2.5]], np.float32)),
    ("FP64", np.array([1.0, -2.0], np.float64)),
    ("FP16", np.array([0.5, 1.0], np.float16)),
    ("INT8", np.array([-1, 2], np.int8)),
    ("INT32", np.array([[1], [2]], np.int32)),
    ("INT64", np.array([2**40], np.int64)),
    ("UINT8", np.array([255, 0], np.uint8)),
    ("UINT64", np.array([2**63], np.uint64)),
    ("BOOL", np.array([True, False])),
    ("BYTES", np.array([b"a", b"\x00\xff"], dtype=object)),
]


@pytest.mark.parametrize(("datatype", "array"), CASES)
def test_binary_roundtrip(datatype, array):
    raw = v2.encode_binary_tensor(array)
    back = v2.decode_binary_tensor("x", raw, V2_TO_NAME[datatype], array.shape)
    assert back.shape == array.shape
    assert back.tolist() == array.tolist()


@pytest.mark.parametrize(("datatype", "array"), [c for c in CASES if c[0] not in ("BYTES",)])
def test_request_binary_and_json_roundtrip(datatype, array):
    for binary in (True, False):
        body, header_length = v2.encode_infer_request({"x": array}, binary=binary)
        if binary:
            header, tail = v2.split_binary(body, header_length)
            decoded = v2.decode_infer_request(header, tail)
        else:
            assert header_length is None
            decoded = v2.decode_infer_request(orjson.loads(body))
        assert decoded.declared == {"x": datatype}
        got = decoded.inputs["x"]
        assert got.shape == array.shape
        np.testing.assert_array_equal(got, array.astype(got.dtype))


def test_bytes_json_request():
    decoded = v2.decode_infer_request(
        {"inputs": [{"name": "s", "datatype": "BYTES", "shape": [2], "data": ["a", "b"]}]}
    )
    assert decoded.inputs["s"].tolist() == [b"a", b"b"]


def test_response_binary_per_output_and_global():
    outputs = {"p": np.array([[0.5, 0.5]], np.float32), "l": np.array([1], np.int64)}
    body, n = v2.encode_infer_response(
        model_name="m",
        model_version="1",
        outputs=outputs,
        request_id="r",
        requested=[v2.RequestedOutput("p", True), v2.RequestedOutput("l", False)],
        binary_output=False,
    )
    assert n is not None
    header = orjson.loads(body[:n])
    assert header["id"] == "r"
    p, lab = header["outputs"]
    assert p["parameters"]["binary_data_size"] == 8
    assert "data" not in p
    assert lab["data"] == [1]
    assert np.frombuffer(body[n:], np.float32).tolist() == [0.5, 0.5]
    body, n = v2.encode_infer_response(
        model_name="m",
        model_version="1",
        outputs=outputs,
        request_id=None,
        requested=None,
        binary_output=True,
    )
    assert n is not None
    assert len(body) == n + 8 + 8


def test_response_json():
    body, n = v2.encode_infer_response(
        model_name="m",
        model_version="1",
        outputs={"l": np.array([[1, 2]], np.int64)},
        request_id=None,
        requested=None,
        binary_output=False,
    )
    assert n is None
    assert orjson.loads(body)["outputs"] == [
        {"name": "l", "datatype": "INT64", "shape": [1, 2], "data": [1, 2]}
    ]


def _req(**tensor):
    base = {"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [1, 2]}
    base.update(tensor)
    return {"inputs": [base]}


@pytest.mark.parametrize(
    ("header", "tail", "error"),
    [
        ([], None, BadRequest),
        ({"inputs": []}, None, BadRequest),
        (_req(datatype="FP128"), None, InvalidTensor),
        (_req(shape=[1, 3]), None, InvalidTensor),
        (_req(shape=[-1, 2]), None, InvalidTensor),
        (_req(shape="1,2"), None, InvalidTensor),
        (_req(data=[1, "a"]), None, InvalidTensor),
        (_req(data=None), None, InvalidTensor),
        ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1]}]}, None, BadRequest),
        (_req(parameters={"binary_data_size": 8}), None, BadRequest),
        (_req(parameters={"binary_data_size": 16}), b"\0" * 8, BadRequest),
        (_req(parameters={"binary_data_size": 4}), b"\0" * 4, InvalidTensor),
        (_req(parameters={"binary_data_size": 8}), b"\0" * 12, BadRequest),
        ({"inputs": [_req()["inputs"][0], _req()["inputs"][0]]}, None, BadRequest),
        ({"id": 3, **_req()}, None, BadRequest),
        ({"outputs": [{}], **_req()}, None, BadRequest),
    ],
)
def test_decode_rejects(header, tail, error):
    with pytest.raises(WireError) as info:
        v2.decode_infer_request(header, None if tail is None else memoryview(tail))
    if error == InvalidTensor:
        assert info.value.tensor is not None


@pytest.mark.parametrize("length", [-1, 1000])
def test_split_binary_rejects_bad_length(length):
    with pytest.raises(WireError):
        v2.split_binary(b"{}", length)


def test_truncated_bytes_element():
    raw = struct.pack("<I", 10) + b"abc"
    with pytest.raises(WireError) as info:
        v2.decode_binary_tensor("s", raw, "string", (1,))
    assert info.value.tensor == "s"


@pytest.mark.parametrize("binary_output", [True, False])
def test_response_round_trip_through_split_response(binary_output):
    """What the handler answers and the gateway reads back: the header length is found from
    the body itself (TorchServe's gRPC answer carries no headers)."""
    outputs = {
        "p": np.array([[3.2102612e-8, 0.5]], np.float32),
        "l": np.array([7], np.int64),
        "s": np.array([b"\xff{", b"}"], dtype=object),
    }
    body, n = v2.encode_infer_response(
        model_name="m\u00e9",
        model_version="2",
        outputs=outputs,
        request_id="r",
        requested=None,
        binary_output=binary_output,
    )
    header, tail = v2.split_response(body)
    if binary_output:
        assert n is not None
        assert len(body) - len(tail) == n
    decoded = v2.decode_infer_response(header, tail)
    assert decoded.model_name == "m\u00e9"
    assert decoded.model_version == "2"
    assert decoded.outputs["p"].dtype == np.float32
    np.testing.assert_array_equal(decoded.outputs["p"], outputs["p"])
    assert decoded.outputs["l"].tolist() == [7]
    if binary_output:
        assert decoded.outputs["s"].tolist() == [b"\xff{", b"}"]


def test_float32_json_text_is_float32():
    body, _ = v2.encode_infer_response(
        model_name="m",
        model_version="1",
        outputs={"y": np.array([3.2102612e-8], np.float32)},
        request_id=None,
        requested=None,
        binary_output=False,
    )
    assert b"[3.2102612e-8]" in body


def test_split_response_rejects_non_json():
    with pytest.raises(WireError, match="not valid JSON"):
        v2.split_response(b"\x00\x01garbage")
