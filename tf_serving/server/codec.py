"""Pure conversions between TF Serving's JSON / protobuf wire formats and numpy.

No I/O and no server state: REST and gRPC handlers call these, and the unit tests drive
them with tables. Error messages follow TF Serving's ``json_tensor.cc`` wording so clients
that match on them keep working. The ``codec_*`` names are the public surface.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import orjson
from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow.core.framework import types_pb2

from tf_serving.server.errors import InvalidArgument

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

    def is_compatible(self, shape: Sequence[int]) -> bool:
        """Whether a concrete shape fits the declared (partial) shape."""
        if self.shape is None:
            return True
        return len(shape) == len(self.shape) and all(
            want in (-1, got) for want, got in zip(self.shape, shape, strict=True)
        )


def dtype_name(enum_value: int) -> str:
    """``DataType`` enum number -> name, e.g. 1 -> ``DT_FLOAT``."""
    return str(types_pb2.DataType.Name(enum_value))


# ---------------------------------------------------------------------------- JSON parse


def parse_json(body: bytes) -> Any:
    """Parse a request body; NaN/Infinity are accepted as TF Serving's parser does."""
    if not body.strip():
        raise InvalidArgument("JSON Parse error: The document is empty")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    # orjson is strict JSON; the stdlib parser additionally takes NaN / Infinity literals.
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"JSON Parse error: {exc}") from None
    except RecursionError:
        raise InvalidArgument("JSON Parse error: document is nested too deeply") from None


def _debug(value: Any) -> str:
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= 100 else text[:97] + "..."


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "Bool"
    if isinstance(value, int):
        return "Int"
    if isinstance(value, float):
        return "Double"
    if isinstance(value, str):
        return "String"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    return "Null"


def _type_error(value: Any, dtype: str) -> InvalidArgument:
    return InvalidArgument(
        f"JSON Value: {_debug(value)} Type: {_json_type(value)} "
        f"is not of expected type: {dtype.removeprefix('DT_').lower()}"
    )


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "b64" in value


