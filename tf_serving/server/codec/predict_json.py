"""The REST ``:predict`` body: row (``instances``) and columnar (``inputs``) formats.

Follows ``FillPredictRequestFromJson`` and ``MakeJsonFromTensors``: request shapes are not
checked against the signature (the model's own ops do), and the response takes the
request's format.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from tf_serving.server.codec.b64 import encode_b64, is_b64
from tf_serving.server.codec.json_doc import debug_string, dumps, format_error_of
from tf_serving.server.codec.json_tensor import json_to_array
from tf_serving.server.codec.tensor_spec import TensorSpec
from tf_serving.server.errors import InvalidArgument, ServingError

RequestFormat = Literal["row", "columnar"]


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
    return isinstance(value, dict) and not is_b64(value)


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
    if not isinstance(value, dict) or is_b64(value):
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


def _to_jsonable(array: np.ndarray, name: str) -> Any:
    if array.dtype == object or array.dtype.kind in "SU":
        as_b64 = name.endswith("_bytes")

        def convert(item: Any) -> Any:
            data = item if isinstance(item, bytes) else str(item).encode()
            if as_b64:
                return encode_b64(data)
            return data.decode("utf-8", errors="replace")

        flat = [convert(i) for i in array.reshape(-1)]
        return np.array(flat, dtype=object).reshape(array.shape).tolist() if array.ndim else flat[0]
    array = np.asarray(array)
    return array.item() if array.ndim == 0 else np.ascontiguousarray(array)


def _has_non_finite(outputs: Mapping[str, np.ndarray]) -> bool:
    return any(
        a.dtype.kind == "f" and a.size and not np.isfinite(a).all() for a in outputs.values()
    )


def encode_predict_response(outputs: Mapping[str, np.ndarray], fmt: RequestFormat) -> bytes:
    """Named output arrays -> ``{"predictions": ...}`` (row) or ``{"outputs": ...}``."""
    non_finite = _has_non_finite(outputs)
    names = sorted(outputs)
    if fmt == "columnar":
        if len(names) == 1:
            body: Any = {"outputs": _to_jsonable(outputs[names[0]], names[0])}
        else:
            body = {"outputs": {n: _to_jsonable(outputs[n], n) for n in names}}
        return dumps(body, non_finite)
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
    return dumps({"predictions": rows}, non_finite)
