"""Pure request/response codecs for Tandem's TorchServe handler.

No I/O and no torch: bytes or parsed JSON in, numpy arrays out, and back. Shipped inside every
`.mar` next to `handler.py` (TorchServe puts the archive directory on `sys.path`), so it
imports only the standard library and numpy.

Three request shapes are understood, and each is answered in its own shape:

- TF Serving row format      `{"instances": [...]}`            -> `{"predictions": [...]}`
- TF Serving columnar format `{"inputs": {...} | value}`       -> `{"outputs": {...} | value}`
- Open Inference Protocol v2 `{"inputs": [{"name", "datatype", "shape", "data"}]}`
                                                               -> `{"model_name", "outputs": [...]}`
  including the binary tensor extension (JSON header of a given length, then raw tensors).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]
Protocol = Literal["v1_row", "v1_columnar", "v2"]

SPEC_FILE = "tandem_spec.json"

NUMPY_DTYPES: dict[str, type[np.generic]] = {
    "float16": np.float16,
    "float32": np.float32,
    "float64": np.float64,
    "int8": np.int8,
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,
    "uint8": np.uint8,
    "bool": np.bool_,
}
V2_DATATYPES: dict[str, str] = {
    "float16": "FP16",
    "float32": "FP32",
    "float64": "FP64",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "uint8": "UINT8",
    "bool": "BOOL",
    "string": "BYTES",
}
V2_TO_DTYPE = {v: k for k, v in V2_DATATYPES.items()}


class BadRequest(ValueError):
    """The request cannot be served as sent; the message says what was expected."""


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str
    shape: tuple[int, ...]

    def describe(self) -> str:
        dims = ", ".join(str(d) for d in self.shape)
        return f"'{self.name}' {self.dtype} [{dims}]"


@dataclass(frozen=True)
class ModelIO:
    """What the handler needs to know about the archived model (written at export)."""

    name: str
    version: str
    format: str
    serialized_file: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    model_file: str | None = None
    model_class: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelIO:
        def specs(items: Sequence[Mapping[str, Any]]) -> tuple[TensorSpec, ...]:
            return tuple(TensorSpec(i["name"], i["dtype"], tuple(i["shape"])) for i in items)

        return cls(
            name=data["name"],
            version=str(data["version"]),
            format=data["format"],
            serialized_file=data["serialized_file"],
            inputs=specs(data["inputs"]),
            outputs=specs(data["outputs"]),
            model_file=data.get("model_file"),
            model_class=data.get("model_class"),
        )

    def to_json(self) -> dict[str, Any]:
        def specs(items: tuple[TensorSpec, ...]) -> list[dict[str, Any]]:
            return [{"name": s.name, "dtype": s.dtype, "shape": list(s.shape)} for s in items]

        return {
            "name": self.name,
            "version": self.version,
            "format": self.format,
            "serialized_file": self.serialized_file,
            "model_file": self.model_file,
            "model_class": self.model_class,
            "inputs": specs(self.inputs),
            "outputs": specs(self.outputs),
        }

    def expected(self) -> str:
        return "inputs " + ", ".join(s.describe() for s in self.inputs)


@dataclass
class Decoded:
    """One request, validated: input arrays in spec order, all with the same batch size."""

    protocol: Protocol
    arrays: list[Array]
    batch: int
    request_id: str | None = None
    requested_outputs: list[str] | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- decoding


def parse_body(body: Any, header_length: int | None = None) -> tuple[Any, bytes]:
    """The JSON document of a request (and the binary tail for the v2 binary extension).

    TorchServe hands over bytes, or already-parsed JSON when the content type was
    application/json; both are accepted.
    """
    if isinstance(body, bytearray):
        body = bytes(body)
    if header_length is not None:
        if not isinstance(body, bytes):
            raise BadRequest("Inference-Header-Content-Length was given but the body is not raw")
        if header_length < 0 or header_length > len(body):
            raise BadRequest(
                f"Inference-Header-Content-Length {header_length} exceeds the body "
                f"({len(body)} bytes)"
            )
        return _loads(body[:header_length]), body[header_length:]
    if isinstance(body, bytes | str):
        if not body:
            raise BadRequest("empty request body: expected a JSON object")
        return _loads(body), b""
    if body is None:
        raise BadRequest("empty request body: expected a JSON object")
    return body, b""


def _loads(raw: bytes | str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from exc


def decode_request(doc: Any, io: ModelIO, binary: bytes = b"") -> Decoded:
    """Turn one parsed request into validated arrays, or raise BadRequest."""
    if not isinstance(doc, dict):
        raise BadRequest(
            "request must be a JSON object with 'instances' (row), 'inputs' (columnar) "
            "or 'inputs' as a list of v2 tensors"
        )
    has_instances, has_inputs = "instances" in doc, "inputs" in doc
    if has_instances and has_inputs:
        raise BadRequest("request has both 'instances' and 'inputs': send only one")
    if has_instances:
        return _decode_row(doc["instances"], io)
    if has_inputs:
        inputs = doc["inputs"]
        if (
            isinstance(inputs, list)
            and inputs
            and all(isinstance(t, dict) and "datatype" in t for t in inputs)
        ):
            return _decode_v2(doc, io, binary)
        return _decode_columnar(inputs, io)
    raise BadRequest("missing 'instances' or 'inputs' key in request")


def _decode_row(instances: Any, io: ModelIO) -> Decoded:
    if not isinstance(instances, list) or not instances:
        raise BadRequest("'instances' must be a non-empty list")
    if len(io.inputs) == 1:
        spec = io.inputs[0]
        rows = [_unwrap_named(inst, spec.name) for inst in instances]
        arrays = [_to_array(rows, spec, io)]
    else:
        columns: dict[str, list[Any]] = {s.name: [] for s in io.inputs}
        for i, inst in enumerate(instances):
            if not isinstance(inst, dict):
                raise BadRequest(
                    f"instances[{i}] must be an object keyed by input name ({io.expected()})"
                )
            _check_names(inst.keys(), io)
            for s in io.inputs:
                columns[s.name].append(inst[s.name])
        arrays = [_to_array(columns[s.name], s, io) for s in io.inputs]
    return Decoded("v1_row", arrays, _batch_of(arrays, io))


def _unwrap_named(inst: Any, name: str) -> Any:
    if isinstance(inst, dict) and set(inst) == {name}:
        return inst[name]
    return inst


def _decode_columnar(inputs: Any, io: ModelIO) -> Decoded:
    if isinstance(inputs, dict):
        _check_names(inputs.keys(), io)
        arrays = [_to_array(inputs[s.name], s, io) for s in io.inputs]
    elif len(io.inputs) == 1:
        arrays = [_to_array(inputs, io.inputs[0], io)]
    else:
        raise BadRequest(f"'inputs' must be an object keyed by input name ({io.expected()})")
    return Decoded("v1_columnar", arrays, _batch_of(arrays, io))


def _check_names(names: Any, io: ModelIO) -> None:
    got, want = set(names), {s.name for s in io.inputs}
    if got != want:
        missing, extra = sorted(want - got), sorted(got - want)
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if extra:
            parts.append(f"unknown {extra}")
        raise BadRequest(f"input names do not match: {'; '.join(parts)} (expected {io.expected()})")


def _to_array(value: Any, spec: TensorSpec, io: ModelIO) -> Array:
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"input '{spec.name}': ragged or malformed values ({exc})") from exc
    arr = _coerce(arr, spec)
    _check_shape(arr, spec)
    return arr


def _coerce(arr: Array, spec: TensorSpec) -> Array:
    """Cast JSON numbers to the declared dtype where that loses nothing."""
    want = NUMPY_DTYPES.get(spec.dtype)
    if want is None:
        raise BadRequest(f"input '{spec.name}': dtype {spec.dtype} is not supported here")
    kind = arr.dtype.kind
    ok = (
        (spec.dtype.startswith("float") and kind in "fiub")
        or (spec.dtype.startswith(("int", "uint")) and kind in "iub")
        or (spec.dtype == "bool" and kind == "b")
    )
    if not ok:
        shown = "non-numeric values" if kind in "OUS" else f"{arr.dtype} values"
        raise BadRequest(f"input '{spec.name}': expected {spec.dtype}, got {shown}")
    return arr.astype(want, copy=False)


def _check_shape(arr: Array, spec: TensorSpec) -> None:
    ok = arr.ndim == len(spec.shape) and all(
        d == -1 or d == a for d, a in zip(spec.shape, arr.shape, strict=True)
    )
    if not ok:
        raise BadRequest(
            f"input '{spec.name}': expected shape {_shape_txt(spec.shape)} ({spec.dtype}), "
            f"got {_shape_txt(arr.shape)}"
        )


def _shape_txt(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _batch_of(arrays: list[Array], io: ModelIO) -> int:
    sizes = {a.shape[0] for a in arrays}
    if len(sizes) != 1:
        raise BadRequest(f"inputs disagree on the batch size: {sorted(sizes)}")
    batch = sizes.pop()
    if batch == 0:
        raise BadRequest("batch size is 0: send at least one instance")
    return int(batch)


def _decode_v2(doc: dict[str, Any], io: ModelIO, binary: bytes) -> Decoded:
    tensors: dict[str, dict[str, Any]] = {}
    for t in doc["inputs"]:
        name = t.get("name")
        if not isinstance(name, str):
            raise BadRequest("every v2 input needs a string 'name'")
        tensors[name] = t
    _check_names(tensors.keys(), io)
    offset = 0
    arrays = []
    for spec in io.inputs:
        arr, offset = _v2_array(tensors[spec.name], spec, binary, offset)
        arrays.append(arr)
    if offset != len(binary):
        raise BadRequest(
            f"binary data has {len(binary) - offset} unused bytes: check binary_data_size"
        )
    outputs = doc.get("outputs")
    requested = None
    if outputs is not None:
        if not isinstance(outputs, list) or not all(
            isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
        ):
            raise BadRequest("'outputs' must be a list of objects with a 'name'")
        requested = [o["name"] for o in outputs]
        known = {s.name for s in io.outputs}
        unknown = [n for n in requested if n not in known]
        if unknown:
            raise BadRequest(f"unknown output(s) {unknown}: the model has {sorted(known)}")
    rid = doc.get("id")
    params = doc.get("parameters")
    return Decoded(
        "v2",
        arrays,
        _batch_of(arrays, io),
        request_id=rid if isinstance(rid, str) else None,
        requested_outputs=requested,
        parameters=params if isinstance(params, dict) else {},
    )


def _v2_array(
    tensor: dict[str, Any], spec: TensorSpec, binary: bytes, offset: int
) -> tuple[Array, int]:
    datatype, shape = tensor.get("datatype"), tensor.get("shape")
    want = V2_DATATYPES[spec.dtype]
    if datatype != want:
        raise BadRequest(f"input '{spec.name}': expected datatype {want}, got {datatype!r}")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise BadRequest(f"input '{spec.name}': 'shape' must be a list of non-negative ints")
    count = math.prod(shape)
    np_dtype = np.dtype(NUMPY_DTYPES[spec.dtype])
    params = tensor.get("parameters") or {}
    size = params.get("binary_data_size") if isinstance(params, dict) else None
    if size is not None:
        if not isinstance(size, int) or size < 0 or offset + size > len(binary):
            raise BadRequest(f"input '{spec.name}': binary_data_size {size!r} is out of range")
        if size != count * np_dtype.itemsize:
            raise BadRequest(
                f"input '{spec.name}': binary_data_size {size} does not match shape "
                f"{_shape_txt(shape)} of {want} ({count * np_dtype.itemsize} bytes)"
            )
        # frombuffer keeps a view of the request body: no copy for the big tensors.
        arr = np.frombuffer(binary, dtype=np_dtype.newbyteorder("<"), count=count, offset=offset)
        arr = arr.reshape(shape)
        offset += size
    else:
        if "data" not in tensor:
            raise BadRequest(f"input '{spec.name}': missing 'data' (or binary_data_size)")
        try:
            flat = np.asarray(tensor["data"])
        except (ValueError, TypeError) as exc:
            raise BadRequest(f"input '{spec.name}': malformed 'data' ({exc})") from exc
        flat = _coerce(flat, spec)
        if flat.size != count:
            raise BadRequest(
                f"input '{spec.name}': shape {_shape_txt(shape)} needs {count} values, "
                f"got {flat.size}"
            )
        arr = flat.reshape(shape)
    _check_shape(arr, spec)
    return arr, offset


# --------------------------------------------------------------------------- encoding


def _jsonable(arr: Array) -> Any:
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        # JSON has no NaN/Infinity; TF Serving writes them as bare NaN/Infinity tokens,
        # which Python's json module also reads and writes.
        return arr.astype(np.float64).tolist()
    return arr.tolist()


def encode_response(
    decoded: Decoded, outputs: list[Array], io: ModelIO, model_version: str | None = None
) -> bytes:
    """The answer to one request, in the protocol it was asked in."""
    names = [s.name for s in io.outputs]
    if decoded.protocol == "v1_row":
        if len(outputs) == 1:
            preds: list[Any] = _jsonable(outputs[0])
        else:
            cols = [_jsonable(o) for o in outputs]
            preds = [dict(zip(names, row, strict=True)) for row in zip(*cols, strict=True)]
        body: dict[str, Any] = {"predictions": preds}
    elif decoded.protocol == "v1_columnar":
        if len(outputs) == 1:
            body = {"outputs": _jsonable(outputs[0])}
        else:
            body = {"outputs": {n: _jsonable(o) for n, o in zip(names, outputs, strict=True)}}
    else:
        wanted = decoded.requested_outputs or names
        by_name = dict(zip(names, outputs, strict=True))
        body = {
            "model_name": io.name,
            "model_version": model_version or io.version,
            "outputs": [
                {
                    "name": n,
                    "datatype": V2_DATATYPES[_dtype_name(by_name[n])],
                    "shape": list(by_name[n].shape),
                    "data": _jsonable(by_name[n].reshape(-1)),
                }
                for n in wanted
            ],
        }
        if decoded.request_id is not None:
            body["id"] = decoded.request_id
    return json.dumps(body, separators=(",", ":")).encode()


def _dtype_name(arr: Array) -> str:
    name = "bool" if arr.dtype == np.bool_ else str(arr.dtype)
    if name not in V2_DATATYPES:
        raise ValueError(f"output dtype {arr.dtype} has no v2 datatype")
    return name


def encode_error(message: str) -> bytes:
    return json.dumps({"error": message}, separators=(",", ":")).encode()


def split_outputs(outputs: list[Array], sizes: list[int]) -> list[list[Array]]:
    """Cut batched outputs back into one list per request (views, no copies)."""
    bounds = np.cumsum(sizes)[:-1].tolist()
    per_output = [np.split(o, bounds) for o in outputs]
    return [list(parts) for parts in zip(*per_output, strict=True)]