def _decode_b64(value: dict[str, Any]) -> bytes:
    data = value["b64"]
    if not isinstance(data, str):
        raise InvalidArgument(
            f"JSON Value: {_debug(value)} not formatted correctly for base64 data"
        )
    try:
        # TF Serving accepts both the standard and the URL-safe alphabet.
        return base64.b64decode(data.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument(
            f"JSON Value: {_debug(value)} not formatted correctly for base64 data"
        ) from None


def _shape_of(value: Any) -> list[int]:
    shape: list[int] = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _flatten(value: Any, shape: list[int], level: int, out: list[Any]) -> None:
    if level == len(shape):
        if isinstance(value, list):
            raise InvalidArgument(
                f"Expecting tensor size: {math.prod(shape)} but got a deeper list: {_debug(value)}"
            )
        out.append(value)
        return
    if not isinstance(value, list) or len(value) != shape[level]:
        got = len(value) if isinstance(value, list) else "a scalar"
        raise InvalidArgument(
            f"Expecting tensor size: {shape[level]} at level {level} but got: {got} "
            "(nested lists must be rectangular)"
        )
    for item in value:
        _flatten(item, shape, level + 1, out)


def json_to_array(value: Any, spec: TensorSpec) -> np.ndarray:
    """One JSON value (scalar or nested lists) -> ndarray of the signature's dtype."""
    shape = _shape_of(value)
    if len(shape) > MAX_RANK:
        raise InvalidArgument(f"Tensor value is nested {len(shape)} deep; the limit is {MAX_RANK}")
    flat: list[Any] = []
    _flatten(value, shape, 0, flat)
    dtype = spec.dtype
    np_dtype = spec.numpy_dtype
    if dtype == "DT_STRING":
        items = []
        for item in flat:
            if isinstance(item, str):
                items.append(item.encode())
            elif _is_b64(item):
                items.append(_decode_b64(item))
            else:
                raise _type_error(item, dtype)
        array = np.empty(len(items), dtype=object)
        array[:] = items
        return array.reshape(shape)
    if dtype == "DT_BOOL":
        if not all(isinstance(i, bool) for i in flat):
            raise _type_error(next(i for i in flat if not isinstance(i, bool)), dtype)
    elif np.issubdtype(np_dtype, np.floating):
        for item in flat:
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                raise _type_error(item, dtype)
    else:
        for item in flat:
            if isinstance(item, bool) or not isinstance(item, int):
                raise _type_error(item, dtype)
        info = np.iinfo(np_dtype)
        for item in flat:
            if not info.min <= item <= info.max:
                raise InvalidArgument(f"JSON Value: {item} is out of range for type {dtype}")
    return np.asarray(flat, dtype=np_dtype).reshape(shape)


# ---------------------------------------------------------------------- predict request


def signature_name_of(doc: Any) -> str:
    """The request's ``signature_name`` ('' when absent); checks the body is an object."""
    if not isinstance(doc, dict):
        raise InvalidArgument("JSON Parse error: the request body must be a JSON object")
    name = doc.get("signature_name", "")
    if not isinstance(name, str):
        raise InvalidArgument("'signature_name' must be a string")
    return name


def decode_predict_request(
    doc: dict[str, Any], inputs: Mapping[str, TensorSpec]
) -> tuple[dict[str, np.ndarray], RequestFormat]:
    """A parsed ``:predict`` body -> named input arrays and the request's format."""
    has_instances, has_inputs = "instances" in doc, "inputs" in doc
    if has_instances and has_inputs:
        raise InvalidArgument(
            "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist"
        )
    if has_instances:
        return _decode_instances(doc["instances"], inputs), "row"
    if has_inputs:
        return _decode_columnar(doc["inputs"], inputs), "columnar"
    raise InvalidArgument("Missing 'inputs' or 'instances' key")


def _decode_instances(instances: Any, specs: Mapping[str, TensorSpec]) -> dict[str, np.ndarray]:
    if not isinstance(instances, list):
        raise InvalidArgument("Expecting 'instances' to be an list/array")
    if not instances:
        raise InvalidArgument("No values in 'instances' array")
    named = isinstance(instances[0], dict) and not _is_b64(instances[0])
    names = sorted(specs)
    columns: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for index, item in enumerate(instances):
        if named:
            if not isinstance(item, dict) or _is_b64(item):
                raise InvalidArgument(
                    f"Expecting object but got list at item {index} of input list"
                )
            for key in item:
                if key not in specs:
                    raise InvalidArgument(
                        f"Failed to process element: {index} key: {key} of 'instances' list. "
                        f"Error: JSON object: does not have named input: {key}"
                    )
            if set(item) != set(names):
                raise InvalidArgument(
                    f"Failed to process element: {index} of 'instances' list. JSON object: "
                    f"{_debug(item)} keys must be equal to: {','.join(names)}"
                )
            pairs = list(item.items())
        else:
            if isinstance(item, dict) and not _is_b64(item):
                raise InvalidArgument(
                    f"Expecting value/list but got object at item {index} of input list"
                )
            if len(names) != 1:
                raise InvalidArgument(
                    f"Failed to process element: {index} of 'instances' list. The signature "
                    f"has inputs {','.join(names)}: each instance must be a JSON object"
                )
            pairs = [(names[0], item)]
        for key, value in pairs:
            try:
                array = json_to_array(value, specs[key])
            except InvalidArgument as exc:
                where = f"key: {key} " if named else ""
                raise InvalidArgument(
                    f"Failed to process element: {index} {where}of 'instances' list. "
                    f"Error: INVALID_ARGUMENT: {exc.message}"
                ) from None
            column = columns[key]
            if column and column[0].shape != array.shape:
                first, got = column[0], array
                detail = (
                    f"Expecting tensor size: {first.size} but got: {got.size}"
                    if first.size != got.size
                    else f"Expecting shape {list(first.shape)} but got: {list(got.shape)}"
                )
                raise InvalidArgument(
                    f"Failed to process element: {index} {'key: ' + key + ' ' if named else ''}"
                    f"of 'instances' list. Error: INVALID_ARGUMENT: {detail}"
                )
            column.append(array)
    return {name: np.stack(column) for name, column in columns.items()}


def _decode_columnar(value: Any, specs: Mapping[str, TensorSpec]) -> dict[str, np.ndarray]:
    if isinstance(value, dict) and not _is_b64(value):
        for key in value:
            if key not in specs:
                raise InvalidArgument(f"JSON object: does not have named input: {key}")
        missing = sorted(set(specs) - set(value))
        if missing:
            raise InvalidArgument(f"Missing input(s) in 'inputs': {','.join(missing)}")
        return {key: json_to_array(item, specs[key]) for key, item in value.items()}
    if len(specs) != 1:
        raise InvalidArgument(f"'inputs' must be a JSON object with keys {','.join(sorted(specs))}")
    (name,) = specs
    return {name: json_to_array(value, specs[name])}


def check_shapes(arrays: Mapping[str, np.ndarray], specs: Mapping[str, TensorSpec]) -> None:
    """Refuse inputs whose shape cannot fit the signature (a 400, never a runtime crash)."""
    for name, array in arrays.items():
        spec = specs.get(name)
        if spec is None:  # unknown names are reported by the signature call
            continue
        if not spec.is_compatible(array.shape):
            want = "unknown" if spec.shape is None else list(spec.shape)
            raise InvalidArgument(
                f"Input tensor '{name}' has shape {list(array.shape)}, which is not compatible "
                f"with the signature's shape {want} (-1 = any size)"
            )


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
            raise InvalidArgument(
                f"Tensor name: {name} has no shape information (scalar output cannot be "
                "returned in row format; use 'inputs')"
            )
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


def _feature(value: Any, key: str) -> feature_pb2.Feature:
    items = value if isinstance(value, list) else [value]
    feature = feature_pb2.Feature()
    if not items:
        return feature
    if all(isinstance(i, str) or _is_b64(i) for i in items):
        feature.bytes_list.value.extend(
            i.encode() if isinstance(i, str) else _decode_b64(i) for i in items
        )
    elif all(isinstance(i, int) and not isinstance(i, bool) for i in items):
        feature.int64_list.value.extend(items)
    elif all(isinstance(i, int | float) and not isinstance(i, bool) for i in items):
        feature.float_list.value.extend(float(i) for i in items)
    else:
        raise InvalidArgument(
            f"Feature '{key}' has unsupported or mixed value types: {_debug(value)}"
        )
    return feature


def _example(obj: Any, what: str) -> example_pb2.Example:
    if not isinstance(obj, dict):
        raise InvalidArgument(f"Expecting '{what}' to be a JSON object, got {_debug(obj)}")
    example = example_pb2.Example()
    for key, value in obj.items():
        example.features.feature[key].CopyFrom(_feature(value, key))
    return example


def decode_examples(doc: Any) -> list[bytes]:
    """A ``:classify`` / ``:regress`` body -> serialized ``tf.Example`` s (context merged)."""
    examples = doc.get("examples")
    if examples is None:
        raise InvalidArgument("Missing 'examples' key")
    if not isinstance(examples, list) or not examples:
        raise InvalidArgument("Expecting 'examples' to be a non-empty list/array")
    context = _example(doc["context"], "context") if "context" in doc else None
    out = []
    for obj in examples:
        example = _example(obj, "examples")
        if context is not None:
            # ExampleListWithContext semantics: context features join every example.
            for key, feature in context.features.feature.items():
                if key not in example.features.feature:
                    example.features.feature[key].CopyFrom(feature)
        out.append(example.SerializeToString())
    return out


def encode_classification(results: Sequence[Sequence[tuple[str, float]]]) -> bytes:
    """``[[(label, score), ...], ...]`` -> ``{"result": [[["label", score], ...], ...]}``."""
    body = {"result": [[[label, score] for label, score in row] for row in results]}
    non_finite = any(not math.isfinite(s) for row in results for _, s in row)
    return _dumps(body, non_finite)


def encode_regression(values: Sequence[float]) -> bytes:
    """``[v, ...]`` -> ``{"result": [v, ...]}``."""
    return _dumps({"result": list(values)}, any(not math.isfinite(v) for v in values))


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
    return orjson.dumps({"error": message})


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
        raise InvalidArgument("Input is empty")
    if not examples:
        raise InvalidArgument("Input is empty")
    out = []
    for example in examples:
        if context is not None:
            merged = example_pb2.Example()
            merged.CopyFrom(context)
            merged.MergeFrom(example)
            example = merged
        out.append(example.SerializeToString())
    return out
