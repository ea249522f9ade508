"""Pure conversions between TF Serving's JSON / protobuf wire formats and numpy.

No I/O and no server state: REST and gRPC handlers call these, and the unit tests drive
them with tables. This server keeps its own codec rather than the gateway's shared one:
parsing, type rules and error texts port TF Serving's ``util/json_tensor.cc`` (rapidjson's
messages, its pretty-printed echo of the request, ``"results"`` for classify/regress), so
clients that match on TF Serving's exact wording keep working.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import orjson
from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow.core.framework import types_pb2

from tf_serving.server.errors import InvalidArgument, ServingError, Unimplemented

RequestFormat = Literal["row", "columnar"]
MAX_RANK = 64  # TF's own limit is 254; this keeps the recursive walk far from Python's

_NUMPY_BY_DTYPE: dict[str, Any] = {
    "DT_FLOAT": np.float32,
    "DT_DOUBLE": np.float64,
    "DT_HALF": np.float16,
    "DT_INT8": np.int8,
    "DT_INT16": np.int16,
    "DT_INT32": np.int32,
    "DT_INT64": np.int64,
    "DT_UINT8": np.uint8,
    "DT_UINT16": np.uint16,
    "DT_UINT32": np.uint32,
    "DT_UINT64": np.uint64,
    "DT_BOOL": np.bool_,
    "DT_STRING": np.object_,
}


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a signature, as the signature def declares it."""

    key: str
    dtype: str  # TF Serving's enum name, e.g. "DT_FLOAT"
    shape: tuple[int, ...] | None  # -1 for unknown dims; None for unknown rank
    tensor_name: str = ""

    @property
    def numpy_dtype(self) -> Any:
        """The numpy dtype used to carry this tensor."""
        try:
            return _NUMPY_BY_DTYPE[self.dtype]
        except KeyError:
            raise InvalidArgument(f"Unsupported tensor dtype {self.dtype}") from None


def dtype_name(enum_value: int) -> str:
    """``DataType`` enum number -> name, e.g. 1 -> ``DT_FLOAT``."""
    return str(types_pb2.DataType.Name(enum_value))


# ---------------------------------------------------------------------------- JSON parse

_WS = " \t\n\r"  # rapidjson's whitespace
# The stdlib parser's messages -> rapidjson's (GetParseError_En), which TF Serving reports.
_PARSE_MESSAGES = {
    "Expecting value": "Invalid value.",
    "Expecting property name enclosed in double quotes": "Missing a name for object member.",
    "Expecting ':' delimiter": "Missing a colon after a name of object member.",
    "Unterminated string starting at": "Missing a closing quotation mark in string.",
    "Invalid control character at": "Invalid encoding in string.",
    "Invalid \\escape": "Invalid escape character in string.",
    "Invalid \\uXXXX escape": "Incorrect hex digit after \\u escape in string.",
}


def _open_container(text: str, pos: int) -> str:
    """The innermost bracket open at ``pos`` ('[' or '{'; '' at top level)."""
    stack: list[str] = []
    in_string = escaped = False
    for char in text[:pos]:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            stack.append(char)
        elif char in "]}" and stack:
            stack.pop()
    return stack[-1] if stack else ""


def _utf8(text: str) -> bytes:
    """A parsed JSON string back to the bytes the client sent.

    Bytes that were not UTF-8 come back unchanged (surrogateescape), as rapidjson keeps
    them; a lone surrogate escape (``"\\ud800"``), which rapidjson refuses at parse time,
    is kept as its raw code unit (see tests/conformance/README.md).
    """
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _parse_error(text: str, exc: json.JSONDecodeError) -> InvalidArgument:
    message = _PARSE_MESSAGES.get(exc.msg, exc.msg)
    if exc.msg == "Expecting ',' delimiter":
        message = (
            "Missing a comma or ']' after an array element."
            if _open_container(text, exc.pos) == "["
            else "Missing a comma or '}' after an object member."
        )
    offset = len(_utf8(text[: exc.pos]))
    return InvalidArgument(f"JSON Parse error: {message} at offset: {offset}")


