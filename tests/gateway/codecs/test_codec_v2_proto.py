"""numpy ↔ OIP v2 gRPC tensors: every datatype typed and raw, both directions, and the
refusals (a table per direction)."""

from __future__ import annotations

import numpy as np
import pytest

from gateway._pb import grpc_predict_v2_pb2 as v2
from gateway.codecs.v2_proto import decode_infer_request, fill_infer_response, infer_body_from_raw
from wire import WireError
from wire.dtypes import NAME_TO_V2
from wire.v2 import decode_infer_request as decode_rest
from wire.v2 import encode_binary_tensor, split_binary

ARRAYS = {
    "bool": np.array([[True, False]]),
    "int8": np.array([[-128, 127]], np.int8),
    "int16": np.array([[-1, 300]], np.int16),
    "int32": np.array([[-(2**31), 2**31 - 1]], np.int32),
    "int64": np.array([[-(2**63), 2**63 - 1]], np.int64),
    "uint8": np.array([[0, 255]], np.uint8),
    "uint16": np.array([[0, 65535]], np.uint16),
    "uint32": np.array([[0, 2**32 - 1]], np.uint32),
    "uint64": np.array([[0, 2**64 - 1]], np.uint64),
    "float16": np.array([[0.5, -2.0]], np.float16),
    "float32": np.array([[1.1, -0.0]], np.float32),
    "float64": np.array([[1e300, 2.5]], np.float64),
    "string": np.array([[b"a", b"\xff\x00"]], object),
}


def _request(name: str, array: np.ndarray, *, raw: bool) -> object:
    request = v2.ModelInferRequest(model_name="m")
    response = v2.ModelInferResponse()
    fill_infer_response(response, {"x": array}, raw=raw)
    (out,) = response.outputs
    tensor = request.inputs.add(name="x", datatype=out.datatype, shape=out.shape)
    if out.HasField("contents"):
        tensor.contents.CopyFrom(out.contents)
    request.raw_input_contents.extend(response.raw_output_contents)
    return request


@pytest.mark.parametrize("raw", [False, True], ids=["typed", "raw"])
@pytest.mark.parametrize("dtype", list(ARRAYS))
def test_round_trip(dtype: str, raw: bool) -> None:
    array = ARRAYS[dtype]
    request = _request("x", array, raw=raw)
    decoded = decode_infer_request(request, max_elements=1000)
    got = decoded.inputs["x"]
    assert got.shape == array.shape
    assert got.dtype == array.dtype
    assert got.tolist() == array.tolist()
    # FP16 has no typed field: it always travels raw.
    assert decoded.raw is (raw or dtype == "float16")
    assert request.inputs[0].datatype == NAME_TO_V2[dtype]


def test_raw_inputs_become_a_v2_binary_body_byte_for_byte() -> None:
    array = ARRAYS["float32"]
    request = _request("x", array, raw=True)
    decoded = decode_infer_request(request, max_elements=1000)
    body, length = infer_body_from_raw(decoded.raw_inputs, ("y",), "rid")
    assert body[length:] == encode_binary_tensor(array)
    header, tail = split_binary(body, length)
    rest = decode_rest(header, tail)
    assert rest.inputs["x"].tolist() == array.tolist()
    assert [o.name for o in rest.outputs or []] == ["y"]
    assert rest.binary_output is True


@pytest.mark.parametrize(
    ("build", "text"),
    [
        (lambda r: r.inputs.add(name="x", datatype="FP32", shape=[3]), "needs 3 values"),
        (lambda r: r.inputs.add(name="x", datatype="FP8", shape=[1]), "unsupported datatype"),
        (lambda r: r.inputs.add(name="x", datatype="FP32", shape=[-1]), "negative dimension"),
        (lambda r: r.inputs.add(name="x", datatype="FP32", shape=[10**6]), "message limit"),
        (lambda r: r.inputs.add(name="", datatype="FP32", shape=[0]), "needs a name"),
        (
            lambda r: r.inputs.add(
                name="x", datatype="INT8", shape=[1], contents={"int_contents": [300]}
            ),
            "does not fit INT8",
        ),
        (
            lambda r: r.inputs.add(
                name="x", datatype="FP32", shape=[1], contents={"fp64_contents": [1.0]}
            ),
            "expects fp32_contents",
        ),
        (
            lambda r: r.inputs.add(
                name="x", datatype="FP16", shape=[1], contents={"fp32_contents": [1.0]}
            ),
            "has no typed contents",
        ),
        (
            lambda r: (
                r.inputs.add(name="x", datatype="FP32", shape=[1]),
                r.raw_input_contents.extend([b"\0" * 4, b"\0" * 4]),
            ),
            "2 entries for 1 inputs",
        ),
        (
            lambda r: (
                r.inputs.add(name="x", datatype="FP32", shape=[2]),
                r.raw_input_contents.append(b"\0" * 4),
            ),
            "does not match shape",
        ),
    ],
)
def test_refusals(build, text: str) -> None:
    request = v2.ModelInferRequest(model_name="m")
    build(request)
    with pytest.raises(WireError, match=text):
        decode_infer_request(request, max_elements=1000)
