"""Open Inference Protocol v2 REST bodies ↔ named numpy arrays, JSON and binary extension.

JSON tensors: ``{"name", "datatype", "shape", "data"}``. Binary tensor data extension: the
body is a JSON header of ``Inference-Header-Content-Length`` bytes followed by raw
little-endian tensor bytes; an input/output that travels as binary carries
``parameters.binary_data_size`` instead of ``data`` (BYTES elements are 4-byte little-endian
length-prefixed). Outputs are returned as binary when the request sets
``parameters.binary_data_output`` or the output's ``parameters.binary_data``.
Spec: https://github.com/kserve/kserve/blob/master/docs/predict-api/v2/required_api.md and
https://github.com/triton-inference-server/server/blob/main/docs/protocol/extension_binary_data.md
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wire.arrays import dumps, json_to_array, loads
from wire.dtypes import NAME_TO_NUMPY, NAME_TO_V2, V2_TO_NAME, name_of
from wire.errors import WireError

HEADER_LENGTH = "Inference-Header-Content-Length"
"""The HTTP header (and TorchServe gRPC input key, lower-cased) carrying the JSON length."""
_LEN = struct.Struct("<I")
_SCANNER = json.JSONDecoder()


@dataclass(slots=True)
class RequestedOutput:
    """One entry of the request's ``outputs`` list."""

    name: str
    binary: bool | None = None


@dataclass(slots=True)
class V2InferRequest:
    """A decoded ``/infer`` request: arrays by input name, in request order."""

    inputs: dict[str, np.ndarray]
    id: str | None = None
    outputs: list[RequestedOutput] | None = None
    binary_output: bool = False
    declared: dict[str, str] = field(default_factory=dict)  # input name → declared v2 datatype
    parameters: dict[str, Any] = field(default_factory=dict)


def split_binary(body: bytes | memoryview, header_length: int) -> tuple[Any, memoryview]:
    """Split a binary-extension body into its parsed JSON header and the raw tail."""
    if header_length < 0 or header_length > len(body):
        raise WireError(
            f"{HEADER_LENGTH} {header_length} exceeds the body ({len(body)} bytes)"
            if header_length > 0
            else f"{HEADER_LENGTH} {header_length} is negative"
        )
    view = memoryview(body)
    try:
        header = loads(view[:header_length])
    except WireError as exc:
        raise WireError(f"inference header is not valid JSON: {exc.message}") from exc
    return header, view[header_length:]


def split_response(body: bytes) -> tuple[Any, memoryview]:
    """Split a v2 body whose header length is not known (TorchServe's gRPC answer carries no
    headers): the JSON header is the one JSON object the body starts with."""
    limit = 4096
    while True:
        # latin-1 maps byte i to character i, so the end index is a byte offset.
        text = body[:limit].decode("latin-1")
        try:
            header, end = _SCANNER.raw_decode(text)
            break
        except json.JSONDecodeError as exc:
            if limit >= len(body):
                raise WireError(f"inference header is not valid JSON: {exc}") from exc
            limit *= 16
    if not body[:end].isascii():  # non-ASCII text: read the exact bytes as UTF-8
        header = loads(body[:end])
    return header, memoryview(body)[end:]