def parse_json(body: bytes) -> dict[str, Any]:
    """Parse a request body as TF Serving's rapidjson settings do.

    NaN / Infinity literals are accepted and anything after the first complete value is
    ignored (``kParseNanAndInfFlag | kParseStopWhenDoneFlag``); errors carry rapidjson's
    message and byte offset. The top level must be an object (``Is not object``).
    """
    if not body:
        raise InvalidArgument("JSON Parse error: The document is empty")
    doc: Any
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        # orjson is strict JSON; the stdlib parser takes NaN / Infinity, stops after the
        # first value (raw_decode) and, with surrogateescape, bytes that are not UTF-8.
        text = body.decode("utf-8", "surrogateescape")
        start = len(text) - len(text.lstrip(_WS))
        if start == len(text):
            raise InvalidArgument(
                f"JSON Parse error: The document is empty. at offset: {len(body)}"
            ) from None
        try:
            doc, _ = json.JSONDecoder().raw_decode(text, start)
        except json.JSONDecodeError as exc:
            raise _parse_error(text, exc) from None
        except RecursionError:
            raise InvalidArgument("JSON Parse error: document is nested too deeply") from None
    if not isinstance(doc, dict):
        raise format_error_of(doc, "Is not object")
    return doc


# ------------------------------------------------------------ rapidjson debug rendering

_DEBUG_LIMIT = 256  # TF Serving's kMaxJsonDebugStringBytes
_INDENT = "    "


class _Full(Exception):
    """The debug writer reached its byte limit."""


class _DebugWriter:
    """rapidjson's ``PrettyWriter`` (4-space indent, single-line arrays) behind TF Serving's
    ``JsonWriterWithLimit``: every event is refused once 256 bytes are written."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.levels: list[list[int]] = []  # [in_array, value_count] per open container

    def _put(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(_utf8(text))

    def _event(self) -> None:
        if self.size >= _DEBUG_LIMIT:
            raise _Full

    def _prefix(self) -> None:
        if not self.levels:
            return
        level = self.levels[-1]
        in_array, count = level
        if in_array:
            if count:
                self._put(", ")
        else:
            if count:
                self._put(",\n" if count % 2 == 0 else ": ")
            else:
                self._put("\n")
            if count % 2 == 0:
                self._put(_INDENT * len(self.levels))
        level[1] += 1

    def value(self, value: Any) -> None:
        self._event()
        self._prefix()
        if isinstance(value, dict):
            self._put("{")
            self.levels.append([0, 0])
            for key, item in value.items():
                self._event()
                self._prefix()
                self._put(_json_scalar(str(key)))
                self.value(item)
            self._event()
            if self.levels.pop()[1]:
                self._put("\n" + _INDENT * len(self.levels))
            self._put("}")
        elif isinstance(value, list):
            self._put("[")
            self.levels.append([1, 0])
            for item in value:
                self.value(item)
            self._event()
            self.levels.pop()
            self._put("]")
        else:
            self._put(_json_scalar(value))


def _json_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value).replace("e+", "e")
    return str(value)


def debug_string(value: Any) -> str:
    """A JSON value as TF Serving's ``JsonValueToDebugString`` prints it in error texts."""
    writer = _DebugWriter()
    with contextlib.suppress(_Full):
        writer.value(value)
    return "".join(writer.parts)


def json_type(value: Any) -> str:
    """rapidjson's name of a JSON value's type (``JsonTypeString``)."""
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def format_error_of(value: Any, message: str) -> InvalidArgument:
    """TF Serving's ``FormatError``: ``JSON Value: <value> <message>``."""
    return InvalidArgument(f"JSON Value: {debug_string(value)} {message}")


def _dtype_string(dtype: str) -> str:
    """TF's ``DataTypeString``: ``DT_FLOAT`` -> ``float``."""
    return dtype.removeprefix("DT_").lower()


def _type_error(value: Any, dtype: str) -> InvalidArgument:
    return InvalidArgument(
        f"JSON Value: {debug_string(value)} Type: {json_type(value)} "
        f"is not of expected type: {_dtype_string(dtype)}"
    )


def _is_b64(value: Any) -> bool:
    """TF Serving's ``IsValBase64Object``: exactly one key, ``b64``, holding a string."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


_B64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=")


def _decode_b64(value: Any) -> bytes:
    if not _is_b64(value):
        raise InvalidArgument(
            f"JSON Value: {debug_string(value)} not formatted correctly for base64 data"
        )
    data = _utf8(value["b64"])
    # absl::Base64Unescape takes the standard and the web-safe alphabet, padded or not.
    if not set(data) <= _B64_ALPHABET:
        raise InvalidArgument("Unable to base64 decode")
    data = data.rstrip(b"=").replace(b"-", b"+").replace(b"_", b"/")
    try:
        return base64.b64decode(data + b"=" * (-len(data) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument("Unable to base64 decode") from None


def _dense_shape(value: Any) -> list[int]:
    """``GetDenseTensorShape``: the shape read along the first element of each level."""
    shape: list[int] = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


_INT32 = (-(2**31), 2**31)
# rapidjson's IsInt / IsInt64 / IsUint / IsUint64 per dtype (half-open ranges).
_INT_RANGES: dict[str, tuple[int, int]] = {
    "DT_INT32": _INT32,
    "DT_INT16": _INT32,
    "DT_INT8": _INT32,
    "DT_UINT8": _INT32,
    "DT_INT64": (-(2**63), 2**63),
    "DT_UINT32": (0, 2**32),
    "DT_UINT64": (0, 2**64),
}
_NARROW_INTS = ("DT_INT16", "DT_INT8", "DT_UINT8")


def _check_scalar(value: Any, dtype: str) -> Any:
    """``AddValueToTensor``: a JSON scalar -> the Python value stored for ``dtype``."""
    if dtype in ("DT_FLOAT", "DT_DOUBLE"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _type_error(value, dtype)
        return float(value)
    if dtype in _INT_RANGES:
        low, high = _INT_RANGES[dtype]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value < high:
            raise _type_error(value, dtype)
        return value
    if dtype == "DT_BOOL":
        if not isinstance(value, bool):
            raise _type_error(value, dtype)
        return value
    if dtype == "DT_STRING":
        if not isinstance(value, str):
            raise _type_error(value, dtype)
        return _utf8(value)
    raise Unimplemented(
        f"Conversion of JSON Value: {debug_string(value)} to type: {_dtype_string(dtype)}"
    )


def _fill(value: Any, level: int, shape: list[int], dtype: str, out: list[Any]) -> None:
    """``FillTensorProto``: walk the nested lists, checking them against ``shape``."""
    rank = len(shape)
    if not isinstance(value, list):
        if level != rank:
            raise InvalidArgument(
                f"JSON Value: {debug_string(value)} found at incorrect level: {level + 1} "
                f"in the JSON DOM. Expected at level: {rank}"
            )
        if isinstance(value, dict):
            if dtype != "DT_STRING":
                raise _type_error(value, dtype)
            out.append(_decode_b64(value))
        else:
            out.append(_check_scalar(value, dtype))
        return
    if level >= rank:
        raise InvalidArgument(f"Encountered list at unexpected level: {level} expected < {rank}")
    if len(value) != shape[level]:
        raise InvalidArgument(
            f"Encountered list at unexpected size: {len(value)} at level: {level} "
            f"expected size: {shape[level]}"
        )
    for item in value:
        _fill(item, level + 1, shape, dtype, out)


def json_to_array(value: Any, spec: TensorSpec) -> np.ndarray:
    """One JSON value (scalar or nested lists) -> ndarray of the signature's dtype.

    The shape comes from the value itself: TF Serving does not check it against the
    signature (the model's own ops do). The walk, the type rules and the error texts
    follow ``json_tensor.cc``.
    """
    shape = _dense_shape(value)
    if len(shape) > MAX_RANK:
        raise InvalidArgument(f"Tensor value is nested {len(shape)} deep; the limit is {MAX_RANK}")
    flat: list[Any] = []
    _fill(value, 0, shape, spec.dtype, flat)
    if spec.dtype == "DT_STRING":
        array = np.empty(len(flat), dtype=object)
        array[:] = flat
        return array.reshape(shape)
    if spec.dtype in _NARROW_INTS:
        # They travel as int32 (int_val); the tensor keeps the low bits, as a C cast does.
        return np.asarray(flat, dtype=np.int64).astype(spec.numpy_dtype).reshape(shape)
    return np.asarray(flat, dtype=spec.numpy_dtype).reshape(shape)


# ---------------------------------------------------------------------- predict request


def signature_name_of(doc: dict[str, Any]) -> str:
    """The request's ``signature_name`` ('' when absent), as ``FillSignature`` reads it."""
    name = doc.get("signature_name", "")
    if not isinstance(name, str):
        raise format_error_of(
            doc, "not formatted correctly. 'signature_name' key must be a string value."
        )
    return name


def decode_predict_request(
    doc: dict[str, Any], inputs: Mapping[str, TensorSpec], signature_name: str = ""
) -> tuple[dict[str, np.ndarray], RequestFormat]:
    """A parsed ``:predict`` body -> named input arrays and the request's format.

    Follows ``FillPredictRequestFromJson``: shapes are not checked against the signature,
    and columnar keys that the signature does not name are ignored.
    """
    if not inputs:
        raise InvalidArgument(
            f"Failed to get input map for signature: {signature_name or 'DEFAULT'}"
        )
    has_instances, has_inputs = "instances" in doc, "inputs" in doc
    if has_instances and has_inputs:
        raise format_error_of(
            doc,
            "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist ",
        )
    if has_instances:
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise format_error_of(doc, "Expecting 'instances' to be an list/array")
        if not instances:
            raise format_error_of(doc, "No values in 'instances' array")
        return _decode_instances(instances, inputs), "row"
    if has_inputs:
        return _decode_columnar(doc["inputs"], inputs), "columnar"
    raise InvalidArgument("Missing 'inputs' or 'instances' key")


def _shape_string(shape: Sequence[int]) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def _status_text(exc: ServingError) -> str:
    """``Status::ToString()``, e.g. ``INVALID_ARGUMENT: message``."""
    return f"{exc.code_name}: {exc.message}"


def _is_object(value: Any) -> bool:
    return isinstance(value, dict) and not _is_b64(value)


def _decode_instances(
    instances: list[Any], specs: Mapping[str, TensorSpec]
) -> dict[str, np.ndarray]:
    """``FillTensorMapFromInstancesList``."""
    if not isinstance(instances[0], dict) and len(specs) > 1:
        raise InvalidArgument(
            "instances is a plain list, but expecting list of objects as multiple input "
            "tensors required as per tensorinfo_map"
        )
    named = _is_object(instances[0])
    names = sorted(specs)
    columns: dict[str, list[np.ndarray]] = {}

    def add(value: Any, name: str) -> None:  # AddInstanceItem
        if name not in specs:
            raise InvalidArgument(f"JSON object: does not have named input: {name}")
        array = json_to_array(value, specs[name])
        column = columns.setdefault(name, [])
        if column and column[0].size != array.size:
            raise InvalidArgument(f"Expecting tensor size: {column[0].size} but got: {array.size}")
        if column and column[0].shape != array.shape:
            raise InvalidArgument(
                f"Expecting shape {_shape_string(column[0].shape)} but got: "
                f"{_shape_string(array.shape)}"
            )
        column.append(array)

    for index, item in enumerate(instances):
        if named:
            if not _is_object(item):
                raise InvalidArgument(
                    f"Expecting object but got list at item {index} of input list"
                )
            for key, value in item.items():
                try:
                    add(value, key)
                except ServingError as exc:
                    raise InvalidArgument(
                        f"Failed to process element: {index} key: {key} of 'instances' list. "
                        f"Error: {_status_text(exc)}"
                    ) from None
            if set(item) != set(names):
                raise InvalidArgument(
                    f"Failed to process element: {index} of 'instances' list. JSON object: "
                    f"{debug_string(item)} keys must be equal to: {','.join(names)}"
                )
        else:
            if _is_object(item):
                raise InvalidArgument(
                    f"Expecting value/list but got object at item {index} of input list"
                )
            try:
                add(item, names[0])
            except ServingError as exc:
                raise InvalidArgument(
                    f"Failed to process element: {index} of 'instances' list. "
                    f"Error: {_status_text(exc)}"
                ) from None
    return {name: np.stack(column) for name, column in columns.items()}


def _decode_columnar(value: Any, specs: Mapping[str, TensorSpec]) -> dict[str, np.ndarray]:
    """``FillTensorMapFromInputsMap``."""
    if not isinstance(value, dict) or _is_b64(value):
        if len(specs) > 1:
            raise InvalidArgument(
                "inputs is a plain value/list, but expecting an object as multiple input "
                "tensors required as per tensorinfo_map"
            )
        (name,) = specs
        return {name: json_to_array(value, specs[name])}
    arrays = {}
    for name in sorted(specs):
        if name not in value:
            raise InvalidArgument(f"Missing named input: {name} in 'inputs' object.")
        arrays[name] = json_to_array(value[name], specs[name])
    return arrays


# --------------------------------------------------------------------- predict response


def _to_jsonable(array: np.ndarray, name: str) -> Any:
    if array.dtype == object or array.dtype.kind in "SU":
        as_b64 = name.endswith("_bytes")

        def convert(item: Any) -> Any:
            data = item if isinstance(item, bytes) else str(item).encode()
            if as_b64:
                return {"b64": base64.b64encode(data).decode()}
            return data.decode("utf-8", errors="replace")

        flat = [convert(i) for i in array.reshape(-1)]
        return np.array(flat, dtype=object).reshape(array.shape).tolist() if array.ndim else flat[0]
    array = np.asarray(array)
    return array.item() if array.ndim == 0 else np.ascontiguousarray(array)


def _has_non_finite(outputs: Mapping[str, np.ndarray]) -> bool:
    return any(
        a.dtype.kind == "f" and a.size and not np.isfinite(a).all() for a in outputs.values()
    )


def _dumps(payload: Any, non_finite: bool) -> bytes:
    if not non_finite:
        return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)

    # orjson writes NaN as null; TF Serving writes NaN / Infinity, so use the stdlib here.
    def default(obj: Any) -> Any:
        if isinstance(obj, np.ndarray | np.generic):
            return obj.tolist()
        raise TypeError(type(obj))

    return json.dumps(payload, default=default, separators=(",", ":")).encode()