def parse_header_length(value: str | bytes | bytearray | None) -> int | None:
    """The ``Inference-Header-Content-Length`` value as an int (``None`` when absent)."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        value = value.decode("ascii", "replace")
    try:
        return int(value.strip())
    except ValueError:
        raise WireError(f"{HEADER_LENGTH} {value!r} is not an integer") from None


def decode_infer_request(header: Any, tail: memoryview | None = None) -> V2InferRequest:
    """Decode a parsed v2 request (JSON body, or binary header + tail)."""
    if not isinstance(header, dict):
        raise WireError("request body must be a JSON object")
    inputs_json = header.get("inputs")
    if not isinstance(inputs_json, list) or not inputs_json:
        raise WireError("'inputs' must be a non-empty list")
    request_id = header.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise WireError("'id' must be a string")
    params = _params(header.get("parameters"), "request")
    offset = 0
    inputs: dict[str, np.ndarray] = {}
    declared: dict[str, str] = {}
    for item in inputs_json:
        name, datatype, shape = _tensor_head(item, "input")
        if name in inputs:
            raise WireError(f"input {name!r} given twice")
        dtype_name = V2_TO_NAME.get(datatype)
        if dtype_name is None:
            raise WireError(f"input {name!r}: unknown datatype {datatype!r}", tensor=name)
        size = _params(item.get("parameters"), f"input {name!r}").get("binary_data_size")
        if size is not None:
            if tail is None:
                raise WireError(f"input {name!r} has binary_data_size but the body is JSON")
            if (
                not isinstance(size, int)
                or isinstance(size, bool)
                or size < 0
                or offset + size > len(tail)
            ):
                raise WireError(f"input {name!r}: binary_data_size {size!r} is out of range")
            array = decode_binary_tensor(name, tail[offset : offset + size], dtype_name, shape)
            offset += size
        else:
            if "data" not in item:
                raise WireError(f"input {name!r} has neither 'data' nor binary_data_size")
            array = _json_tensor(name, item["data"], dtype_name, shape)
        inputs[name] = array
        declared[name] = datatype
    if tail is not None and offset != len(tail):
        raise WireError(
            f"binary data has {len(tail) - offset} unused bytes: check binary_data_size"
        )
    return V2InferRequest(
        inputs=inputs,
        id=request_id,
        outputs=_requested_outputs(header.get("outputs")),
        binary_output=bool(params.get("binary_data_output", False)),
        declared=declared,
        parameters=params,
    )


def _json_tensor(name: str, data: Any, dtype_name: str, shape: tuple[int, ...]) -> np.ndarray:
    array = json_to_array(name, data, dtype_name)
    count = math.prod(shape)
    if array.size != count:
        raise WireError(
            f"input {name!r}: shape {list(shape)} needs {count} values, got {array.size}",
            tensor=name,
        )
    return array.reshape(shape)


def _params(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise WireError(f"{where}: 'parameters' must be an object")
    return value


def _tensor_head(item: Any, role: str) -> tuple[str, str, tuple[int, ...]]:
    if not isinstance(item, dict):
        raise WireError(f"each {role} must be an object")
    name, datatype, shape = item.get("name"), item.get("datatype"), item.get("shape")
    if not isinstance(name, str) or not isinstance(datatype, str):
        raise WireError(f"each {role} needs a string 'name' and 'datatype'")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise WireError(
            f"{role} {name!r}: 'shape' must be a list of non-negative integers", tensor=name
        )
    return name, datatype, tuple(shape)


def _requested_outputs(value: Any) -> list[RequestedOutput] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise WireError("'outputs' must be a list")
    result = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise WireError("each requested output needs a string 'name'")
        binary = _params(item.get("parameters"), f"output {item['name']!r}").get("binary_data")
        result.append(RequestedOutput(item["name"], None if binary is None else bool(binary)))
    return result


def decode_binary_tensor(
    name: str, raw: memoryview | bytes, dtype_name: str, shape: Sequence[int]
) -> np.ndarray:
    """Raw little-endian bytes of one tensor → array (zero-copy for numeric dtypes)."""
    count = math.prod(shape)
    if dtype_name == "string":
        items: list[bytes] = []
        pos, buf = 0, bytes(raw)
        while pos < len(buf):
            if pos + 4 > len(buf):
                raise WireError(f"input {name!r}: truncated BYTES length prefix", tensor=name)
            (length,) = _LEN.unpack_from(buf, pos)
            pos += 4
            if pos + length > len(buf):
                raise WireError(f"input {name!r}: truncated BYTES element", tensor=name)
            items.append(buf[pos : pos + length])
            pos += length
        if len(items) != count:
            raise WireError(
                f"input {name!r}: shape {list(shape)} needs {count} values, got {len(items)}",
                tensor=name,
            )
        out = np.empty(count, dtype=object)
        out[:] = items
        return out.reshape(shape)
    dtype = NAME_TO_NUMPY[dtype_name]
    if len(raw) != count * dtype.itemsize:
        raise WireError(
            f"input {name!r}: binary_data_size {len(raw)} does not match shape {list(shape)} "
            f"of {NAME_TO_V2[dtype_name]} ({count * dtype.itemsize} bytes)",
            tensor=name,
        )
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def encode_binary_tensor(array: np.ndarray) -> bytes:
    """One tensor as raw little-endian bytes (BYTES: 4-byte length-prefixed elements)."""
    if array.dtype == object or array.dtype.kind in "SU":
        parts: list[bytes] = []
        for value in array.reshape(-1).tolist():
            data = value if isinstance(value, bytes) else str(value).encode()
            parts.append(_LEN.pack(len(data)))
            parts.append(data)
        return b"".join(parts)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return np.ascontiguousarray(array).tobytes()


def tensor_json(name: str, array: np.ndarray) -> dict[str, Any]:
    """One tensor as a v2 JSON tensor object (``data`` flattened, row-major, own precision)."""
    dtype_name = name_of(array)
    if dtype_name == "string":
        data: Any = [
            v.decode(errors="replace") if isinstance(v, bytes) else str(v)
            for v in array.reshape(-1).tolist()
        ]
    else:
        if array.dtype.byteorder == ">":
            array = array.astype(array.dtype.newbyteorder("<"))
        flat = np.ascontiguousarray(array).reshape(-1)
        data = flat.astype(np.float32) if flat.dtype == np.float16 else flat
    return {
        "name": name,
        "datatype": NAME_TO_V2[dtype_name],
        "shape": list(array.shape),
        "data": data,
    }


def _body(document: dict[str, Any], blobs: list[bytes]) -> tuple[bytes, int | None]:
    header = dumps(document)
    if not blobs:
        return header, None
    return b"".join([header, *blobs]), len(header)


def _append_tensor(
    tensors: list[dict[str, Any]],
    blobs: list[bytes],
    name: str,
    array: np.ndarray,
    *,
    binary: bool,
) -> None:
    """One tensor of a v2 body: its raw bytes go to `blobs` when sent as binary data."""
    if not binary:
        tensors.append(tensor_json(name, array))
        return
    raw = encode_binary_tensor(array)
    tensors.append(
        {
            "name": name,
            "datatype": NAME_TO_V2[name_of(array)],
            "shape": list(array.shape),
            "parameters": {"binary_data_size": len(raw)},
        }
    )
    blobs.append(raw)


def encode_infer_response(
    *,
    model_name: str,
    model_version: str,
    outputs: Mapping[str, np.ndarray],
    request_id: str | None,
    requested: Sequence[RequestedOutput] | None,
    binary_output: bool,
) -> tuple[bytes, int | None]:
    """Encode a v2 response; returns ``(body, header_length)`` — the length is ``None``
    for a pure JSON body, else the body is the JSON header followed by binary tensors."""
    per_output = {o.name: o.binary for o in requested or []}
    tensors: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, array in outputs.items():
        binary = per_output.get(name)
        _append_tensor(
            tensors, blobs, name, array, binary=binary_output if binary is None else binary
        )
    body: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request_id is not None:
        body["id"] = request_id
    body["outputs"] = tensors
    return _body(body, blobs)


def encode_infer_request(
    inputs: Mapping[str, np.ndarray],
    *,
    output_names: Sequence[str] | None = None,
    binary: bool = True,
    binary_output: bool = False,
    request_id: str | None = None,
) -> tuple[bytes, int | None]:
    """Encode a v2 request (the gateway towards v2-speaking backends such as the handler).

    ``binary_output`` asks for every output as raw binary data. Returns
    ``(body, header_length)``; ``header_length`` is ``None`` for a JSON body."""
    tensors: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, array in inputs.items():
        _append_tensor(tensors, blobs, name, array, binary=binary)
    body: dict[str, Any] = {}
    if request_id is not None:
        body["id"] = request_id
    body["inputs"] = tensors
    if output_names:
        body["outputs"] = [{"name": n} for n in output_names]
    if binary_output:
        body["parameters"] = {"binary_data_output": True}
    return _body(body, blobs)


@dataclass(slots=True)
class V2InferResponse:
    """A decoded v2 response: output arrays by name, in the order sent."""

    outputs: dict[str, np.ndarray]
    model_version: str | None
    model_name: str | None = None
    id: str | None = None


def decode_infer_response(header: Any, tail: memoryview | None = None) -> V2InferResponse:
    """Decode a parsed v2 response (JSON, or binary header + tail); binary outputs are
    zero-copy views of ``tail``."""
    if not isinstance(header, dict) or not isinstance(header.get("outputs"), list):
        raise WireError("v2 response has no 'outputs' list")
    outputs: dict[str, np.ndarray] = {}
    offset = 0
    for item in header["outputs"]:
        name, datatype, shape = _tensor_head(item, "output")
        dtype_name = V2_TO_NAME.get(datatype)
        if dtype_name is None:
            raise WireError(f"output {name!r}: unknown datatype {datatype!r}", tensor=name)
        size = _params(item.get("parameters"), f"output {name!r}").get("binary_data_size")
        if size is not None:
            if tail is None or not isinstance(size, int) or offset + size > len(tail):
                raise WireError(f"output {name!r}: binary_data_size {size!r} is out of range")
            outputs[name] = decode_binary_tensor(
                name, tail[offset : offset + size], dtype_name, shape
            )
            offset += size
        else:
            outputs[name] = _json_tensor(name, item.get("data"), dtype_name, shape)
    version, model, rid = header.get("model_version"), header.get("model_name"), header.get("id")
    return V2InferResponse(
        outputs,
        None if version is None else str(version),
        None if model is None else str(model),
        rid if isinstance(rid, str) else None,
    )