def encode_predict_response(outputs: Mapping[str, np.ndarray], fmt: RequestFormat) -> bytes:
    """Named output arrays -> ``{"predictions": ...}`` (row) or ``{"outputs": ...}``."""
    non_finite = _has_non_finite(outputs)
    names = sorted(outputs)
    if fmt == "columnar":
        if len(names) == 1:
            body: Any = {"outputs": _to_jsonable(outputs[names[0]], names[0])}
        else:
            body = {"outputs": {n: _to_jsonable(outputs[n], n) for n in names}}
        return _dumps(body, non_finite)
    batch = None
    for name in names:
        array = outputs[name]
        if array.ndim == 0:
            raise InvalidArgument(f"Tensor name: {name} has no shape information ")
        if batch is None:
            batch = array.shape[0]
        elif array.shape[0] != batch:
            raise InvalidArgument(
                f"Tensor name: {name} has inconsistent batch size: {array.shape[0]} "
                f"expecting: {batch}"
            )
    columns = {n: _to_jsonable(outputs[n], n) for n in names}
    if len(names) == 1:
        rows: list[Any] = list(columns[names[0]])
    else:
        rows = [{n: columns[n][i] for n in names} for i in range(batch or 0)]
    return _dumps({"predictions": rows}, non_finite)


# ------------------------------------------------------------------- classify / regress


_FEATURE_KIND_NAMES = {"bytes_list": "bytes", "float_list": "float", "int64_list": "int64"}


def _add_to_feature(value: Any, name: str, feature: feature_pb2.Feature) -> None:
    """``AddValueToFeature``: one JSON value joins the feature's list (one kind per list)."""
    if value is None or isinstance(value, list) or (isinstance(value, dict) and not _is_b64(value)):
        raise InvalidArgument(
            f"Feature: {name} has element with unexpected JSON type: {json_type(value)}"
        )
    if isinstance(value, bool) or (isinstance(value, int) and not isinstance(value, float)):
        kind = "int64_list"
    elif isinstance(value, float):
        kind = "float_list"
    else:
        kind = "bytes_list"
    current = feature.WhichOneof("kind")
    if current not in (None, kind):
        raise InvalidArgument(
            f"Unexpected element type in feature: {name} expecting type: "
            f"{_FEATURE_KIND_NAMES[current]}"
        )
    if kind == "int64_list":
        number = int(value)
        if number >= 2**63:
            raise InvalidArgument(
                f"Feature: {name} has uint64_t element. Only int64_t is supported."
            )
        if number < -(2**63):  # rapidjson reads it as a double
            feature.float_list.value.append(float(number))
            return
        feature.int64_list.value.append(number)
    elif kind == "float_list":
        feature.float_list.value.append(value)
    elif isinstance(value, str):
        feature.bytes_list.value.append(_utf8(value))
    else:
        feature.bytes_list.value.append(_decode_b64(value))


def _example(obj: Any) -> example_pb2.Example:
    """``MakeExampleFromJsonObject``."""
    if not isinstance(obj, dict):
        raise InvalidArgument(f"Example must be JSON object but got JSON {json_type(obj)}")
    example = example_pb2.Example()
    for name, content in obj.items():
        feature = feature_pb2.Feature()
        for value in content if isinstance(content, list) else [content]:
            _add_to_feature(value, name, feature)
        example.features.feature[name].CopyFrom(feature)
    return example


def decode_examples(doc: dict[str, Any]) -> list[bytes]:
    """A ``:classify`` / ``:regress`` body -> serialized ``tf.Example`` s (context merged).

    Follows ``FillClassifyRegressRequestFromJson``, including its wording "When method is
    classify" for a missing key, which TF Serving uses for ``:regress`` too.
    """
    context = _example(doc["context"]) if "context" in doc else None
    if "examples" not in doc:
        raise format_error_of(
            doc, "When method is classify, key 'examples' is expected and was not found"
        )
    examples = doc["examples"]
    if not isinstance(examples, list):
        raise format_error_of(doc, "Expecting 'examples' value to be an list/array")
    if not examples:
        raise format_error_of(doc, "'examples' value is an empty array")
    prefix = context.SerializeToString() if context is not None else b""
    # ExampleListWithContext: TF Serving feeds context bytes + example bytes, which parse
    # as one Example whose own features win on a shared name.
    return [prefix + _example(obj).SerializeToString() for obj in examples]


def encode_classification(results: Sequence[Sequence[tuple[str, float]]]) -> bytes:
    """``[[(label, score), ...], ...]`` -> ``{"results": [[["label", score], ...], ...]}``.

    The key is ``results`` as ``MakeJsonFromClassificationResult`` writes it (the REST
    guide's "result" is wrong).
    """
    if not results:
        raise InvalidArgument("Cannot convert empty ClassificationResults to JSON")
    body = {"results": [[[label, score] for label, score in row] for row in results]}
    non_finite = any(not math.isfinite(s) for row in results for _, s in row)
    return _dumps(body, non_finite)


def encode_regression(values: Sequence[float]) -> bytes:
    """``[v, ...]`` -> ``{"results": [v, ...]}`` (``MakeJsonFromRegressionResult``)."""
    if not values:
        raise InvalidArgument("Cannot convert empty RegressionResults to JSON")
    return _dumps({"results": list(values)}, any(not math.isfinite(v) for v in values))


# --------------------------------------------------------------------------- TensorProto


def tensor_proto_to_array(proto: Any) -> np.ndarray:
    """``TensorProto`` -> ndarray (strings become an object array of bytes)."""
    import tensorflow as tf

    try:
        return np.asarray(tf.make_ndarray(proto))
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"Invalid TensorProto: {exc}") from None


def array_to_tensor_proto(array: np.ndarray) -> Any:
    """ndarray -> ``TensorProto``."""
    import tensorflow as tf

    return tf.make_tensor_proto(array)


def format_error(message: str) -> bytes:
    """TF Serving's REST error body."""
    try:
        return orjson.dumps({"error": message})
    except TypeError:  # a lone surrogate echoed from the request: escape it instead
        return json.dumps({"error": message}).encode()


def input_proto_to_examples(proto: Any) -> list[bytes]:
    """A ``tensorflow.serving.Input`` (example list, optionally with context) -> bytes."""
    kind = proto.WhichOneof("kind")
    if kind == "example_list":
        examples = list(proto.example_list.examples)
        context = None
    elif kind == "example_list_with_context":
        examples = list(proto.example_list_with_context.examples)
        context = proto.example_list_with_context.context
    else:
        raise InvalidArgument("Input is empty.")
    if not examples:
        raise InvalidArgument("Input is empty.")
    prefix = context.SerializeToString() if context is not None else b""
    return [prefix + example.SerializeToString() for example in examples]
